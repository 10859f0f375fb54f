// What the engine's parts share: the graph and its plan, the reactor, the scheduler,
// the transports and the cache, and the job bookkeeping (live jobs, run totals).
// The flow graph (flow.cpp) and the public Engine (engine.cpp) both work through it.
//
// Threads and lifetimes: EngineCore owns the reactor thread (`reactor`) and the cache
// thread (`cache`); each object joins its thread in its destructor. The order in which
// they stop, relative to the flow graph's TBB arena, is written once, as code, in
// Engine::Impl::shutdown (engine.cpp); member order here carries no safety.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/backend.hpp"
#include "cache/cache.hpp"
#include "moa/engine.hpp"
#include "runtime/budget.hpp"
#include "runtime/call.hpp"
#include "runtime/cost_book.hpp"
#include "runtime/job.hpp"
#include "runtime/plan.hpp"
#include "runtime/reactor.hpp"
#include "runtime/scheduler.hpp"
#include "runtime/stats.hpp"

namespace moa {

struct EngineCore {
    EngineCore(const GraphSpec& g, const EngineOptions& o);
    GraphSpec graph;
    EngineOptions options;
    Plan plan;  // points into `graph`
    CostBook costs{graph, plan};  // after plan
    Budget budget{options.budget, costs};
    std::unique_ptr<BackendSet> backends;  // every backend of the graph, and their transport
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
