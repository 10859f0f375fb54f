// The machine-readable forms of the run report: JSON (--report FILE.json), JUnit XML
// (--junit) and the GitHub step summary (markdown). Schemas: docs/cli.md.
#include <cstdio>

#include "moa/cost.hpp"
#include "moa/json_writer.hpp"
#include "report_data.hpp"

namespace moa::cli {

namespace {

void latency_json(JsonWriter& w, const Latency& l) {
    w.key("latency_ms").begin_object().key("p50").number(l.p50).key("p95").number(l.p95).key("max").number(l.max).end_object();
}

void totals_json(JsonWriter& w, const RunReport& r) {
    const RunStats& s = r.stats();
    w.key("totals").begin_object();
    w.key("jobs").value(r.jobs().size()).key("jobs_failed").value(r.jobs_failed());
    w.key("calls").value(s.calls).key("attempts").value(s.attempts).key("retries").value(s.retries);
    w.key("calls_failed").value(s.calls_failed).key("fallbacks").value(s.fallbacks);
    w.key("cache_hits").value(s.cache_hits).key("cache_misses").value(s.cache_misses);
    w.key("tokens_in").value(s.tokens_in).key("tokens_out").value(s.tokens_out);
    w.key("wall_ms").number(r.wall_ms()).key("critical_path_ms").number(s.critical_path_ms);
    w.key("cost_usd").number(s.cost_usd).key("saved_usd").number(s.saved_usd);
    w.key("unknown_cost_calls").value(s.unknown_cost_calls).key("unknown_prices").strings(s.unknown_prices);
    w.key("budget_reached").value(s.budget_reached).key("budget_stopped_jobs").value(s.budget_stopped_jobs);
    w.end_object();
}

std::string fmt_ms(double ms) {
    char b[32];
    std::snprintf(b, sizeof b, ms < 10 ? "%.2f" : ms < 1000 ? "%.1f" : "%.0f", ms);
    return b;
}

// A markdown table cell: one line, pipes escaped, HTML neutralised (GitHub renders it).
std::string md(std::string_view s, size_t max = 200) {
    std::string o;
    for (char c : s.substr(0, max)) {
        if (c == '\n' || c == '\r' || c == '\t') o += ' ';
        else if (c == '|') o += "\\|";
        else if (c == '<') o += "&lt;";
        else if (c == '>') o += "&gt;";
        else if (c == '&') o += "&amp;";
        else if (c == '`') o += '\'';
        else if (static_cast<unsigned char>(c) >= 0x20) o += c;
    }
    if (s.size() > max) o += "...";
    return o;
}

}  // namespace

std::string cost_text(double usd, size_t unknown) {
    if (unknown == 0) return format_usd(usd);
    return (usd > 0 ? format_usd(usd) + " + " : std::string()) + std::to_string(unknown) + " unpriced";
}

std::string report_json(const RunReport& r) {
    std::string s;
    JsonWriter w(s, 2);
    w.begin_object().key("moa_report").value(1).key("graph").value(r.graph_file());
    totals_json(w, r);
    w.key("nodes").begin_array();
    for (const auto& n : r.nodes()) {
        w.begin_object().key("node").value(n.node).key("layer").value(n.layer).key("agent").value(n.agent);
        w.key("model").value(n.model).key("backend").value(n.backend).key("calls").value(n.calls);
        w.key("failed").value(n.failed).key("cancelled").value(n.cancelled).key("cache_hits").value(n.cache_hits);
        w.key("attempts").value(n.attempts).key("tokens_in").value(n.tokens_in).key("tokens_out").value(n.tokens_out);
        w.key("tokens_estimated").value(n.estimated).key("cost_usd").number(n.cost_usd).key("saved_usd").number(n.saved_usd);
        w.key("unknown_cost").value(n.unknown_cost);
        latency_json(w, n.latency);
        w.end_object();
    }
    w.end_array().key("layers").begin_array();
    for (const auto& l : r.layers()) {
        w.begin_object().key("layer").value(l.layer).key("calls").value(l.calls).key("failed").value(l.failed);
        w.key("cache_hits").value(l.cache_hits).key("tokens_in").value(l.tokens_in).key("tokens_out").value(l.tokens_out);
        w.key("cost_usd").number(l.cost_usd).key("saved_usd").number(l.saved_usd).key("unknown_cost").value(l.unknown_cost);
        latency_json(w, l.latency);
        w.end_object();
    }
    w.end_array().key("jobs").begin_array();
    for (const auto& j : r.jobs()) {
        w.begin_object().key("seq").value(j.seq).key("id").value(j.id).key("ok").value(j.ok).key("wall_ms").number(j.wall_ms);
        if (!j.ok) w.key("error_node").value(j.error_node).key("error").value(j.error);
        w.end_object();
    }
    w.end_array().key("failures").begin_array();
    for (const auto& f : r.failures()) {
        w.begin_object().key("job").value(f.job).key("node").value(f.node).key("agent").value(f.agent);
        w.key("error_kind").value(f.error_kind).key("error").value(f.error).end_object();
    }
    w.end_array().end_object();
    s += "\n";
    return s;
}

std::string report_junit(const RunReport& r) {
    const auto& jobs = r.jobs();
    size_t failures = r.jobs_failed();
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.3f", r.wall_ms() / 1000);
    std::string suite = xml_escape(r.graph_file());
    std::string s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    s += "<testsuites name=\"moa\" tests=\"" + std::to_string(jobs.size()) + "\" failures=\"" + std::to_string(failures) +
         "\" errors=\"0\" time=\"" + secs + "\">\n";
    s += "  <testsuite name=\"" + suite + "\" tests=\"" + std::to_string(jobs.size()) + "\" failures=\"" +
         std::to_string(failures) + "\" errors=\"0\" skipped=\"0\" time=\"" + secs + "\">\n";
    for (const auto& j : jobs) {
        std::snprintf(secs, sizeof secs, "%.3f", j.wall_ms / 1000);
        s += "    <testcase classname=\"" + suite + "\" name=\"job " + xml_escape(j.id) + "\" time=\"" + secs + "\"";
        if (j.ok) {
            s += "/>\n";
            continue;
        }
        std::string msg = (j.error_node.empty() ? "" : j.error_node + ": ") + j.error;
        s += ">\n      <failure message=\"" + xml_escape(msg) + "\" type=\"" + xml_escape(j.error_node.empty() ? "job" : j.error_node) +
             "\">" + xml_escape(msg) + "</failure>\n    </testcase>\n";
    }
    s += "  </testsuite>\n</testsuites>\n";
    return s;
}

std::string report_markdown(const RunReport& r) {
    const RunStats& st = r.stats();
    std::string s = "### moa run: " + md(r.graph_file()) + "\n\n";
    s += "| jobs | failed | calls | retries | cache hits | tokens in | tokens out | cost | wall |\n|---|---|---|---|---|---|---|---|---|\n";
    s += "| " + std::to_string(r.jobs().size()) + " | " + std::to_string(r.jobs_failed()) + " | " + std::to_string(st.calls) +
         " | " + std::to_string(st.retries) + " | " + std::to_string(st.cache_hits) + " | " + std::to_string(st.tokens_in) +
         " | " + std::to_string(st.tokens_out) + " | " + cost_text(st.cost_usd, st.unknown_cost_calls) + " | " + fmt_ms(r.wall_ms() / 1000) +
         " s |\n\n";
    s += "| node | model | calls | failed | cache hits | p50 ms | p95 ms | max ms | tokens out | cost |\n|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& n : r.nodes())
        s += "| " + md(n.node) + " | " + md(n.model) + " | " + std::to_string(n.calls) + " | " + std::to_string(n.failed) +
             " | " + std::to_string(n.cache_hits) + " | " + fmt_ms(n.latency.p50) + " | " + fmt_ms(n.latency.p95) + " | " +
             fmt_ms(n.latency.max) + " | " + std::to_string(n.tokens_out) + " | " + cost_text(n.cost_usd, n.unknown_cost) + " |\n";
    if (!st.budget_reached.empty())
        s += "\n**Budget " + md(st.budget_reached) + " reached**: it stopped " + std::to_string(st.budget_stopped_jobs) +
             " jobs.\n";
    size_t shown = 0;
    for (const auto& j : r.jobs()) {
        if (j.ok) continue;
        if (shown == 0) s += "\n**Failed jobs**\n\n";
        if (++shown > 10) {
            s += "- ... and " + std::to_string(r.jobs_failed() - 10) + " more\n";
            break;
        }
        s += "- job " + md(j.id) + ": " + md(j.error_node) + ": " + md(j.error) + "\n";
    }
    s += "\n";
    return s;
}

}  // namespace moa::cli
