// EngineCore: building the engine's parts from a GraphSpec, handing calls to the
// cache or the scheduler, resolving node results and assembling job results.
#include "runtime/engine_core.hpp"
#include "moa/error.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace moa {

namespace {

double ms_between(TimePoint a, TimePoint b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

int default_io_threads() {
    // Two threads share the burst of replies that ends each round of a wide batch: on
    // 2 cores, 805 x paper MoA at 2,048 in flight ran at 1.08-1.10 x ideal over 2 I/O
    // threads against 1.15-1.22 with one thread taking calls until full (and libcurl's
    // walk of a host's connection cache, per transfer, halves too). Past 2, one more
    // per 4 cores, at most 8; a single core gets one.
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    return cores == 1 ? 1 : static_cast<int>(std::clamp(cores / 4, 2u, 8u));
}

// On 2 cores, 805 x paper MoA over loopback HTTP (bench_http scale): TBB workers
// cost 11-13 us of CPU per call with one worker against 21-29 with two at 256 in
// flight (5-7 against 8-11 at 2,048), for the same wall time; the simulated
// backend's graph (bench_engine overhead) runs 10% slower on one worker, so
// graphs without HTTP backends keep every core.
int default_threads(bool http_backends) {
    int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    return http_backends && cores > 1 ? cores - 1 : cores;
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

bool native_http_for(const EngineOptions& o) {
    if (o.http_client != HttpClient::Default) return o.http_client == HttpClient::Native;
    return native_http_default();
}
}  // namespace

const char* to_string(HttpClient c) {
    switch (c) {
        case HttpClient::Native: return "native";
        case HttpClient::Curl: return "curl";
        case HttpClient::Default: break;
    }
    return "default";
}

std::optional<HttpClient> parse_http_client(std::string_view s) {
    if (s == "native") return HttpClient::Native;
    if (s == "curl") return HttpClient::Curl;
    return std::nullopt;
}

EngineCore::EngineCore(const GraphSpec& g, const EngineOptions& o) : graph(g), options(o) {
    plan = make_plan(graph);
    if (options.max_jobs <= 0) options.max_jobs = jobs_to_fill(plan, options.max_calls);
    layer_latency.resize(plan.layers.size());
    const CacheMode mode = options.cache_mode;
    if (mode != CacheMode::Off) {
        // Modes that only read never create or write the file (a read-only cache works).
        bool reads_only = mode == CacheMode::Read || mode == CacheMode::Replay;
        // Throws moa::Error with the store's kind (NotFound, Invalid, Corrupt, Io).
        auto store = open_sqlite_store(options.cache_path, reads_only ? CacheAccess::Read : CacheAccess::Write);
        cache = std::make_unique<ResponseCache>(std::move(store), mode);
    }
    // The message names the backend and the variable, never a key's value. A replay
    // never calls a backend, so it runs without keys (CI on pull requests has none).
    if (mode != CacheMode::Replay)
        if (std::string missing = missing_api_keys(graph); !missing.empty()) throw Error(Error::Kind::Invalid, missing);
    if (std::string why = budget_problem(options.budget, graph); !why.empty()) throw Error(Error::Kind::Invalid, why);
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
    // Nothing after this may throw: a remote backend installs the shared transport as
    // the reactor's poller, called by the reactor thread until Engine::Impl::shutdown.
    backends = std::make_unique<BackendSet>(graph, reactor, std::move(keys), std::move(secrets), io_threads_for(options),
                                            native_http_for(options));
    scheduler = std::make_unique<Scheduler>(reactor, graph, options.max_calls,
                                            [this](const BackendSpec& b) -> Backend& { return backends->at(b); });
    scheduler->set_observer(options.observer);
    if (options.observer && options.observer->wants_call_events()) events = options.observer;
    if (budget.enabled()) scheduler->set_budget(&budget);
}

void EngineCore::report_done(const Call& c, const NodeState& ns) {
    CallEvent e = call_event(c, CallEvent::Kind::Done, Clock::now());
    e.status = ns.status;
    e.error_kind = ns.error_kind;
    if (ns.status != CallStatus::Ok) e.error = ns.text;
    e.tokens_in = ns.tokens_in;
    e.tokens_out = ns.tokens_out;
    e.tokens_estimated = ns.tokens_estimated;
    e.cache_hit = ns.cache_hit;
    e.cost_known = ns.cost_known;
    e.cost_usd = ns.cost_usd;
    e.saved_usd = ns.saved_usd;
    events->call_event(e);
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
        ns.error_kind = to_string(r.error_kind, r.http_status);
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
        costs.settle(ns, call, r);
        if (events && call) report_done(*call, ns);  // every call made ends here, once
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
    e.tokens_cached = ns.tokens_cached;
    e.tokens_estimated = ns.tokens_estimated;
    e.cost_usd = ns.cost_usd;
    e.saved_usd = ns.saved_usd;
    e.cost_known = ns.cost_known;
    e.cache_hit = ns.cache_hit;
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
        costs.account(totals, i, ns);
    }
    if (std::any_of(job.nodes.begin(), job.nodes.end(), [](const NodeState& n) { return n.error_kind == "budget"; }))
        totals.budget_stopped_jobs++;
    if (res.ok) totals.jobs_ok++;
    else totals.jobs_failed++;
    totals.critical_path_ms = std::max(totals.critical_path_ms, res.critical_path_ms);
    if (options.emit_all)
        for (size_t i = 0; i < plan.nodes.size(); ++i) res.nodes.push_back(event_of(job, static_cast<int>(i)));
    return res;
}

}  // namespace moa
