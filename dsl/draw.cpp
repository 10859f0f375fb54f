// Drawings of a GraphSpec: DOT (graphviz: layers as clusters of one rank) and
// Mermaid flowcharts.
//
// Identifiers must be injective: names may contain `_`, `.`, `[`, `]` and `#`, so
// any scheme that folds characters together (`a_b` + `c` vs `a` + `b_c`) draws two
// nodes as one. DOT gets quoted ids that keep the names whole, with a kind prefix
// that no node id can have (node ids always contain a `.`, and no name contains a
// space); Mermaid gets sequential ids, with the names in the labels.
#include "draw.hpp"

#include <map>
#include <ostream>

#include "moa/diagnostics.hpp"

namespace moa {

namespace {

std::string esc(const std::string& s) { return json_quote(s); }

std::string fan_in_rule(const FanIn& f) {
    switch (f.kind) {
        case FanInKind::All: return "all";
        case FanInKind::AtLeast: return "at_least(" + std::to_string(f.k) + ")";
        case FanInKind::Deadline: {
            // As a person would write it: 2s, not 2000ms.
            int64_t ms = f.deadline_ms;
            std::string d = ms % 60000 == 0 ? std::to_string(ms / 60000) + "min"
                          : ms % 1000 == 0  ? std::to_string(ms / 1000) + "s"
                                            : std::to_string(ms) + "ms";
            return "deadline(" + d + ")";
        }
    }
    return "all";
}

// What a layer does beyond the default, for its caption: "fan_in = at_least(3)",
// "result = pick" (its nodes answer with one of their inputs, chosen by the model).
std::vector<std::string> layer_notes(const GraphSpec& g, const LayerSpec& l) {
    std::vector<std::string> notes;
    if (!l.gate_route.empty()) notes.push_back("branch of route " + l.gate_route);
    const NodeSpec* n = l.nodes.empty() ? nullptr : g.node(l.nodes.front());
    if (n && !n->inputs.empty() && n->fan_in.kind != FanInKind::All) notes.push_back("fan_in = " + fan_in_rule(n->fan_in));
    if (n && n->result == ResultKind::Pick) notes.push_back("result = pick");
    return notes;
}

std::string node_caption(const NodeSpec& n) {  // the agent, and which sample it is
    return n.agent + (n.id.find('#') != std::string::npos ? " #" + std::to_string(n.replica + 1) : "");
}

// The layer a route arm targets (the first copy of a repeated layer), or null.
const LayerSpec* arm_target(const GraphSpec& g, const RouteArm& a) {
    for (const auto& l : g.layers)
        if (l.name == a.target || l.name.rfind(a.target + "[", 0) == 0) return &l;
    return nullptr;
}

std::string arm_label(const RouteArm& a) {  // every pattern, quoted: "code" | "bug"
    if (a.patterns.empty()) return "otherwise";
    std::string label;
    for (size_t k = 0; k < a.patterns.size(); ++k) label += (k ? " | " : "") + esc(a.patterns[k]);
    return label;
}

std::string model_of(const GraphSpec& g, const NodeSpec& n) {
    const AgentSpec* a = g.agent(n.agent);
    return a ? a->model : "";
}

}  // namespace

void dump_dot(std::ostream& out, const GraphSpec& g) {
    auto route_id = [](const std::string& r) { return esc("route " + r); };
    auto output_id = [](const std::string& o) { return esc("output " + o); };
    auto cluster_id = [](const std::string& l) { return esc("cluster " + l); };
    auto source_id = [&](const std::string& on) { return on == "query" ? std::string("query") : esc(on); };
    // remincross=false: the last crossing pass, over the whole graph, ignores the
    // order that the invisible edges below give each layer.
    out << "digraph moa {\n  rankdir=TB;\n  newrank=true;\n  compound=true;\n  remincross=false;\n  node [shape=box, style=\"rounded,filled\", "
           "fillcolor=\"#eef3fb\", fontname=\"Helvetica\", fontsize=10];\n  edge [color=\"#7a869a\", fontname=\"Helvetica\", fontsize=9];\n";
    out << "  query [label=\"query\", shape=oval, fillcolor=\"#fff4d6\"];\n";
    for (const auto& l : g.layers) {
        std::string caption = l.name;
        for (const auto& note : layer_notes(g, l)) caption += "\n" + note;
        out << "  subgraph " << cluster_id(l.name) << " {\n    label=" << esc(caption)
            << "; style=\"rounded,dashed\"; color=\"#9aa5b8\"; fontname=\"Helvetica\";\n";
        for (const auto& id : l.nodes) {
            const NodeSpec& n = *g.node(id);
            out << "    " << esc(id) << " [label=" << esc(node_caption(n) + "\n" + model_of(g, n)) << "];\n";
        }
        // Same rank, and left to right in declaration order: invisible edges between
        // neighbours stop graphviz from reordering a layer to save crossings.
        out << "    { rank=same; ";
        for (const auto& id : l.nodes) out << esc(id) << "; ";
        out << "}\n";
        if (l.nodes.size() > 1) {
            out << "    ";
            for (size_t k = 0; k < l.nodes.size(); ++k) out << (k ? " -> " : "") << esc(l.nodes[k]);
            out << " [style=invis];\n";
        }
        out << "  }\n";
    }
    for (const auto& r : g.routes) {
        out << "  " << route_id(r.name) << " [label=" << esc("route " + r.name) << ", shape=diamond, fillcolor=\"#fde2e2\"];\n";
        out << "  " << source_id(r.on) << " -> " << route_id(r.name) << " [style=dashed];\n";
        for (const auto& a : r.arms) {
            const LayerSpec* target = arm_target(g, a);
            if (!target || target->nodes.empty()) continue;
            out << "  " << route_id(r.name) << " -> " << esc(target->nodes.front()) << " [label=" << esc(arm_label(a))
                << ", lhead=" << cluster_id(target->name) << ", style=dashed, fontsize=9];\n";
        }
    }
    for (const auto& n : g.nodes) {
        if (n.inputs.empty()) out << "  query -> " << esc(n.id) << ";\n";
        for (const auto& in : n.inputs) out << "  " << esc(in) << " -> " << esc(n.id) << ";\n";
    }
    for (const auto& o : g.outputs) {
        out << "  " << output_id(o.name) << " [label=" << esc(o.name) << ", shape=oval, fillcolor=\"#dff5e1\"];\n";
        out << "  " << esc(o.node) << " -> " << output_id(o.name) << ";\n";
    }
    out << "}\n";
}

namespace {

// Mermaid label text inside "...": entity codes for what Mermaid or its HTML
// labels would read as syntax.
std::string mermaid_text(const std::string& s) {
    std::string r;
    for (char c : s) {
        switch (c) {
            case '"': r += "#quot;"; break;
            case '#': r += "#35;"; break;
            case '<': r += "#lt;"; break;
            case '>': r += "#gt;"; break;
            case '\n': r += ' '; break;
            default: r += c;
        }
    }
    return r;
}

}  // namespace

void dump_mermaid(std::ostream& out, const GraphSpec& g) {
    std::map<std::string, std::string> node_ids, layer_ids;  // name -> Mermaid id
    for (const auto& l : g.layers) {
        layer_ids[l.name] = "L" + std::to_string(layer_ids.size() + 1);
        for (const auto& id : l.nodes) node_ids[id] = "N" + std::to_string(node_ids.size() + 1);
    }
    auto quoted = [](const std::string& s) { return "\"" + s + "\""; };
    out << "flowchart TD\n  query([query])\n";
    for (const auto& l : g.layers) {
        std::string caption = mermaid_text(l.name);
        auto notes = layer_notes(g, l);
        for (size_t k = 0; k < notes.size(); ++k) caption += (k ? ", " : " (") + mermaid_text(notes[k]);
        if (!notes.empty()) caption += ")";
        out << "  subgraph " << layer_ids[l.name] << " [" << quoted(caption) << "]\n";
        out << "    direction LR\n";
        for (const auto& id : l.nodes) {
            const NodeSpec& n = *g.node(id);
            out << "    " << node_ids[id] << "[" << quoted(mermaid_text(node_caption(n)) + "<br/>" + mermaid_text(model_of(g, n)))
                << "]\n";
        }
        out << "  end\n";
    }
    for (size_t r = 0; r < g.routes.size(); ++r) {
        const RouteSpec& rs = g.routes[r];
        std::string rid = "R" + std::to_string(r + 1);
        out << "  " << rid << "{" << quoted(mermaid_text("route " + rs.name)) << "}\n";
        out << "  " << (rs.on == "query" ? std::string("query") : node_ids[rs.on]) << " -.-> " << rid << "\n";
        for (const auto& a : rs.arms)
            if (const LayerSpec* target = arm_target(g, a))
                out << "  " << rid << " -. " << quoted(mermaid_text(arm_label(a))) << " .-> " << layer_ids[target->name] << "\n";
    }
    for (const auto& n : g.nodes) {
        if (n.inputs.empty()) out << "  query --> " << node_ids[n.id] << "\n";
        for (const auto& in : n.inputs) out << "  " << node_ids[in] << " --> " << node_ids[n.id] << "\n";
    }
    for (size_t o = 0; o < g.outputs.size(); ++o)
        out << "  " << node_ids[g.outputs[o].node] << " --> OUT" << o + 1 << "([" << quoted(mermaid_text(g.outputs[o].name))
            << "])\n";
}

}  // namespace moa
