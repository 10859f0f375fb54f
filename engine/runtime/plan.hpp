// The plan: a checked GraphSpec resolved to indices, with its prompts compiled once.
// Built when the engine starts; read-only afterwards (shared by every job and thread).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "moa/graph_spec.hpp"
#include "runtime/prompt.hpp"

namespace moa {

struct PlanNode {
    std::string id;
    int layer = 0;
    const AgentSpec* agent = nullptr;
    const BackendSpec* backend = nullptr;
    int replica = 0;
    std::vector<int> inputs;
    std::vector<int> consumers;
    FanIn fan_in;
    int gate = -1;  // route index, or -1
    int consumers_plus = 0;  // extra consumers (outputs, routes) that keep it wanted
    // Calls on the longest chain from this node to the end of the graph, itself
    // included (what must still run one after another once it fires).
    uint32_t height = 1;
    ResultKind result = ResultKind::Reply;
    const VerdictSpec* verdict = nullptr;  // a judge's panel node
    NodePrompt prompt;
};

struct PlanRoute {
    int on = -1;  // node index, or -1 for the query
    struct Arm {
        std::vector<std::string> patterns;  // lower case
        std::vector<int> nodes;             // nodes of the target layer(s)
    };
    std::vector<Arm> arms;
    int otherwise = -1;
    std::vector<int> gated;
};

struct Plan {
    std::vector<PlanNode> nodes;  // dependency order
    std::vector<PlanRoute> routes;
    std::vector<std::pair<std::string, int>> outputs;
    std::vector<std::string> layers;
    int streamed = -1;  // node whose answer streams in run_one
};

// `g` must outlive the plan: nodes point at its agents and backends.
Plan make_plan(const GraphSpec& g);

// Jobs in flight when EngineOptions::max_jobs is 0: enough to keep every backend's
// max_concurrent slots busy (no more than the --concurrency cap can use), from the
// graph's shape; at least kDefaultJobsInFlight, at most kMaxDerivedJobs.
constexpr int kDefaultJobsInFlight = 256;
constexpr int kMaxDerivedJobs = 20'000;  // bounds memory when a limit is huge
int jobs_to_fill(const Plan& plan, int max_calls);

}  // namespace moa
