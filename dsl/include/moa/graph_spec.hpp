// GraphSpec: the checked, fully expanded topology (the IR between dsl/ and engine/).
//
// Plain structs: no X3, no TBB. Imports are resolved, topologies instantiated,
// `repeat` unrolled and replicas (`agent * n`, `samples = n`) expanded into nodes, so
// the engine only sees nodes and edges. Every element keeps the source location it
// came from, for run-time errors that point at the .moa file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace moa {

struct SourceLoc {
    std::string file;
    uint32_t line = 0;
    uint32_t col = 0;
};

enum class BackendKind { OpenAI, Anthropic, Ollama, Sim };

struct Timeouts {  // milliseconds; 0 = none
    int64_t connect_ms = 0;
    int64_t first_token_ms = 0;
    int64_t idle_ms = 0;
    int64_t total_ms = 0;
};

struct RetryPolicy {
    int attempts = 4;          // total tries including the first
    int64_t base_delay_ms = 500;
    int64_t max_delay_ms = 30000;
    // The longest server-requested wait (Retry-After, rate-limit reset) obeyed; a
    // longer one fails the call at once, quoting the server (backend `max_retry_wait`).
    int64_t max_wait_ms = 60000;
};

struct SimFaults {  // probabilities per call, in [0, 1]
    double timeout = 0;
    double rate_limited = 0;
    double server_error = 0;
};

struct SimLatency {
    int64_t first_token_ms = 0;
    double tokens_per_second = 0;  // 0 = instantaneous
    double jitter = 0;             // relative spread of the seeded distribution, [0, 1]
};

// `judge { ... }` on a sim backend: its calls on a judge's panel answer with a verdict
// of the graph's rule, chosen (seeded, from the request) as below. For tests and
// dry runs of `moa eval`; it reads the answers from the job's variables.
struct SimJudge {
    enum class Prefer { Random, Marker, First, Second, Longer, Shorter };
    bool enabled = false;
    Prefer prefer = Prefer::Random;  // Random: either answer, 50/50
    std::string marker;              // Marker: the answer containing this text is preferred
    double p = 1;            // probability the reply follows the preference (else the other answer)
    double tie = 0;          // probability of a tie instead (pairwise, needs a tie label)
    double unparsable = 0;   // probability of a reply naming no verdict
};

struct BackendSpec {
    std::string name;
    BackendKind kind = BackendKind::Sim;
    std::string base_url;
    std::string api_key_env;  // the *name* of the variable, never its value
    int max_concurrent = 0;   // 0 = unlimited
    double requests_per_minute = 0;
    double tokens_per_minute = 0;
    Timeouts timeouts;
    RetryPolicy retry;
    SimLatency latency;  // sim only
    SimFaults faults;    // sim only
    std::string sim_reply;  // sim only: every call answers exactly this text ("" = simulated text)
    SimJudge sim_judge;     // sim only: scripted judge
    SourceLoc loc;
};

struct TemplateSpec {
    std::string name;
    std::string text;
    std::vector<std::string> placeholders;  // in order of first use
    SourceLoc loc;
};

struct AgentSpec {
    std::string name;
    std::string backend;
    std::string model;
    std::optional<double> temperature;
    std::optional<double> top_p;
    std::optional<int64_t> max_tokens;
    std::optional<int64_t> seed;
    std::vector<std::string> stop;
    std::string system;     // system template name, or "" for none
    std::string user;       // user-message template name, or "" for the query unchanged
    std::string fallback;   // agent name, or ""
    Timeouts timeouts;      // per-agent overrides (0 = use the backend's)
    SourceLoc loc;
};

enum class FanInKind { All, AtLeast, Deadline };

struct FanIn {
    FanInKind kind = FanInKind::All;
    int k = 0;                // AtLeast: minimum responses needed
    int64_t deadline_ms = 0;  // Deadline: what arrived by then (at least k if k > 0)
};

// What a node's result is: the model's reply, or (`result = pick`, the paper's
// LLM-Ranker) the input response whose number the reply names, byte for byte.
enum class ResultKind { Reply, Pick };

// One model call site: an agent at a place in the topology.
struct NodeSpec {
    std::string id;       // "refine[2].wizard", "propose.qwen#3"
    std::string layer;    // layer instance name
    std::string agent;
    int replica = 0;      // 0-based sample index among replicas of this agent in the layer
    std::vector<std::string> inputs;  // node ids, in declared order; empty = the query only
    FanIn fan_in;
    std::string prompt;   // aggregation template name ("" when no inputs)
    ResultKind result = ResultKind::Reply;
    SourceLoc loc;
};

struct LayerSpec {
    std::string name;
    std::vector<std::string> nodes;
    std::string gate_route;  // route that must pick this layer, or ""
    SourceLoc loc;
};

struct RouteArm {
    std::vector<std::string> patterns;  // case-insensitive substrings; empty = otherwise
    std::string target;                 // layer name
};

struct RouteSpec {
    std::string name;
    std::string on;  // "query" or a node id (a classifier's answer)
    std::vector<RouteArm> arms;
    SourceLoc loc;
};

struct OutputSpec {
    std::string name;
    std::string node;
    SourceLoc loc;
};

// `param NAME = default` at the top level of a graph file: a value the command line
// may replace (`--param NAME=value`, `moa eval --vary NAME=v1,v2`).
struct ParamSpec {
    std::string name;
    std::string default_text;  // the default as written in the file ("3", "\"gpt-4o\"", "[a, b]")
    std::string value_text;    // the value used: the --param text, or default_text
    bool overridden = false;   // set by --param
    SourceLoc loc;
};

// `verdict pairwise { ... }` / `verdict score { ... }`: this graph is a judge, and this
// is how each reply of its panel (the nodes of layer `layer`) maps to a verdict.
enum class VerdictMode { Pairwise, Score };
enum class VerdictCombine { Majority, Mean };

struct VerdictSpec {
    VerdictMode mode = VerdictMode::Pairwise;
    std::string layer;               // the panel's layer instance
    std::vector<std::string> nodes;  // the panel: node ids, one reply each
    // Pairwise: the labels (any one of each list) naming the answer shown first
    // ({{answer_a}}), second ({{answer_b}}), or a tie (may be empty: no ties).
    std::vector<std::string> first, second, tie;
    // Score: the text around the number, from `pattern = "[[{{score}}]]"`.
    std::string pattern;  // as written (decoded)
    std::string score_prefix, score_suffix;
    double min = 1, max = 10;  // `range = [1, 10]`
    VerdictCombine combine = VerdictCombine::Majority;
    SourceLoc loc;
};

// The job variables a judge's templates receive (Query::vars): {{answer}} in score
// mode, {{answer_a}} and {{answer_b}} (the answers in the order shown) in pairwise mode.
inline constexpr const char* kVarAnswer = "answer";
inline constexpr const char* kVarAnswerA = "answer_a";
inline constexpr const char* kVarAnswerB = "answer_b";
// The output name under which a panel node's reply appears in JobResult::outputs.
inline std::string verdict_output_name(const std::string& node) { return "verdict:" + node; }

// `price NAME { model = "gpt-4o"  input = 2.50  output = 10.00 }`: USD per million
// tokens for one model, optionally only on one backend (its name or its kind). The
// checked graph keeps the price each agent resolves to (GraphSpec::price).
struct PriceSpec {
    std::string name;
    std::string model;    // exact, or a prefix ending in '*' ("sim-*")
    std::string backend;  // backend name or kind ("openai"); "" = any backend
    double input = 0, output = 0;  // USD per 1M tokens
    std::optional<double> cached_input;  // USD per 1M cached input tokens, if priced apart
    std::string as_of;    // "2026-11-01", or ""
    bool stdlib = false;  // from the implicit price table (graph prices override it)
    SourceLoc loc;
};

struct GraphSpec {
    std::vector<ParamSpec> params;  // in declaration order
    std::optional<VerdictSpec> verdict;  // set for a judge graph
    std::vector<BackendSpec> backends;
    std::vector<TemplateSpec> templates;
    std::vector<AgentSpec> agents;
    std::vector<LayerSpec> layers;  // in dependency order
    std::vector<NodeSpec> nodes;    // in dependency order (inputs before users)
    std::vector<RouteSpec> routes;
    std::vector<OutputSpec> outputs;
    std::vector<PriceSpec> prices;  // the prices the agents resolve to

    const BackendSpec* backend(const std::string& name) const;
    const AgentSpec* agent(const std::string& name) const;
    const TemplateSpec* templ(const std::string& name) const;
    const NodeSpec* node(const std::string& id) const;
    // The price of `model` on backend `backend_name`, or null: the graph's own prices
    // before the stdlib table; within each,
    // an exact model name before a '*' prefix (the longest first); then a price for that
    // backend name, then for its kind, then for any backend.
    const PriceSpec* price(const std::string& backend_name, const std::string& model) const;
};

const char* to_string(BackendKind k);

// A URL's `user:password@` part (everything before '@' in the authority). Credentials
// in a base_url are sent to the server only: every URL that is stored, printed or
// hashed into a cache key goes through redact_url, which drops them.
inline std::string url_userinfo(const std::string& url) {
    size_t scheme = url.find("://");
    if (scheme == std::string::npos) return "";
    size_t host = scheme + 3;
    size_t end = url.find_first_of("/?#", host);
    size_t at = url.rfind('@', end == std::string::npos ? url.size() : end);
    if (at == std::string::npos || at < host) return "";
    return url.substr(host, at - host);
}
inline std::string redact_url(const std::string& url) {
    std::string info = url_userinfo(url);
    if (info.empty()) return url;
    size_t host = url.find("://") + 3;
    return url.substr(0, host) + url.substr(host + info.size() + 1);
}

}  // namespace moa
