// Engine internals shared by engine.cpp (jobs, batches, results) and flow.cpp (the
// TBB flow graph; the only file that includes flow_graph.h).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "cache/cache.hpp"
#include "runtime/call.hpp"
#include "moa/engine.hpp"
#include "runtime/prompt.hpp"
#include "backends/http_transport.hpp"
#include "runtime/reactor.hpp"
#include "runtime/scheduler.hpp"
#include "runtime/stats.hpp"

namespace moa {

// The GraphSpec resolved to indices, with compiled prompts.
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
    ResultKind result = ResultKind::Reply;
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

struct NodeState {
    // collector side
    int arrived = 0, ok = 0, failed = 0;
    bool fired = false;
    bool deadline_armed = false, deadline_passed = false;
    int route_open = -1;
    int want = 0;
    CallPtr call;
    TimePoint fired_at{};
    // result
    bool resolved = false;
    CallStatus status = CallStatus::Ok;
    std::string text;
    std::string error_kind;
    int attempts = 0;
    std::string agent;  // the agent that answered (the fallback, if it took over)
    std::string fallback_from;
    std::string reply, picked;  // result = pick: the model's reply and the input it named
    uint32_t tokens_in = 0, tokens_out = 0;
    TimePoint start{}, end{};
};

struct JobState {
    uint64_t seq = 0;
    std::string id;
    std::string query;
    std::string input_error;  // malformed input line: every node fails with this
    TimePoint started;
    std::mutex mu;
    std::vector<NodeState> nodes;
    std::atomic<int> remaining{0};
    ChunkFn on_chunk;
    std::function<void(JobResult&&)> finished;
};
using JobPtr = std::shared_ptr<JobState>;

struct EngineCore;
struct Token;
struct Fire;

class FlowGraph {
public:
    FlowGraph(EngineCore& core, int threads);  // threads = 0: all cores
    ~FlowGraph();
    void start_job(const JobPtr& job);  // any thread
    void wait_idle();

private:
    struct Nodes;
    void build();
    bool collect(int node, const Token& t, Fire& f);
    void release_inputs(JobState& job, const PlanNode& pn);
    std::string first_failure(const JobState& job, const PlanNode& pn) const;
    void arm_deadline(const JobPtr& job, int node, int64_t ms);
    void route(int r, const Token& t);
    void pick(JobState& job, int node, const std::vector<int>& shown, Reply& r);
    template <typename Gateway>
    void call(int node, const Fire& f, Gateway& gw);

    EngineCore& core_;
    std::unique_ptr<Nodes> nodes_;
};

struct EngineCore {
    EngineCore(const GraphSpec& g, const EngineOptions& o);
    ~EngineCore();  // stop_threads()
    // Teardown order: the reactor thread first (it calls into http and the scheduler),
    // then the I/O threads (they post replies to the reactor and run curl callbacks
    // that touch the transfers); only then may anything they use be freed.
    void stop_threads();
    GraphSpec graph;
    EngineOptions options;
    Plan plan;
    std::unique_ptr<HttpTransport> http;  // its I/O threads are joined by stop_threads()
    Reactor reactor;
    std::unique_ptr<Scheduler> scheduler;
    std::unique_ptr<ResponseCache> cache;  // null when off
    void submit(const CallPtr& c, const std::string& node);
    std::function<void(const NodeEvent&)> on_event;

    std::atomic<size_t> jobs_started{0}, jobs_done{0};
    // Engine::cancel(): new calls are cancelled at submit; live jobs' calls at once.
    std::atomic<bool> cancelled{false};
    std::mutex live_mu;
    std::map<JobState*, std::weak_ptr<JobState>> live;  // jobs started, not finished
    void cancel_all();
    std::mutex stats_mu;
    std::vector<LatencyHistogram> layer_latency;  // per layer
    RunStats totals;

    JobPtr make_job(uint64_t seq, std::string id, std::string query);
    // Records node i's result; finishes the job when it was the last node.
    void resolve(const JobPtr& job, int i, Reply&& r, const Call* call);
    JobResult result_of(JobState& job);
    NodeEvent event_of(const JobState& job, int i) const;
};

}  // namespace moa
