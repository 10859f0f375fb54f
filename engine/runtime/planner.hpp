// Inside the planner (moa/plan.hpp): one job drawn at random the way the engine would
// run it, and a batch of drawn jobs list-scheduled under the concurrency limits.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/backend.hpp"
#include "moa/plan.hpp"
#include "runtime/plan.hpp"

namespace moa {

// splitmix64: the planner's seeded source of draws.
struct PlanRng {
    uint64_t state;
    uint64_t next();
    double unit();  // [0, 1)
};

// One call of one node in one drawn job.
struct CallDraw {
    bool failed = false;       // the call failed for good, or its input did (fan-in all)
    bool latency_known = true;
    bool out_known = true;
    double service_ms = 0;     // first attempt's start to the answer (retries included)
    double tokens_in = 0, tokens_out = 0;
    uint32_t est_tokens = 0;   // what the tokens-per-minute bucket charges (as flow.cpp)
    std::string text;          // the answer (or a stand-in of its length)
};

class JobDrawer {
public:
    JobDrawer(const GraphSpec& graph, const Plan& plan, const PlanOptions& options)
        : graph_(graph), plan_(plan), options_(options) {}
    // Every node of one job on `query`, in dependency order.
    std::vector<CallDraw> draw(std::string_view query, PlanRng& rng) const;

private:
    void call(size_t i, const std::vector<std::string_view>& responses, std::string_view query, PlanRng& rng,
              CallDraw& d) const;
    bool modelled_call(const CallModel& model, const AgentSpec& a, const BackendSpec& b, size_t i,
                       const std::vector<Message>& msgs, size_t choices, PlanRng& rng, CallDraw& d) const;
    const GraphSpec& graph_;
    const Plan& plan_;
    const PlanOptions& options_;
};

// The critical path of one drawn job, as the engine measures it: the longest chain of
// call service times (nullopt when a latency on it is unknown).
std::optional<double> critical_path(const Plan& plan, const std::vector<CallDraw>& job);

// The wall time of running `jobs` (input order) under the engine's limits: `max_jobs`
// jobs in flight (the next starts when one finishes), each backend's max_concurrent and
// rate limits, the global `max_calls`; queued calls start earlier jobs first. nullopt
// when a latency is unknown.
std::optional<double> batch_wall_ms(const Plan& plan, const std::vector<std::vector<CallDraw>>& jobs, int max_jobs,
                                    int max_calls);

// The sum of a figure over the nodes, unknown if any node's is.
template <typename T>
std::optional<T> sum_known(const std::vector<NodePlan>& nodes, std::optional<T> NodePlan::*field) {
    T s = 0;
    for (const auto& n : nodes) {
        if (!(n.*field)) return std::nullopt;
        s += *(n.*field);
    }
    return s;
}

// Fills the plan's cost figures (plan_cost.cpp), after the tokens.
void price_plan(const GraphSpec& g, const Plan& plan, GraphPlan& out);

}  // namespace moa
