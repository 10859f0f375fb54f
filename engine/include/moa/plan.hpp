// `moa plan`: what a graph will cost in calls, tokens and time, before any model is
// called (no API key is needed). Figures come from the graph itself (templates,
// max_tokens, retry and fallback settings, concurrency limits) and from per-model
// latency profiles: the simulated backend's own settings, or the latencies and answer
// lengths a response cache recorded in earlier real runs. A figure that cannot be
// known (a real model never run, so no profile) is absent (std::nullopt) and named in
// GraphPlan::unknowns: never a silent 0. Expected values are Monte Carlo means over
// seeded draws, so a plan is reproducible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "moa/graph_spec.hpp"

namespace moa {

// The query assumed when no input file is given: 200 characters (about 50 tokens),
// near the median instruction length of AlpacaEval 2.0.
constexpr size_t kTypicalQueryChars = 200;

// What a response cache recorded about one model's answers (rows with a latency).
struct LatencyProfile {
    std::vector<double> latency_ms;      // the answering attempt, start to last token
    std::vector<double> first_token_ms;  // streamed answers only
    std::vector<uint32_t> tokens_out;
    std::vector<size_t> chars;           // answer length in bytes
    double median_latency_ms() const;
};
// Per model, from the cache at `path` (read only). Throws moa::Error like cache_stats.
std::map<std::string, LatencyProfile> read_latency_profiles(const std::string& path);

struct PlanOptions {
    std::vector<std::string> queries;  // the batch (--input); empty: one typical query
    int max_jobs = 0;                  // as EngineOptions: 0 = derived from the graph
    int max_calls = 0;                 // --concurrency; 0 = per-backend limits only
    uint64_t seed = 0;                 // seeds the draws (and is the run's seed)
    std::map<std::string, LatencyProfile> profiles;  // by model, for real backends
};

struct NodePlan {
    std::string node, layer, agent, model, backend;
    std::string gate;          // the route that must pick this node's layer, or ""
    std::string fallback;      // the agent that takes over when retries run out, or ""
    int worst_attempts = 1;    // retries and fallback included
    std::string profile;       // "simulator", "cache (N answers)" or "none"
    std::optional<double> tokens_in, tokens_out;          // expected, per call
    std::optional<double> tokens_in_max, tokens_out_max;  // bounds (max_tokens)
    std::optional<double> latency_ms;                     // expected service time
    // USD per query: the expected tokens at the model's price; the worst case bills
    // every attempt (the fallback's at its price) for the longest prompt and answer.
    std::optional<double> cost_usd, cost_max_usd;
    std::string price_origin;  // where the price came from ("stdlib 2025-06-01", a graph line)
    bool critical = false;     // on the critical path of expected latencies
};

struct GraphPlan {
    std::vector<NodePlan> nodes;  // dependency order
    // Calls per query: all nodes, less those behind a route arm not taken.
    int calls_min = 0, calls_max = 0;
    int worst_attempts = 0;  // every call failing until its retries and fallback run out
    std::optional<double> tokens_in, tokens_out;  // expected per query
    std::optional<double> tokens_in_max, tokens_out_max;
    std::optional<double> critical_path_ms;  // expected, one query (the engine's definition)
    std::optional<double> cost_usd, cost_max_usd;  // per query; a batch costs `queries` times this
    // The batch: the input's size (1 without --input) under the concurrency limits.
    size_t queries = 1;
    std::string query_source;  // "typical (200 chars)" or the input's summary
    double query_chars = 0;    // mean length
    int max_jobs = 0, max_calls = 0;
    std::optional<double> batch_wall_ms;
    int batch_trials = 0, trials = 0;  // draws behind the batch and the per-query means
    uint64_t seed = 0;
    int64_t batch_worst_attempts = 0;  // capped by the run's retry budget
    std::vector<std::string> unknowns;  // one line per unknown figure, saying why
};

GraphPlan plan_graph(const GraphSpec& graph, const PlanOptions& options);

// The text report (columns per node, then totals) and the JSON one (docs/cli.md).
std::string plan_text(const GraphPlan& plan);
std::string plan_json(const GraphPlan& plan);

}  // namespace moa
