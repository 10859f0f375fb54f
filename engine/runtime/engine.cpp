// Jobs and batches: planning a GraphSpec into indices and compiled prompts,
// resolving node results, assembling job results, and the batch driver that reads
// input lazily, bounds jobs in flight and hands results out in input order.
#include <oneapi/tbb/global_control.h>
#include <sys/resource.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <iomanip>
#include <map>
#include <ostream>
#include <stdexcept>
#include <thread>

#include "runtime/engine_impl.hpp"
#include "runtime/run_stats.hpp"

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
        if (b.kind == BackendKind::Sim || b.api_key_env.empty()) continue;
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
    if (b.kind == BackendKind::Sim || b.api_key_env.empty()) return "";
    const char* v = std::getenv(b.api_key_env.c_str());
    std::string_view key(v ? v : "");
    while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
    while (!key.empty() && key.back() == ' ') key.remove_suffix(1);
    return std::string(key);
}

const std::string& JobResult::output() const {
    static const std::string empty;
    return outputs.empty() ? empty : outputs.front().second;
}

namespace {

double ms_between(TimePoint a, TimePoint b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

Plan make_plan(const GraphSpec& g) {
    Plan plan;
    std::map<std::string, int> index, layer_index;
    for (const auto& l : g.layers) {
        layer_index[l.name] = static_cast<int>(plan.layers.size());
        plan.layers.push_back(l.name);
    }
    std::map<std::string, const TemplateSpec*> templates;
    for (const auto& t : g.templates) templates[t.name] = &t;
    auto compile = [&](const std::string& name) {
        return name.empty() || !templates.count(name) ? CompiledTemplate() : CompiledTemplate(templates[name]->text);
    };
    for (const auto& n : g.nodes) {
        index[n.id] = static_cast<int>(plan.nodes.size());
        PlanNode pn;
        pn.id = n.id;
        pn.layer = layer_index[n.layer];
        pn.agent = g.agent(n.agent);
        pn.backend = g.backend(pn.agent->backend);
        pn.replica = n.replica;
        pn.fan_in = n.fan_in;
        pn.result = n.result;
        for (const auto& in : n.inputs) pn.inputs.push_back(index.at(in));
        pn.prompt.system = compile(pn.agent->system);
        pn.prompt.user = compile(pn.agent->user);
        pn.prompt.prompt = compile(n.prompt);
        pn.prompt.agent = pn.agent->name;
        pn.prompt.model = pn.agent->model;
        pn.prompt.layer = n.layer;
        plan.nodes.push_back(std::move(pn));
    }
    for (auto& pn : plan.nodes)
        for (int in : pn.inputs) plan.nodes[static_cast<size_t>(in)].consumers.push_back(index.at(pn.id));
    std::map<std::string, std::vector<int>> layer_nodes;
    for (const auto& l : g.layers)
        for (const auto& id : l.nodes) layer_nodes[l.name].push_back(index.at(id));
    for (const auto& r : g.routes) {
        PlanRoute pr;
        int ridx = static_cast<int>(plan.routes.size());
        if (r.on != "query") {
            pr.on = index.at(r.on);
            plan.nodes[static_cast<size_t>(pr.on)].consumers_plus++;
        }
        for (const auto& a : r.arms) {
            PlanRoute::Arm arm;
            for (auto p : a.patterns) {
                for (auto& c : p) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                arm.patterns.push_back(p);
            }
            // A target with `repeat` has instances name[1]..name[n]; all are gated.
            for (const auto& l : g.layers)
                if (l.name == a.target || l.name.rfind(a.target + "[", 0) == 0)
                    for (int node : layer_nodes[l.name]) arm.nodes.push_back(node);
            if (a.patterns.empty()) pr.otherwise = static_cast<int>(pr.arms.size());
            pr.arms.push_back(std::move(arm));
        }
        for (const auto& arm : pr.arms)
            for (int node : arm.nodes) {
                pr.gated.push_back(node);
                plan.nodes[static_cast<size_t>(node)].gate = ridx;
            }
        plan.routes.push_back(std::move(pr));
    }
    for (const auto& o : g.outputs) {
        int i = index.at(o.node);
        plan.outputs.emplace_back(o.name, i);
        plan.nodes[static_cast<size_t>(i)].consumers_plus++;
    }
    if (!plan.outputs.empty()) plan.streamed = plan.outputs.front().second;
    return plan;
}

}  // namespace

int default_io_threads() {
    // libcurl walks every connection of a host in its multi handle's connection cache
    // to start a transfer, so at thousands in flight a second multi handle (thread)
    // halves that walk: on 2 cores, 2,048 in flight at 200 ms cost 71-84 us of CPU per
    // call over 2 I/O threads against 85-98 over 1 (256 in flight: 54-69 vs 63-70).
    // Past 2, one more per 4 cores, at most 8; a single core gets one.
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    return cores == 1 ? 1 : static_cast<int>(std::clamp(cores / 4, 2u, 8u));
}

namespace {
int io_threads_for(const EngineOptions& o) {
    if (o.io_threads > 0) return o.io_threads;
    if (const char* v = std::getenv("MOA_IO_THREADS")) {
        char* end = nullptr;
        long n = std::strtol(v, &end, 10);
        if (end != v && !*end && n >= 1 && n <= 64) return static_cast<int>(n);
    }
    return default_io_threads();
}
}  // namespace

EngineCore::EngineCore(const GraphSpec& g, const EngineOptions& o) : graph(g), options(o) {
    plan = make_plan(graph);
    scheduler = std::make_unique<Scheduler>(reactor, graph, options.max_calls);
    scheduler->set_observer(options.observer);
    CacheMode mode = CacheMode::Off;
    if (!parse_cache_mode(options.cache_mode, mode)) throw std::runtime_error("unknown cache mode '" + options.cache_mode + "'");
    if (mode != CacheMode::Off) {
        std::string error;
        // Modes that only read never create or write the file (a read-only cache works).
        bool reads_only = mode == CacheMode::Read || mode == CacheMode::Replay;
        auto store = open_sqlite_store(options.cache_path, error, reads_only ? CacheAccess::Read : CacheAccess::Write);
        if (!store) throw std::runtime_error(error);
        cache = std::make_unique<ResponseCache>(std::move(store), mode);
    }
    bool remote = std::any_of(graph.backends.begin(), graph.backends.end(),
                              [](const BackendSpec& b) { return b.kind != BackendKind::Sim; });
    if (remote) {
        if (std::string missing = missing_api_keys(graph); !missing.empty()) throw std::runtime_error(missing);
        std::map<std::string, std::string> keys;
        std::vector<std::string> secrets;  // every form a key or URL password may take
        for (const auto& b : graph.backends) {
            if (std::string k = api_key_value(b); !k.empty()) {
                keys[b.name] = k;
                secrets.push_back(k);
                secrets.push_back(std::getenv(b.api_key_env.c_str()));  // untrimmed
            }
            if (std::string info = url_userinfo(b.base_url); !info.empty()) {
                secrets.push_back(info);
                if (size_t colon = info.find(':'); colon != std::string::npos) secrets.push_back(info.substr(colon + 1));
            }
        }
        http = std::make_unique<HttpTransport>(reactor, std::move(keys), std::move(secrets), io_threads_for(options));
        scheduler->set_http(http.get());
    }
    layer_latency.resize(plan.layers.size());
}

EngineCore::~EngineCore() { stop_threads(); }

void EngineCore::stop_threads() {
    reactor.stop();
    if (http) http->stop();
}

void EngineCore::submit(const CallPtr& c, const std::string& node) {
    // After cancel_all(): the scheduler completes it as cancelled on arrival.
    if (cancelled.load()) c->cancel_requested = true;
    if (!cache) return scheduler->submit(c);
    cache->submit(c, node, [this](const CallPtr& miss) { scheduler->submit(miss); });
}

JobPtr EngineCore::make_job(uint64_t seq, std::string id, std::string query) {
    auto job = std::make_shared<JobState>();
    job->seq = seq;
    job->id = std::move(id);
    job->query = std::move(query);
    job->started = Clock::now();
    job->nodes.resize(plan.nodes.size());
    for (size_t i = 0; i < plan.nodes.size(); ++i)
        job->nodes[i].want = static_cast<int>(plan.nodes[i].consumers.size()) + plan.nodes[i].consumers_plus;
    job->remaining = static_cast<int>(plan.nodes.size());
    jobs_started.fetch_add(1, std::memory_order_relaxed);
    {
        std::lock_guard lock(live_mu);
        live.emplace(job.get(), job);
    }
    return job;
}

void EngineCore::cancel_all() {
    cancelled.store(true);  // before collecting: a call stored after this sees the flag at submit
    std::vector<CallPtr> calls;
    {
        std::lock_guard lock(live_mu);
        for (auto& [_, weak] : live)
            if (JobPtr job = weak.lock()) {
                std::lock_guard jl(job->mu);
                for (auto& ns : job->nodes)
                    if (ns.call && !ns.resolved) calls.push_back(ns.call);
            }
    }
    for (auto& c : calls) scheduler->cancel(c);
}

void EngineCore::resolve(const JobPtr& job, int i, Reply&& r, const Call* call) {
    {
        std::lock_guard lock(job->mu);
        NodeState& ns = job->nodes[static_cast<size_t>(i)];
        ns.resolved = true;
        ns.status = r.status;
        ns.text = std::move(r.text);
        ns.error_kind = std::move(r.error_kind);
        ns.tokens_in = r.tokens_in;
        ns.tokens_out = r.tokens_out;
        ns.call.reset();
        if (call) {
            ns.attempts = call->attempts + call->attempts_before_fallback;
            ns.agent = call->agent ? call->agent->name : "";
            ns.fallback_from = call->fallback_from;
            ns.start = ns.attempts > 0 ? call->first_start : call->submitted;
            ns.end = call->finished;
        } else {
            ns.start = ns.end = Clock::now();
        }
    }
    if (on_event) on_event(event_of(*job, i));
    if (job->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        {
            std::lock_guard lock(live_mu);
            live.erase(job.get());
        }
        JobResult res = result_of(*job);
        jobs_done.fetch_add(1, std::memory_order_relaxed);
        if (job->finished) job->finished(std::move(res));
    }
}

NodeEvent EngineCore::event_of(const JobState& job, int i) const {
    const NodeState& ns = job.nodes[static_cast<size_t>(i)];
    const PlanNode& pn = plan.nodes[static_cast<size_t>(i)];
    NodeEvent e;
    e.job_id = job.id;
    e.node = pn.id;
    e.layer = plan.layers[static_cast<size_t>(pn.layer)];
    e.status = ns.status;
    e.text = ns.text;
    e.error_kind = ns.error_kind;
    e.attempts = ns.attempts;
    e.fallback_from = ns.fallback_from;
    e.reply = ns.reply;
    e.picked = ns.picked;
    e.agent = ns.agent.empty() ? plan.nodes[static_cast<size_t>(i)].agent->name : ns.agent;
    e.tokens_in = ns.tokens_in;
    e.tokens_out = ns.tokens_out;
    e.start_ms = ms_between(job.started, ns.start);
    e.end_ms = ms_between(job.started, ns.end);
    return e;
}

JobResult EngineCore::result_of(JobState& job) {
    std::lock_guard lock(job.mu);
    JobResult res;
    res.seq = job.seq;
    res.id = job.id;
    res.wall_ms = ms_between(job.started, Clock::now());
    bool any_ok = false, failed = false;
    for (const auto& [name, i] : plan.outputs) {
        const NodeState& ns = job.nodes[static_cast<size_t>(i)];
        if (ns.status == CallStatus::Ok) {
            res.outputs.emplace_back(name, ns.text);
            any_ok = true;
        } else if (ns.status != CallStatus::Skipped) {
            failed = true;
        }
    }
    res.ok = any_ok && !failed;
    if (!res.ok) {
        // The root cause: the first node (in dependency order) that failed on its own.
        for (size_t i = 0; i < plan.nodes.size(); ++i) {
            const NodeState& ns = job.nodes[i];
            if (ns.status == CallStatus::Error && ns.error_kind != "input") {
                res.error_node = plan.nodes[i].id;
                res.error = ns.text;
                break;
            }
        }
        if (res.error.empty()) {
            if (!job.input_error.empty()) res.error = job.input_error;
            else if (!plan.outputs.empty()) {
                const auto& [name, i] = plan.outputs.front();
                res.error_node = plan.nodes[static_cast<size_t>(i)].id;
                res.error = job.nodes[static_cast<size_t>(i)].text;
            }
        }
    }
    // Critical path: the longest chain of call service times through the graph.
    std::vector<double> cp(plan.nodes.size(), 0);
    std::lock_guard stats(stats_mu);
    for (size_t i = 0; i < plan.nodes.size(); ++i) {
        const NodeState& ns = job.nodes[i];
        double own = ns.attempts > 0 ? ms_between(ns.start, ns.end) : 0;
        double before = 0;
        for (int in : plan.nodes[i].inputs) before = std::max(before, cp[static_cast<size_t>(in)]);
        cp[i] = before + own;
        res.critical_path_ms = std::max(res.critical_path_ms, cp[i]);
        if (ns.attempts > 0) {
            totals.calls++;
            totals.attempts += static_cast<size_t>(ns.attempts);
            if (ns.status == CallStatus::Error) totals.calls_failed++;
            if (!ns.fallback_from.empty()) totals.fallbacks++;
            totals.tokens_in += ns.tokens_in;
            totals.tokens_out += ns.tokens_out;
            layer_latency[static_cast<size_t>(plan.nodes[i].layer)].add(own);
        }
    }
    if (res.ok) totals.jobs_ok++;
    else totals.jobs_failed++;
    totals.critical_path_ms = std::max(totals.critical_path_ms, res.critical_path_ms);
    if (options.emit_all)
        for (size_t i = 0; i < plan.nodes.size(); ++i) res.nodes.push_back(event_of(job, static_cast<int>(i)));
    return res;
}

// ---- Engine ---------------------------------------------------------------------

struct Engine::Impl {
    Impl(GraphSpec g, EngineOptions o)
        : control(tbb::global_control::max_allowed_parallelism,
                  static_cast<size_t>(std::max<int>(o.threads, static_cast<int>(std::thread::hardware_concurrency())) + 1)),
          core(g, o),
          flow(core, o.threads) {}
    // The reactor and cache threads go on for a moment after they wake the caller of
    // the last job (pumping queues, releasing callbacks); join both before flow and
    // scheduler go.
    ~Impl() {
        flow.wait_idle();
        core.stop_threads();
        core.cache.reset();
    }
    tbb::global_control control;  // lets an arena of N threads have N workers
    EngineCore core;
    FlowGraph flow;
};

Engine::Engine(GraphSpec graph, EngineOptions options) : impl_(std::make_unique<Impl>(std::move(graph), options)) {}
Engine::~Engine() = default;

const GraphSpec& Engine::graph() const { return impl_->core.graph; }

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
    StatsWindow window(impl_->core);
    std::mutex mu;
    std::condition_variable cv;
    std::optional<JobResult> result;
    JobPtr job = impl_->core.make_job(0, "1", query);
    job->on_chunk = std::move(on_chunk);
    job->finished = [&](JobResult&& r) {
        std::lock_guard lock(mu);
        result = std::move(r);
        cv.notify_all();
    };
    impl_->flow.start_job(job);
    {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return result.has_value(); });
    }
    impl_->flow.wait_idle();
    stats = window.close();
    return std::move(*result);
}

RunStats Engine::run_batch(QuerySource& source, const std::function<void(JobResult&&)>& sink) {
    auto& core = impl_->core;
    StatsWindow totals(core);

    std::mutex mu;
    std::condition_variable cv;
    std::map<uint64_t, JobResult> ready;  // finished, waiting for their turn
    size_t in_flight = 0;
    uint64_t next_seq = 0, next_write = 0;
    bool eof = false;
    const size_t max_jobs = static_cast<size_t>(std::max(1, core.options.max_jobs));
    // Results are written in input order: a slow job holds back later ones, so the
    // reorder window is bounded too, or memory would grow behind one stuck job.
    const size_t window = 4 * max_jobs;

    auto finished = [&](JobResult&& r) {
        std::lock_guard lock(mu);
        --in_flight;
        ready.emplace(r.seq, std::move(r));
        cv.notify_all();
    };
    // A failed cache stops the run: no new job starts (its answers could not be
    // stored); the jobs in flight finish and their results are still delivered.
    auto stopped = [&] { return core.cache && core.cache->failure().size(); };
    for (;;) {
        std::vector<JobResult> writable;
        bool can_start = false;
        {
            std::unique_lock lock(mu);
            cv.wait(lock, [&] {
                eof = eof || stopped();
                return (!eof && in_flight < max_jobs && next_seq - next_write < window) ||
                       (!ready.empty() && ready.begin()->first == next_write) || (eof && in_flight == 0);
            });
            while (!ready.empty() && ready.begin()->first == next_write) {
                writable.push_back(std::move(ready.begin()->second));
                ready.erase(ready.begin());
                ++next_write;
            }
            if (eof && in_flight == 0 && ready.empty() && writable.empty()) break;
            can_start = !eof && in_flight < max_jobs && next_seq - next_write < window;
        }
        for (auto& r : writable) sink(std::move(r));
        if (!can_start) continue;
        std::optional<Query> q = source.next();  // may block: we are on the caller's thread
        std::lock_guard lock(mu);
        if (!q) {
            eof = true;
            continue;
        }
        ++in_flight;
        JobPtr job = core.make_job(next_seq, q->id.empty() ? std::to_string(next_seq + 1) : q->id, std::move(q->prompt));
        job->input_error = std::move(q->error);
        job->finished = finished;
        ++next_seq;
        impl_->flow.start_job(job);
    }
    impl_->flow.wait_idle();
    return totals.close();
}


}  // namespace moa
