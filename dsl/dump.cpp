// Stable dumps of a GraphSpec: text (golden tests) and JSON (tools); the drawings
// (DOT and Mermaid) are in draw.cpp.
#include <cstdio>
#include <map>
#include <ostream>
#include <set>

#include "moa/diagnostics.hpp"
#include "moa/dsl.hpp"
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

void dump_text(std::ostream& out, const GraphSpec& g) {
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
}

std::string loc_json(const SourceLoc& l) {
    return "{\"file\":" + esc(l.file) + ",\"line\":" + std::to_string(l.line) + ",\"column\":" + std::to_string(l.col) + "}";
}

void dump_json(std::ostream& out, const GraphSpec& g) {
    auto sep = [&](size_t i) { return i ? ",\n    " : "\n    "; };
    out << "{\n  \"backends\": [";
    for (size_t i = 0; i < g.backends.size(); ++i) {
        const auto& b = g.backends[i];
        const auto& t = b.timeouts;
        out << sep(i) << "{\"name\":" << esc(b.name) << ",\"kind\":\"" << to_string(b.kind) << "\",\"base_url\":" << esc(redact_url(b.base_url))
            << ",\"api_key_env\":" << esc(b.api_key_env) << ",\"max_concurrent\":" << b.max_concurrent
            << ",\"requests_per_minute\":" << num(b.requests_per_minute) << ",\"tokens_per_minute\":" << num(b.tokens_per_minute)
            << ",\"timeouts_ms\":{\"connect\":" << t.connect_ms << ",\"first_token\":" << t.first_token_ms << ",\"idle\":" << t.idle_ms
            << ",\"total\":" << t.total_ms << "},\"retry\":{\"attempts\":" << b.retry.attempts << ",\"base_delay_ms\":" << b.retry.base_delay_ms
            << ",\"max_delay_ms\":" << b.retry.max_delay_ms << "}";
        if (b.kind == BackendKind::Sim && !b.sim_reply.empty()) out << ",\"reply\":" << esc(b.sim_reply);
        out << ",\"loc\":" << loc_json(b.loc) << "}";
    }
    out << "\n  ],\n  \"templates\": [";
    for (size_t i = 0; i < g.templates.size(); ++i) {
        const auto& t = g.templates[i];
        out << sep(i) << "{\"name\":" << esc(t.name) << ",\"placeholders\":" << list(t.placeholders, true) << ",\"text\":" << esc(t.text)
            << ",\"loc\":" << loc_json(t.loc) << "}";
    }
    out << "\n  ],\n  \"agents\": [";
    for (size_t i = 0; i < g.agents.size(); ++i) {
        const auto& a = g.agents[i];
        out << sep(i) << "{\"name\":" << esc(a.name) << ",\"backend\":" << esc(a.backend) << ",\"model\":" << esc(a.model);
        if (a.temperature) out << ",\"temperature\":" << num(*a.temperature);
        if (a.top_p) out << ",\"top_p\":" << num(*a.top_p);
        if (a.max_tokens) out << ",\"max_tokens\":" << *a.max_tokens;
        if (a.seed) out << ",\"seed\":" << *a.seed;
        out << ",\"stop\":" << list(a.stop, true) << ",\"system\":" << esc(a.system) << ",\"user\":" << esc(a.user)
            << ",\"fallback\":" << esc(a.fallback) << ",\"loc\":" << loc_json(a.loc) << "}";
    }
    out << "\n  ],\n  \"layers\": [";
    for (size_t i = 0; i < g.layers.size(); ++i) {
        const auto& l = g.layers[i];
        out << sep(i) << "{\"name\":" << esc(l.name) << ",\"nodes\":" << list(l.nodes, true) << ",\"gate\":" << esc(l.gate_route)
            << ",\"loc\":" << loc_json(l.loc) << "}";
    }
    out << "\n  ],\n  \"nodes\": [";
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const auto& n = g.nodes[i];
        out << sep(i) << "{\"id\":" << esc(n.id) << ",\"layer\":" << esc(n.layer) << ",\"agent\":" << esc(n.agent)
            << ",\"replica\":" << n.replica << ",\"inputs\":" << list(n.inputs, true) << ",\"fan_in\":" << esc(fan_in_text(n.fan_in))
            << ",\"prompt\":" << esc(n.prompt) << ",\"result\":\"" << (n.result == ResultKind::Pick ? "pick" : "reply")
            << "\",\"loc\":" << loc_json(n.loc) << "}";
    }
    out << "\n  ],\n  \"routes\": [";
    for (size_t i = 0; i < g.routes.size(); ++i) {
        const auto& r = g.routes[i];
        out << sep(i) << "{\"name\":" << esc(r.name) << ",\"on\":" << esc(r.on) << ",\"arms\":[";
        for (size_t j = 0; j < r.arms.size(); ++j)
            out << (j ? "," : "") << "{\"when\":" << list(r.arms[j].patterns, true) << ",\"target\":" << esc(r.arms[j].target) << "}";
        out << "],\"loc\":" << loc_json(r.loc) << "}";
    }
    out << "\n  ],\n  \"outputs\": [";
    for (size_t i = 0; i < g.outputs.size(); ++i)
        out << sep(i) << "{\"name\":" << esc(g.outputs[i].name) << ",\"node\":" << esc(g.outputs[i].node)
            << ",\"loc\":" << loc_json(g.outputs[i].loc) << "}";
    out << "\n  ]\n}\n";
}

}  // namespace

void dump_graph(std::ostream& out, const GraphSpec& g, DumpFormat format) {
    switch (format) {
        case DumpFormat::Text: return dump_text(out, g);
        case DumpFormat::Json: return dump_json(out, g);
        case DumpFormat::Dot: return dump_dot(out, g);
        case DumpFormat::Mermaid: return dump_mermaid(out, g);
    }
}

}  // namespace moa
