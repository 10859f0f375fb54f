// The public face of engine/: run a checked GraphSpec on its backends.
//
//   moa::Diagnostics diags;
//   auto loaded = moa::load_graph("graphs/paper-moa.moa", {}, diags);
//   moa::Engine engine(loaded.graph, {});
//   moa::JobResult r = engine.run_one("What is MoA?");
//   std::cout << r.output() << "\n";
//
// One job = one query through the whole graph; many jobs share one engine. Model calls
// are asynchronous: TBB workers render prompts and hand requests to one I/O reactor
// thread, which owns timers, per-backend limits and retries, and completes each call
// exactly once (ok or an error value).
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <string_view>
#include <vector>

#include "moa/cache_mode.hpp"
#include "moa/graph_spec.hpp"
#include "moa/observer.hpp"

namespace moa {

// A piece of a streamed answer. `attempt` counts the call's attempts from 1 (a cached
// answer is attempt 0). When an attempt is abandoned after it streamed text (its
// stream was cut and the call is retried, or the fallback agent took over), the next
// attempt's first chunk has `restart` set: the text received so far is void and the
// answer starts over. The text after the last restart is the final answer.
struct StreamChunk {
    std::string_view text;
    int attempt = 1;
    bool restart = false;
};
using ChunkFn = std::function<void(const StreamChunk&)>;

// CallStatus: moa/observer.hpp.

// What happened at one node for one job.
struct NodeEvent {
    std::string job_id;
    std::string node;
    std::string layer;
    CallStatus status = CallStatus::Ok;
    std::string text;   // the answer (Ok) or the error message
    std::string error_kind;  // "timeout", "http 429", "cancelled", ...
    int attempts = 0;           // every attempt, the original agent's and its fallback's
    std::string agent;          // the agent that answered: the fallback's name if it took over
    std::string fallback_from;  // "agent: error" when the agent's fallback answered instead
    // `result = pick` nodes: the model's own reply, and the input node it named, whose
    // answer is `text` (empty when the reply named none: status Error, kind "pick").
    std::string reply;
    std::string picked;
    uint32_t tokens_in = 0;
    uint32_t tokens_out = 0;
    // Money (moa/cost.hpp): what this node's call cost in USD, 0 unless cost_known (its
    // model has a price). A cache hit (answered from the cache, or by an identical call
    // in flight) cost nothing: saved_usd is what its tokens would have cost.
    double cost_usd = 0;
    double saved_usd = 0;
    bool cost_known = false;
    bool tokens_estimated = false;  // the provider reported no usage: tokens are estimates
    bool cache_hit = false;
    uint32_t tokens_cached = 0;     // input tokens the provider read from its prompt cache
    double start_ms = 0;   // since the job started
    double end_ms = 0;
};

struct JobResult {
    uint64_t seq = 0;       // 0-based position in the input
    std::string id;         // the input's "id", or its line number
    bool ok = false;
    std::vector<std::pair<std::string, std::string>> outputs;  // output name -> text
    std::string error;       // first failure: "node: message"
    std::string error_node;
    std::vector<NodeEvent> nodes;  // every node, in graph order (filled with emit_all)
    double wall_ms = 0;
    double critical_path_ms = 0;   // longest chain of call durations in this job
    const std::string& output() const;  // the first output's text ("" if none)
};

// Budgets of one engine (`moa run --max-calls/--max-tokens/--max-cost`); 0 = none. Calls
// count every attempt (retries and fallbacks included); tokens are in + out; cost is
// USD at the graph's prices (every model must have one). Each attempt reserves its
// worst case before it starts, so concurrent calls cannot overshoot; once a budget is
// reached no call starts and the calls not made fail with "budget --max-calls N reached".
struct BudgetLimits {
    uint64_t calls = 0;
    uint64_t tokens = 0;
    double cost_usd = 0;
};

// The HTTP client of plain http:// base URLs (see EngineOptions::http_client).
enum class HttpClient { Default, Native, Curl };
const char* to_string(HttpClient c);                          // "default", "native", "curl"
std::optional<HttpClient> parse_http_client(std::string_view s);  // "native" or "curl"

struct EngineOptions {
    int threads = 0;           // TBB workers; 0 = default_threads()
    // Jobs (queries) in flight at once in a batch. 0: derived from the graph, enough to
    // keep every backend's max_concurrent slots busy (at least 256; Engine::max_jobs()).
    int max_jobs = 0;
    int max_calls = 0;         // global cap on calls in flight; 0 = only per-backend limits
    // HTTP I/O threads, each with its own connections (native client, libcurl); calls
    // are spread over them round-robin. 0 = the MOA_IO_THREADS environment variable
    // if it holds a number from 1 to 64, else default_io_threads().
    int io_threads = 0;
    // Plain http:// base URLs on an IP literal or localhost, with no proxy variable
    // applying, go through moa's native HTTP/1.1 client on the I/O threads (less CPU
    // per call) or through libcurl; https://, host names and proxied hosts always use
    // libcurl. Default = the MOA_HTTP_CLIENT variable (native or curl) if set, else native.
    HttpClient http_client = HttpClient::Default;
    bool emit_all = false;     // keep every node's event in JobResult::nodes
    uint64_t seed = 0;         // mixed into the simulated backend's randomness
    CallObserver* observer = nullptr;  // attempts and notices (moa/observer.hpp); called on the reactor thread
    // Response cache (moa/cache_mode.hpp: off, rw, read, replay, refresh); SQLite file
    // at cache_path.
    CacheMode cache_mode = CacheMode::Off;
    std::string cache_path = ".moa/cache.db";
    BudgetLimits budget;
};

// Batch input: one query per call of next(); std::nullopt at the end.
struct Query {
    std::string id;
    std::string prompt;
    std::string error;  // a malformed input line: the job fails with this message
    // Named job variables the graph's templates show as {{NAME}}: a judge's {{answer}},
    // {{answer_a}}, {{answer_b}} (moa/graph_spec.hpp kVarAnswer...). A variable a
    // template names but the job does not give renders as "".
    std::vector<std::pair<std::string, std::string>> vars = {};  // `= {}`: Query{id, prompt, error} stays warning-free
};

class QuerySource {
public:
    virtual ~QuerySource() = default;
    virtual std::optional<Query> next() = 0;  // may block: called on the caller's thread
};

struct LayerStats {
    std::string layer;
    size_t calls = 0;
    double p50_ms = 0, p95_ms = 0;
};

// Calls, tokens and money of one node or one layer in a run.
struct CostRow {
    std::string name;        // node id or layer name
    size_t calls = 0;        // calls made (cache hits not included)
    size_t cache_hits = 0;   // answered without a call (cache or an identical call in flight)
    uint64_t tokens_in = 0, tokens_out = 0;  // of the calls made
    double cost_usd = 0;     // of the calls with a known price
    double saved_usd = 0;    // what the cache hits would have cost
    size_t unknown_cost = 0; // calls (and hits) whose model has no price
    bool estimated = false;  // some tokens are estimates
};

struct RunStats {
    size_t jobs_ok = 0, jobs_failed = 0;
    size_t jobs_cancelled = 0;  // set by the caller: failed jobs cut short by a stop and not written
    size_t calls = 0, attempts = 0, retries = 0, calls_failed = 0;
    size_t fallbacks = 0;  // calls answered by their agent's fallback
    uint64_t tokens_in = 0, tokens_out = 0;
    double wall_ms = 0;
    double critical_path_ms = 0;   // the slowest job's critical path
    double cpu_ms = 0;             // process CPU time during the run
    uint64_t cache_hits = 0, cache_misses = 0, cache_shared = 0;  // shared: singleflight
    uint64_t saved_tokens_in = 0, saved_tokens_out = 0;
    std::vector<LayerStats> layers;
    // Money (USD): cost of the calls made with a known price, what cache hits saved,
    // calls whose model has no price (their cost is unknown, not 0) and which ones
    // ("backend/model").
    double cost_usd = 0, saved_usd = 0;
    size_t unknown_cost_calls = 0;
    std::vector<std::string> unknown_prices;
    bool tokens_estimated = false;  // some tokens are estimates (a provider sent no usage)
    std::vector<CostRow> node_costs;   // every node that made a call or hit the cache, graph order
    std::vector<CostRow> layer_costs;  // per layer, graph order
    // The budget that stopped the run ("--max-calls 100", or ""), the jobs it stopped
    // (with a node that could not be called) and the calls it refused.
    std::string budget_reached;
    size_t budget_stopped_jobs = 0, budget_refused_calls = 0;
    void print(std::ostream& out) const;
};

// "" if every backend's api_key_env is set to a usable key; else one line per missing
// variable or per key holding a control character (CR/LF would inject a header).
// Checked before any call is made (Engine's constructor throws it as a moa::Error of kind
// Invalid).
std::string missing_api_keys(const GraphSpec& graph);
// The key sent for backend `b`: its variable's value without surrounding spaces
// ("" for in-process backends and backends without api_key_env).
std::string api_key_value(const BackendSpec& b);

// The I/O thread count used when EngineOptions::io_threads is 0 and MOA_IO_THREADS
// is unset: 1 on one core, else one per 4 cores, at least 2 and at most 8.
int default_io_threads();
// The TBB worker count used when EngineOptions::threads is 0: one per core, but one
// core fewer (at least one worker) when the graph calls HTTP backends, whose I/O and
// reactor threads need it; a flow graph node's work per HTTP call is a few
// microseconds, and a worker woken per reply spins before it sleeps again.
int default_threads(bool http_backends);

class Engine {
public:
    // Throws moa::Error (moa/error.hpp): kind Invalid for a missing or unusable API key
    // (the text of missing_api_keys: it names the backend and the variable, never a
    // key), or the cache's own kind when it cannot open (NotFound, Invalid, Corrupt, Io).
    Engine(GraphSpec graph, EngineOptions options);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Runs one query; `on_chunk` (optional) receives the first output's text as it
    // streams in.
    JobResult run_one(const std::string& query, ChunkFn on_chunk = {});
    // The same, and the run's totals (calls, tokens, cache, wall time) in `stats`.
    JobResult run_one(const std::string& query, ChunkFn on_chunk, RunStats& stats);
    // One job with its variables (`q.vars`, e.g. a judge's answers); q.id names it.
    JobResult run_one(const Query& q, ChunkFn on_chunk = {});

    // Runs every query of `source`; `sink` gets the results in input order, on the
    // calling thread. Memory stays bounded by max_jobs whatever the input size.
    // If `source` or `sink` throws, no job starts after that, the jobs in flight
    // finish (their results are dropped) and the exception propagates.
    RunStats run_batch(QuerySource& source, const std::function<void(JobResult&&)>& sink);

    // Per-node events as they happen (called from engine threads; keep it cheap).
    void on_event(std::function<void(const NodeEvent&)> fn);

    // Live counters for progress displays. calls_in_flight counts calls submitted and
    // not completed (queued, waiting to retry or running); calls_running only those
    // talking to a backend right now.
    struct Progress {
        size_t started = 0, done = 0, calls_in_flight = 0, calls_done = 0, calls_running = 0;
    };
    Progress progress() const;

    const GraphSpec& graph() const;
    // Jobs in flight at once in run_batch: EngineOptions::max_jobs, or the derived value.
    int max_jobs() const;

    // "" while the response cache works; else its first error (path and reason: disk
    // full, corrupted, locked, read-only). A batch starts no new job from that moment;
    // the jobs in flight finish uncached (their earlier answers are paid for) and are
    // delivered. The caller should exit non-zero.
    std::string cache_error() const;

    // "" while no budget (EngineOptions::budget) is reached; else which one, as its flag
    // ("--max-calls 100"). From then on no call starts: a batch starts no new job, the
    // calls not made fail with "budget --max-calls 100 reached". The caller should exit
    // non-zero.
    std::string budget_reached() const;

    // Any thread, e.g. a signal watcher: every call queued or in flight completes at
    // once as cancelled, and calls started from now on are cancelled too, so every
    // job still running finishes promptly (with failed nodes) and run_batch returns.
    // Permanent for this engine.
    void cancel();

private:
    JobResult run_query(const Query& q, ChunkFn on_chunk, RunStats& stats);
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace moa
