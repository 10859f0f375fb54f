// The two renderings of a GraphPlan: a table for people, JSON for CI (schema
// "moa-plan/1", documented in docs/cli.md). An unknown figure is "unknown" in the
// text and null in the JSON, and every one is explained under "unknown".
#include <cmath>
#include <cstdio>

#include "moa/cost.hpp"
#include "moa/json_writer.hpp"
#include "moa/plan.hpp"

namespace moa {

namespace {

std::string num(const std::optional<double>& x) {
    if (!x) return "unknown";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", *x);
    return buf;
}

std::string pad(std::string s, size_t w) {
    if (s.size() < w) s.append(w - s.size(), ' ');
    return s;
}

std::string tokens(const std::optional<double>& e, const std::optional<double>& m) { return num(e) + " (max " + num(m) + ")"; }

std::string ms(const std::optional<double>& x) { return x ? num(x) + " ms" : "unknown"; }

std::string usd(const std::optional<double>& x) { return x ? format_usd(*x) : "unknown"; }

std::string cost(const std::optional<double>& e, const std::optional<double>& m, double times = 1) {
    auto scaled = [&](const std::optional<double>& x) { return x ? std::optional<double>(*x * times) : std::nullopt; };
    return usd(scaled(e)) + " (max " + usd(scaled(m)) + ")";
}

void optional_number(JsonWriter& w, const std::optional<double>& x) {
    if (x) w.number(std::round(*x * 10) / 10);
    else w.null();
}

void range(JsonWriter& w, const char* key, const std::optional<double>& e, const std::optional<double>& m) {
    w.key(key).begin_object().key("expected");
    optional_number(w, e);
    w.key("max");
    optional_number(w, m);
    w.end_object();
}

// "cost_usd": {"expected": x | null, "max": y | null}, unrounded (a call may cost $0.000042).
void usd_range(JsonWriter& w, const std::optional<double>& e, const std::optional<double>& m) {
    w.key("cost_usd").begin_object().key("expected");
    if (e) w.number(*e);
    else w.null();
    w.key("max");
    if (m) w.number(*m);
    else w.null();
    w.end_object();
}

void optional_string(JsonWriter& w, const std::string& s) {
    if (s.empty()) w.null();
    else w.value(s);
}

}  // namespace

std::string plan_text(const GraphPlan& p) {
    size_t wn = 4, wl = 5, wm = 5;
    for (const auto& n : p.nodes) {
        wn = std::max(wn, n.node.size() + (n.critical ? 2 : 0));
        wl = std::max(wl, n.layer.size());
        wm = std::max(wm, n.model.size());
    }
    std::string s = "query: " + p.query_source + (p.queries > 1 || p.query_source.rfind("typical", 0) != 0 ? ", mean " + num(p.query_chars) + " chars" : "") + "; seed " + std::to_string(p.seed) +
                    "; expected figures are means of " + std::to_string(p.trials) + " simulated jobs\n\n";
    s += pad("node", wn + 2) + pad("layer", wl + 2) + pad("model", wm + 2) + pad("worst", 7) + pad("tokens in", 20) +
         pad("tokens out", 20) + pad("latency", 12) + pad("cost", 26) + "profile\n";
    for (const auto& n : p.nodes) {
        s += pad((n.critical ? "* " : "") + n.node, wn + 2) + pad(n.layer, wl + 2) + pad(n.model, wm + 2) +
             pad(std::to_string(n.worst_attempts), 7) + pad(tokens(n.tokens_in, n.tokens_in_max), 20) +
             pad(tokens(n.tokens_out, n.tokens_out_max), 20) + pad(ms(n.latency_ms), 12) +
             pad(cost(n.cost_usd, n.cost_max_usd), 26) + n.profile;
        if (!n.gate.empty()) s += "; only if route " + n.gate + " picks it";
        if (!n.fallback.empty()) s += "; fallback " + n.fallback;
        s += "\n";
    }
    s += "\ncalls per query: " + std::to_string(p.calls_min);
    if (p.calls_max != p.calls_min) s += " to " + std::to_string(p.calls_max) + " (routes)";
    s += "; worst case " + std::to_string(p.worst_attempts) + " attempts (every retry and fallback)\n";
    s += "tokens per query: in " + tokens(p.tokens_in, p.tokens_in_max) + ", out " + tokens(p.tokens_out, p.tokens_out_max) + "\n";
    s += "cost per query: " + cost(p.cost_usd, p.cost_max_usd) + "; batch of " + std::to_string(p.queries) + ": " +
         cost(p.cost_usd, p.cost_max_usd, static_cast<double>(p.queries)) + "\n";
    s += "critical path (one query, * above): " + ms(p.critical_path_ms) + "\n";
    s += "batch of " + std::to_string(p.queries) + " quer" + (p.queries == 1 ? "y" : "ies") + " (max_jobs " +
         std::to_string(p.max_jobs) + ", concurrency " + (p.max_calls > 0 ? std::to_string(p.max_calls) : "per backend") +
         "): wall time " + ms(p.batch_wall_ms);
    if (p.batch_wall_ms) s += " (mean of " + std::to_string(p.batch_trials) + " simulated batches)";
    s += "; worst case " + std::to_string(p.batch_worst_attempts) + " attempts (the run's retry budget caps retries)\n";
    for (const auto& u : p.unknowns) s += "unknown: " + u + "\n";
    return s;
}

std::string plan_json(const GraphPlan& p) {
    std::string s;
    JsonWriter w(s, 2);
    w.begin_object().key("schema").value("moa-plan/1");
    w.key("query").begin_object().key("source").value(p.query_source).key("count").value(static_cast<uint64_t>(p.queries));
    w.key("mean_chars").number(std::round(p.query_chars * 10) / 10).end_object();
    w.key("seed").value(p.seed).key("draws").value(p.trials);
    w.key("nodes").begin_array();
    for (const auto& n : p.nodes) {
        w.begin_object().key("id").value(n.node).key("layer").value(n.layer).key("agent").value(n.agent);
        w.key("model").value(n.model).key("backend").value(n.backend).key("route");
        optional_string(w, n.gate);
        w.key("fallback");
        optional_string(w, n.fallback);
        w.key("worst_attempts").value(n.worst_attempts).key("profile").value(n.profile);
        range(w, "tokens_in", n.tokens_in, n.tokens_in_max);
        range(w, "tokens_out", n.tokens_out, n.tokens_out_max);
        w.key("latency_ms");
        optional_number(w, n.latency_ms);
        usd_range(w, n.cost_usd, n.cost_max_usd);
        w.key("price_origin");
        optional_string(w, n.price_origin);
        w.key("critical").value(n.critical).end_object();
    }
    w.end_array();
    w.key("per_query").begin_object();
    w.key("calls").begin_object().key("min").value(p.calls_min).key("max").value(p.calls_max).end_object();
    w.key("worst_attempts").value(p.worst_attempts);
    range(w, "tokens_in", p.tokens_in, p.tokens_in_max);
    range(w, "tokens_out", p.tokens_out, p.tokens_out_max);
    w.key("critical_path_ms");
    optional_number(w, p.critical_path_ms);
    usd_range(w, p.cost_usd, p.cost_max_usd);
    w.end_object();
    w.key("batch").begin_object().key("queries").value(static_cast<uint64_t>(p.queries)).key("max_jobs").value(p.max_jobs);
    w.key("concurrency").value(p.max_calls).key("wall_ms");
    optional_number(w, p.batch_wall_ms);
    w.key("draws").value(p.batch_trials).key("worst_attempts").value(p.batch_worst_attempts);
    auto times = [&](const std::optional<double>& x) { return x ? std::optional<double>(*x * static_cast<double>(p.queries)) : std::nullopt; };
    usd_range(w, times(p.cost_usd), times(p.cost_max_usd));
    w.end_object();
    w.key("unknown").strings(p.unknowns);
    w.end_object();
    s += "\n";
    return s;
}

}  // namespace moa
