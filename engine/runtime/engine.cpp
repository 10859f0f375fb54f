// The public Engine: its threads and the one order they stop in, run_one, and the
// batch driver that reads input lazily, bounds jobs in flight and hands results out
// in input order.
#include <oneapi/tbb/global_control.h>

#include <algorithm>
#include <cassert>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <optional>
#include <thread>

#include "backends/backend.hpp"
#include "runtime/engine_core.hpp"
#include "runtime/flow_graph.hpp"
#include "runtime/run_stats.hpp"
#include "moa/ascii.hpp"

namespace moa {

const char* to_string(CallStatus s) {
    switch (s) {
        case CallStatus::Ok: return "ok";
        case CallStatus::Error: return "error";
        case CallStatus::Skipped: return "skipped";
        case CallStatus::Cancelled: return "cancelled";
    }
    return "?";
}

std::string missing_api_keys(const GraphSpec& g) {
    std::string msg;
    for (const auto& b : g.backends) {
        if (!provider_of(b.kind).remote || b.api_key_env.empty()) continue;
        const char* v = std::getenv(b.api_key_env.c_str());
        if (!v || !*v) {
            msg += (msg.empty() ? "" : "\n") + std::string("backend '") + b.name +
                   "' needs its API key in the environment variable " + b.api_key_env + " (api_key_env), which is not set";
            continue;
        }
        // A CR or LF would end the header early and inject another one; a key never
        // holds control characters (a trailing newline is usually a copy-paste slip).
        std::string_view key(v);
        if (std::any_of(key.begin(), key.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
            msg += (msg.empty() ? "" : "\n") + std::string("backend '") + b.name + "': the API key in " + b.api_key_env +
                   " contains a control character (a trailing newline or carriage return?); remove it";
    }
    return msg;
}

std::string api_key_value(const BackendSpec& b) {
    if (!provider_of(b.kind).remote || b.api_key_env.empty()) return "";
    const char* v = std::getenv(b.api_key_env.c_str());
    // Spaces only (a copy-paste slip); missing_api_keys, checked first, refuses control characters.
    return std::string(ascii::trim(v ? v : "", " "));
}

const std::string& JobResult::output() const {
    static const std::string empty;
    return outputs.empty() ? empty : outputs.front().second;
}

// ---- Engine ---------------------------------------------------------------------
//
// The threads of an engine, who owns each:
//  - TBB workers run the flow graph's call nodes (render prompts and hand calls on;
//    they never block). The FlowGraph owns the task_arena they run in. A node's
//    fan-in rule runs where its inputs resolve (FlowGraph::deliver).
//  - The reactor thread (EngineCore::reactor) runs the scheduler, its timers and the
//    transports' I/O, and completes calls.
//  - The cache thread (EngineCore::cache, when the cache is on) looks answers up and
//    writes them; it completes cache hits, and backend answers once committed.
//  - The caller's thread runs run_one / run_batch and waits there for its jobs.
//  (The CLI adds its signal watcher, cli::Interrupts, which only calls cancel() and is
//  destroyed before the engine.)
// A completion travels reactor -> cache -> flow graph: the call's done() resolves the
// node and releases the flow graph's wait. The graph is idle once the last done()
// released it, but the thread that ran it is still returning through the gateway,
// the scheduler's queues or the cache's after-commit loop. Hence shutdown() below.
struct Engine::Impl {
    Impl(GraphSpec g, EngineOptions o)
        : control(tbb::global_control::max_allowed_parallelism,
                  static_cast<size_t>(std::max<int>(o.threads, static_cast<int>(std::thread::hardware_concurrency())) + 1)),
          core(g, o) {
        try {
            bool http = core.backends && core.backends->io_threads() > 0;
            flow = std::make_unique<FlowGraph>(core, o.threads > 0 ? o.threads : default_threads(http));
        } catch (...) {
            shutdown();
            throw;
        }
    }
    ~Impl() { shutdown(); }

    // The one teardown order. Idempotent.
    void shutdown() {
        // 1. No job is in flight, and none can start: run_one and run_batch return only
        //    when their jobs have finished (run_batch also when its source or sink
        //    throws), and no caller may use the engine while it is being destroyed.
        assert(core.jobs_started.load() == core.jobs_done.load());
        // 2. Every call completed: each done() ran and released its wait on the graph.
        if (flow) flow->wait_idle();
        // 3. Join the reactor thread. Its pending posts and timers (e.g. the timers of
        //    calls cancelled when no longer needed) are dropped, never run: from here on
        //    nothing calls the scheduler, the transports or the cache from there.
        core.reactor.stop();
        //    Then the HTTP transport's I/O threads: they post replies to the reactor and
        //    run curl callbacks that touch the transfers.
        if (core.backends) core.backends->stop_io();
        // 4. Join the cache thread: it drains its queue, flushes the hit/miss counters
        //    to the store and closes it. After the reactor: the reactor posts answers to
        //    the cache, while the cache posts to the reactor only calls to start, and
        //    there are none once the graph is idle.
        core.cache.reset();
        // 5. Free the flow graph and its arena: no thread is inside a node or a
        //    gateway any more.
        flow.reset();
        // 6. Free the scheduler and the backends with their transport: every thread
        //    that called them is gone.
        core.scheduler.reset();
        core.backends.reset();
    }

    tbb::global_control control;  // lets an arena of N threads have N workers
    EngineCore core;
    std::unique_ptr<FlowGraph> flow;
};

Engine::Engine(GraphSpec graph, EngineOptions options) : impl_(std::make_unique<Impl>(std::move(graph), options)) {}
Engine::~Engine() = default;

const GraphSpec& Engine::graph() const { return impl_->core.graph; }
int Engine::max_jobs() const { return impl_->core.options.max_jobs; }

std::string Engine::budget_reached() const { return impl_->core.budget.reached(); }
std::string Engine::cache_error() const { return impl_->core.cache ? impl_->core.cache->failure() : std::string(); }

void Engine::on_event(std::function<void(const NodeEvent&)> fn) { impl_->core.on_event = std::move(fn); }

Engine::Progress Engine::progress() const {
    const auto& c = impl_->core;
    return {c.jobs_started.load(), c.jobs_done.load(), c.scheduler->in_flight.load(), c.scheduler->completed.load(),
            c.scheduler->running.load()};
}

void Engine::cancel() { impl_->core.cancel_all(); }

JobResult Engine::run_one(const std::string& query, ChunkFn on_chunk) {
    RunStats ignored;
    return run_one(query, std::move(on_chunk), ignored);
}

JobResult Engine::run_one(const std::string& query, ChunkFn on_chunk, RunStats& stats) {
    Query q;
    q.id = "1";
    q.prompt = query;
    return run_query(q, std::move(on_chunk), stats);
}

JobResult Engine::run_one(const Query& q, ChunkFn on_chunk) {
    RunStats ignored;
    return run_query(q, std::move(on_chunk), ignored);
}

JobResult Engine::run_query(const Query& q, ChunkFn on_chunk, RunStats& stats) {
    StatsWindow window(impl_->core);
    std::mutex mu;
    std::condition_variable cv;
    std::optional<JobResult> result;
    JobPtr job = impl_->core.make_job(0, q.id.empty() ? "1" : q.id, q.prompt);
    job->vars = q.vars;
    job->input_error = q.error;
    job->on_chunk = std::move(on_chunk);
    job->finished = [&](JobResult&& r) {
        std::lock_guard lock(mu);
        result = std::move(r);
        cv.notify_all();
    };
    impl_->flow->start_job(job);
    {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return result.has_value(); });
    }
    impl_->flow->wait_idle();
    stats = window.close();
    return std::move(*result);
}

namespace {

// One run_batch: jobs in flight, and the results waiting for their turn. Jobs'
// `finished` callbacks point into it, so it is never left while a job is in flight.
class BatchDriver {
public:
    BatchDriver(EngineCore& core, FlowGraph& flow)
        : core_(core), flow_(flow), max_jobs_(static_cast<size_t>(std::max(1, core.options.max_jobs))) {}
    ~BatchDriver() { drain(); }

    void run(QuerySource& source, const std::function<void(JobResult&&)>& sink) {
        for (;;) {
            std::vector<JobResult> writable;
            bool can_start = false;
            if (!wait_turn(writable, can_start)) break;
            for (auto& r : writable) sink(std::move(r));
            if (!can_start) continue;
            std::optional<Query> q = source.next();  // may block: we are on the caller's thread
            std::lock_guard lock(mu_);
            if (!q) {
                eof_ = true;
                core_.scheduler->order_by_height();  // the tail is all that is left to shorten
            } else {
                start(std::move(*q));
            }
        }
    }

private:
    // Results are written in input order: a slow job holds back later ones, so the
    // reorder window is bounded too, or memory would grow behind one stuck job.
    bool may_start() const { return !eof_ && in_flight_ < max_jobs_ && next_seq_ - next_write_ < 4 * max_jobs_; }
    // A failed cache stops the run: no new job starts (its answers could not be
    // stored); the jobs in flight finish and their results are still delivered.
    // A budget reached stops it the same way (the calls of new jobs could not be made).
    bool stopped() const { return (core_.cache && !core_.cache->failure().empty()) || core_.budget.is_reached(); }

    // Waits until a job may start or the next result in order is ready; false at the end.
    bool wait_turn(std::vector<JobResult>& writable, bool& can_start) {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] {
            eof_ = eof_ || stopped();
            return may_start() || (!ready_.empty() && ready_.begin()->first == next_write_) || (eof_ && in_flight_ == 0);
        });
        while (!ready_.empty() && ready_.begin()->first == next_write_) {
            writable.push_back(std::move(ready_.begin()->second));
            ready_.erase(ready_.begin());
            ++next_write_;
        }
        can_start = may_start();
        return !(eof_ && in_flight_ == 0 && ready_.empty() && writable.empty());
    }

    void start(Query&& q) {  // under mu_
        ++in_flight_;
        JobPtr job = core_.make_job(next_seq_, q.id.empty() ? std::to_string(next_seq_ + 1) : q.id, std::move(q.prompt));
        job->input_error = std::move(q.error);
        job->vars = std::move(q.vars);
        job->finished = [this](JobResult&& r) {
            std::lock_guard lock(mu_);
            --in_flight_;
            ready_.emplace(r.seq, std::move(r));
            cv_.notify_all();
        };
        ++next_seq_;
        flow_.start_job(job);
    }

    // Every job started has finished (results not yet handed out are dropped: a
    // throwing source or sink ends the batch) and the graph is idle.
    void drain() {
        {
            std::unique_lock lock(mu_);
            eof_ = true;
            cv_.wait(lock, [&] { return in_flight_ == 0; });
        }
        flow_.wait_idle();
    }

    EngineCore& core_;
    FlowGraph& flow_;
    const size_t max_jobs_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::map<uint64_t, JobResult> ready_;  // finished, waiting for their turn
    size_t in_flight_ = 0;
    uint64_t next_seq_ = 0, next_write_ = 0;
    bool eof_ = false;
};

}  // namespace

RunStats Engine::run_batch(QuerySource& source, const std::function<void(JobResult&&)>& sink) {
    StatsWindow totals(impl_->core);
    {
        BatchDriver driver(impl_->core, *impl_->flow);
        driver.run(source, sink);
    }  // drained: every job finished, the graph idle
    return totals.close();
}

}  // namespace moa
