// Stable dumps of a GraphSpec: text (golden tests) and JSON (tools); the drawings
// (DOT and Mermaid) are in draw.cpp.
#include <cstdio>
#include <map>
#include <ostream>
#include <set>

#include "moa/diagnostics.hpp"
#include "moa/dsl.hpp"
#include "moa/json_writer.hpp"
#include "draw.hpp"

namespace moa {

namespace {

std::string num(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.15g", x);
    return buf;
}

std::string esc(const std::string& s) { return json_quote(s); }

std::string list(const std::vector<std::string>& v, bool quoted = false) {
    std::string r = "[";
    for (size_t i = 0; i < v.size(); ++i) r += (i ? ", " : "") + (quoted ? esc(v[i]) : v[i]);
    return r + "]";
}

std::string fan_in_text(const FanIn& f) {
    switch (f.kind) {
        case FanInKind::All: return "all";
        case FanInKind::AtLeast: return "at_least(" + std::to_string(f.k) + ")";
        case FanInKind::Deadline: return "deadline(" + std::to_string(f.deadline_ms) + "ms)";
    }
    return "all";
}

std::string timeouts_text(const Timeouts& t) {
    return "{connect=" + std::to_string(t.connect_ms) + "ms first_token=" + std::to_string(t.first_token_ms) +
           "ms idle=" + std::to_string(t.idle_ms) + "ms total=" + std::to_string(t.total_ms) + "ms}";
}

const char* mode_text(VerdictMode m) { return m == VerdictMode::Pairwise ? "pairwise" : "score"; }
const char* combine_text(VerdictCombine c) { return c == VerdictCombine::Majority ? "majority" : "mean"; }

void verdict_text(std::ostream& out, const VerdictSpec& v) {
    out << "verdict " << mode_text(v.mode) << " on=" << v.layer << " nodes=" << list(v.nodes);
    if (v.mode == VerdictMode::Pairwise)
        out << " a=" << list(v.first, true) << " b=" << list(v.second, true) << " tie=" << list(v.tie, true);
    else
        out << " pattern=" << esc(v.pattern) << " range=[" << num(v.min) << ", " << num(v.max) << "]";
    out << " combine=" << combine_text(v.combine) << "\n";
}

void sim_judge_text(std::ostream& out, const SimJudge& j) {
    static const char* prefs[] = {"random", "marker", "first", "second", "longer", "shorter"};
    out << "  judge {prefer=" << prefs[static_cast<int>(j.prefer)];
    if (j.prefer == SimJudge::Prefer::Marker) out << " marker=" << esc(j.marker);
    out << " p=" << num(j.p) << " tie=" << num(j.tie) << " unparsable=" << num(j.unparsable) << "}\n";
}

void dump_text(std::ostream& out, const GraphSpec& g) {
    for (const auto& p : g.params) {
        out << "param " << p.name << " = " << p.value_text;
        if (p.overridden) out << " (--param; default " << p.default_text << ")";
        out << "\n";
    }
    for (const auto& b : g.backends) {
        out << "backend " << b.name << " kind=" << to_string(b.kind);
        if (!b.base_url.empty()) out << " base_url=" << esc(redact_url(b.base_url));
        if (!b.api_key_env.empty()) out << " api_key_env=" << b.api_key_env;
        out << " max_concurrent=" << b.max_concurrent << " requests=" << num(b.requests_per_minute)
            << "/min tokens=" << num(b.tokens_per_minute) << "/min\n";
        out << "  timeouts " << timeouts_text(b.timeouts) << "\n";
        out << "  retry {attempts=" << b.retry.attempts << " base_delay=" << b.retry.base_delay_ms
            << "ms max_delay=" << b.retry.max_delay_ms << "ms}\n";
        if (b.kind == BackendKind::Sim) {
            out << "  latency {first_token=" << b.latency.first_token_ms
                << "ms tokens_per_second=" << num(b.latency.tokens_per_second)
                << " jitter=" << num(b.latency.jitter) << "}\n";
            out << "  faults {timeout=" << num(b.faults.timeout) << " rate_limited=" << num(b.faults.rate_limited)
                << " server_error=" << num(b.faults.server_error) << "}\n";
            if (!b.sim_reply.empty()) out << "  reply " << esc(b.sim_reply) << "\n";
            if (b.sim_judge.enabled) sim_judge_text(out, b.sim_judge);
        }
    }
    for (const auto& t : g.templates)
        out << "template " << t.name << " placeholders=" << list(t.placeholders) << " text=" << esc(t.text) << "\n";
    for (const auto& a : g.agents) {
        out << "agent " << a.name << " backend=" << a.backend << " model=" << esc(a.model);
        if (a.temperature) out << " temperature=" << num(*a.temperature);
        if (a.top_p) out << " top_p=" << num(*a.top_p);
        if (a.max_tokens) out << " max_tokens=" << *a.max_tokens;
        if (a.seed) out << " seed=" << *a.seed;
        if (!a.stop.empty()) out << " stop=" << list(a.stop, true);
        if (!a.system.empty()) out << " system=" << a.system;
        if (!a.user.empty()) out << " user=" << a.user;
        if (!a.fallback.empty()) out << " fallback=" << a.fallback;
        out << "\n";
    }
    std::map<std::string, const NodeSpec*> nodes;
    for (const auto& n : g.nodes) nodes[n.id] = &n;
    for (const auto& l : g.layers) {
        out << "layer " << l.name;
        if (!l.gate_route.empty()) out << " gate=" << l.gate_route;
        out << "\n";
        for (const auto& id : l.nodes) {
            const NodeSpec& n = *nodes.at(id);
            out << "  node " << n.id << " agent=" << n.agent;
            if (n.replica) out << " replica=" << n.replica;
            out << " inputs=" << (n.inputs.empty() ? std::string("query") : list(n.inputs));
            if (!n.inputs.empty()) out << " fan_in=" << fan_in_text(n.fan_in) << " prompt=" << n.prompt;
            if (n.result == ResultKind::Pick) out << " result=pick";
            out << "\n";
        }
    }
    for (const auto& r : g.routes) {
        out << "route " << r.name << " on=" << r.on << "\n";
        for (const auto& a : r.arms)
            out << "  " << (a.patterns.empty() ? "otherwise" : "when " + list(a.patterns, true)) << " -> "
                << a.target << "\n";
    }
    for (const auto& o : g.outputs) out << "output " << o.name << " = " << o.node << "\n";
    if (g.verdict) verdict_text(out, *g.verdict);
    for (const auto& p : g.prices) {
        out << "price " << p.name << " model=" << esc(p.model);
        if (!p.backend.empty()) out << " backend=" << p.backend;
        out << " input=" << num(p.input) << " output=" << num(p.output);
        if (p.cached_input) out << " cached_input=" << num(*p.cached_input);
        if (!p.as_of.empty()) out << " as_of=" << p.as_of;
        out << (p.stdlib ? " (stdlib)" : "") << "\n";
    }
}

void loc_json(JsonWriter& w, const SourceLoc& l) {
    w.key("loc").begin_object().key("file").value(l.file).key("line").value(l.line).key("column").value(l.col).end_object();
}

void backend_json(JsonWriter& w, const BackendSpec& b) {
    const auto& t = b.timeouts;
    w.begin_object().key("name").value(b.name).key("kind").value(to_string(b.kind)).key("base_url").value(redact_url(b.base_url));
    w.key("api_key_env").value(b.api_key_env).key("max_concurrent").value(b.max_concurrent);
    w.key("requests_per_minute").number(b.requests_per_minute).key("tokens_per_minute").number(b.tokens_per_minute);
    w.key("timeouts_ms").begin_object().key("connect").value(t.connect_ms).key("first_token").value(t.first_token_ms);
    w.key("idle").value(t.idle_ms).key("total").value(t.total_ms).end_object();
    w.key("retry").begin_object().key("attempts").value(b.retry.attempts).key("base_delay_ms").value(b.retry.base_delay_ms);
    w.key("max_delay_ms").value(b.retry.max_delay_ms).end_object();
    if (b.kind == BackendKind::Sim && !b.sim_reply.empty()) w.key("reply").value(b.sim_reply);
    loc_json(w, b.loc);
    w.end_object();
}

void agent_json(JsonWriter& w, const AgentSpec& a) {
    w.begin_object().key("name").value(a.name).key("backend").value(a.backend).key("model").value(a.model);
    if (a.temperature) w.key("temperature").number(*a.temperature);
    if (a.top_p) w.key("top_p").number(*a.top_p);
    if (a.max_tokens) w.key("max_tokens").value(*a.max_tokens);
    if (a.seed) w.key("seed").value(*a.seed);
    w.key("stop").strings(a.stop, true).key("system").value(a.system).key("user").value(a.user).key("fallback").value(a.fallback);
    loc_json(w, a.loc);
    w.end_object();
}

void node_json(JsonWriter& w, const NodeSpec& n) {
    w.begin_object().key("id").value(n.id).key("layer").value(n.layer).key("agent").value(n.agent);
    w.key("replica").value(n.replica).key("inputs").strings(n.inputs, true).key("fan_in").value(fan_in_text(n.fan_in));
    w.key("prompt").value(n.prompt).key("result").value(n.result == ResultKind::Pick ? "pick" : "reply");
    loc_json(w, n.loc);
    w.end_object();
}

void route_json(JsonWriter& w, const RouteSpec& r) {
    w.begin_object().key("name").value(r.name).key("on").value(r.on).key("arms").begin_array();
    for (const auto& arm : r.arms) w.begin_object().key("when").strings(arm.patterns, true).key("target").value(arm.target).end_object();
    w.end_array();
    loc_json(w, r.loc);
    w.end_object();
}

void judge_json(JsonWriter& w, const GraphSpec& g) {
    if (!g.params.empty()) {
        w.key("params").begin_array();
        for (const auto& p : g.params) {
            w.begin_object().key("name").value(p.name).key("default").value(p.default_text);
            w.key("value").value(p.value_text).key("overridden").value(p.overridden);
            loc_json(w, p.loc);
            w.end_object();
        }
        w.end_array();
    }
    if (!g.verdict) return;
    const VerdictSpec& v = *g.verdict;
    w.key("verdict").begin_object().key("mode").value(mode_text(v.mode)).key("on").value(v.layer);
    w.key("nodes").strings(v.nodes, true);
    if (v.mode == VerdictMode::Pairwise)
        w.key("a").strings(v.first, true).key("b").strings(v.second, true).key("tie").strings(v.tie, true);
    else
        w.key("pattern").value(v.pattern).key("min").number(v.min).key("max").number(v.max);
    w.key("combine").value(combine_text(v.combine));
    loc_json(w, v.loc);
    w.end_object();
}

// The top object and its lists one entry per line; each entry compact, its lists of
// names with ", " between them (the dump's layout since it was first written).
void dump_json(std::ostream& out, const GraphSpec& g) {
    std::string s;
    JsonWriter w(s, 2);
    w.begin_object();
    w.key("backends").begin_array();
    for (const auto& b : g.backends) backend_json(w, b);
    w.end_array().key("templates").begin_array();
    for (const auto& t : g.templates) {
        w.begin_object().key("name").value(t.name).key("placeholders").strings(t.placeholders, true).key("text").value(t.text);
        loc_json(w, t.loc);
        w.end_object();
    }
    w.end_array().key("agents").begin_array();
    for (const auto& a : g.agents) agent_json(w, a);
    w.end_array().key("layers").begin_array();
    for (const auto& l : g.layers) {
        w.begin_object().key("name").value(l.name).key("nodes").strings(l.nodes, true).key("gate").value(l.gate_route);
        loc_json(w, l.loc);
        w.end_object();
    }
    w.end_array().key("nodes").begin_array();
    for (const auto& n : g.nodes) node_json(w, n);
    w.end_array().key("routes").begin_array();
    for (const auto& r : g.routes) route_json(w, r);
    w.end_array().key("outputs").begin_array();
    for (const auto& o : g.outputs) {
        w.begin_object().key("name").value(o.name).key("node").value(o.node);
        loc_json(w, o.loc);
        w.end_object();
    }
    w.end_array();
    judge_json(w, g);  // only for graphs that declare them: older dumps stay the same
    if (!g.prices.empty()) {  // USD per million tokens
        w.key("prices").begin_array();
        for (const auto& p : g.prices) {
            w.begin_object().key("name").value(p.name).key("model").value(p.model).key("backend").value(p.backend);
            w.key("input").number(p.input).key("output").number(p.output);
            if (p.cached_input) w.key("cached_input").number(*p.cached_input);
            w.key("as_of").value(p.as_of).key("stdlib").value(p.stdlib);
            loc_json(w, p.loc);
            w.end_object();
        }
        w.end_array();
    }
    w.end_object();
    out << s << "\n";
}

}  // namespace

std::optional<DumpFormat> parse_dump_format(std::string_view s) {
    if (s == "text") return DumpFormat::Text;
    if (s == "json") return DumpFormat::Json;
    if (s == "dot") return DumpFormat::Dot;
    if (s == "mermaid") return DumpFormat::Mermaid;
    return std::nullopt;
}

void dump_graph(std::ostream& out, const GraphSpec& g, DumpFormat format) {
    switch (format) {
        case DumpFormat::Text: return dump_text(out, g);
        case DumpFormat::Json: return dump_json(out, g);
        case DumpFormat::Dot: return dump_dot(out, g);
        case DumpFormat::Mermaid: return dump_mermaid(out, g);
    }
}

}  // namespace moa
