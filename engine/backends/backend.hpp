// The one interface the scheduler and the flow compiler know a backend by. Each
// provider lives in a file of its own in this folder (openai.cpp, for one) and
// describes itself with a Provider; registry.cpp lists them, one line each. Nothing
// outside a provider's file looks at BackendKind to decide what to do.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "moa/graph_spec.hpp"
#include "runtime/call.hpp"

namespace moa {

class Reactor;
class HttpTransport;
class WireFormat;

// Ends one attempt: called exactly once per started attempt, on the reactor thread,
// never from inside start(), and never after cancel().
using AttemptDone = std::function<void(Reply&&)>;

// One `backend` block of the graph.
class Backend {
public:
    virtual ~Backend() = default;
    // Per-request work done before the call reaches the reactor: on a TBB worker when
    // the flow graph makes the call, and again (on the reactor) after a fallback agent
    // took the call over. Keeps what it computes in c.backend_state.
    virtual void prepare(Call& c) { (void)c; }
    // Reactor thread: starts one attempt of `c`.
    virtual void start(const CallPtr& c, AttemptDone done) = 0;
    // Reactor thread: ends the running attempt of `c`; its `done` is never called.
    virtual void cancel(const CallPtr& c) = 0;
    // Whether the agent's `total` timeout bounds the call (a deadline set at its first
    // attempt, covering retries and the waits between them).
    virtual bool uses_deadline() const { return true; }
};

// The HTTP client when EngineOptions::http_client is Default: MOA_HTTP_CLIENT
// ("native" or "curl") if set, else native. True: native.
bool native_http_default();

// What a provider may build its backends from. Owned by BackendSet.
struct BackendContext {
    BackendContext(Reactor& r, std::map<std::string, std::string> keys, std::vector<std::string> secrets,
                   int io_threads, bool native_http = native_http_default());
    ~BackendContext();
    Reactor& reactor;
    // The HTTP transport all remote backends share, with its I/O threads: made on
    // first use (a graph of in-process backends never makes one).
    HttpTransport& http();
    // Joins the transport's I/O threads (after the reactor thread stopped). Idempotent.
    void stop_io();
    int io_threads() const;  // the transport's I/O threads running (0: no transport)

private:
    std::map<std::string, std::string> keys_;  // backend name -> API key value
    std::vector<std::string> secrets_;         // every form a secret may take
    int io_threads_;
    bool native_http_;
    std::unique_ptr<HttpTransport> http_;
};

// `moa plan`'s model of a backend whose calls can be predicted without making them (the
// in-process simulator): the planner draws calls from the backend's own code, with a
// random hash in place of the request's, so its expected figures are the backend's.
struct CallModel {
    const char* label;  // where the figures come from, as the plan shows it
    // The answer (text, tokens) `c` gets when its request hashes to `hash`.
    Reply (*answer)(const Call& c, uint64_t hash);
    // One attempt: whether it succeeds, and its duration (to the last token or the failure).
    struct Attempt {
        bool ok = true;
        int64_t latency_us = 0;
        int64_t retry_after_ms = -1;  // the wait a failure asks for, -1: none
    };
    Attempt (*attempt)(const BackendSpec& b, uint64_t hash, int attempt_no, uint32_t tokens_out);
    // The longest answer, in tokens and bytes, of `agent` when it cites the answers of
    // agents of `input_models` (after a query of `query_bytes`); `choices` > 0 for a pick.
    void (*longest)(const AgentSpec& agent, const BackendSpec& b, const std::vector<std::string>& input_models,
                    size_t query_bytes, size_t choices, double& tokens, double& bytes);
};

// A provider: one BackendKind, described once, in its own file.
struct Provider {
    BackendKind kind;
    // Talks to a server: sends the key named by api_key_env, over HTTP.
    bool remote = true;
    std::unique_ptr<Backend> (*make)(const BackendSpec& spec, BackendContext& ctx) = nullptr;
    // Appends what else decides this backend's answers (beyond backend kind and URL,
    // model, sampling, replica and messages, which every key has) to the cache key's
    // canonical request, one "name: value" line each. Null: nothing.
    void (*cache_identity)(const Call& c, std::string& canonical) = nullptr;
    // Remote providers' request and response formats (null for in-process ones).
    const WireFormat* wire = nullptr;
    // For `moa plan`; null: the planner profiles the backend's models from the cache.
    const CallModel* model = nullptr;
};

// The registered provider of `kind` (registry.cpp).
const Provider& provider_of(BackendKind kind);

// The graph's backends, one per `backend` block, made by their providers.
class BackendSet {
public:
    BackendSet(const GraphSpec& g, Reactor& reactor, std::map<std::string, std::string> keys,
               std::vector<std::string> secrets, int io_threads, bool native_http = native_http_default());
    ~BackendSet();
    Backend& at(const BackendSpec& b) const { return *by_spec_.at(&b); }
    void stop_io() { ctx_.stop_io(); }  // see BackendContext::stop_io
    int io_threads() const { return ctx_.io_threads(); }

private:
    BackendContext ctx_;  // declared first: the backends use its transport until they go
    std::map<const BackendSpec*, std::unique_ptr<Backend>> by_spec_;
};

// Every wait of a remote call is bounded, even when the .moa file sets no timeouts.
// `total` covers the whole call: every attempt and the waits between them.
constexpr Timeouts kDefaultTimeouts{10'000, 120'000, 60'000, 600'000};
// The agent's timeouts, else the backend's, else kDefaultTimeouts, field by field.
Timeouts effective_timeouts(const BackendSpec& b, const AgentSpec& a);
// "connect timeout (10 s)" etc.: names the timeout as the .moa file does, with its value.
std::string timeout_name(const char* field, int64_t ms);

}  // namespace moa
