// Checker, part 3: whole-graph checks (cycles with the cycle printed, template
// placeholders against what each node receives, reachability, unused
// declarations) and the final IR in dependency order.
#include <algorithm>
#include <functional>

#include "checker.hpp"

namespace moa {

namespace {
std::string quote(const std::string& s) { return "'" + s + "'"; }
}  // namespace

// Dependencies between layer instances: inputs, and a gate's classifier.
std::map<std::string, std::vector<std::string>> Checker::instance_deps(const std::vector<std::string>& instances) {
    std::map<std::string, std::vector<std::string>> deps;
    std::map<std::string, std::string> route_on;
    for (const auto& r : g_.routes) route_on[r.name] = r.on;
    for (const auto& inst : instances) {
        auto& d = deps[inst];
        for (const auto& id : instance_nodes_[inst])
            for (const auto& in : nodes_[id].inputs) d.push_back(nodes_[in].layer);
        if (auto g = gate_of_.find(inst); g != gate_of_.end()) {
            const std::string& on = route_on[g->second];
            if (!on.empty() && on != "query") d.push_back(nodes_[on].layer);
        }
        std::sort(d.begin(), d.end());
        d.erase(std::unique(d.begin(), d.end()), d.end());
    }
    return deps;
}

// cyc[i] takes input from cyc[i + 1]: the error prints the data flow, upstream first,
// at the layer of w, with a note at each input that closes the cycle.
void Checker::report_cycle(const std::vector<std::string>& cyc, const std::string& w) {
    std::vector<std::string> flow(cyc.rbegin(), cyc.rend());
    std::string text;
    for (const auto& c : flow) text += c + " -> ";
    text += flow.front();
    const LayerDraft& l = *layer_by_name_.at(instance_to_layer_.at(w));
    auto& diag = diags_.error(l.ref.file(), l.ref.decl->name_span.begin,
                              "cycle in the graph: " + text,
                              l.ref.decl->name_span.end - l.ref.decl->name_span.begin);
    for (size_t i = 0; i < flow.size(); ++i) {
        const std::string& from = flow[i];
        const std::string& to = flow[(i + 1) % flow.size()];
        const std::string& from_layer = instance_to_layer_.at(from);
        for (const auto& in : instance_inputs_[to]) {
            std::string ref;
            for (const auto& p : in.parts) ref += (ref.empty() ? "" : ".") + p;
            if (!in.origin.file || (ref != from && ref != from_layer && ref.rfind(from_layer + ".", 0) != 0))
                continue;
            diag.notes.push_back(Diagnostics::note(in.origin.file, in.origin.span.begin,
                                                   quote(to) + " takes input from " + quote(from) + " here",
                                                   in.origin.span.end - in.origin.span.begin));
            break;
        }
    }
}

void Checker::check_cycles_and_order() {
    std::vector<std::string> instances;
    for (auto& lp : layers_)
        for (const auto& inst : lp->instances) instances.push_back(inst);
    std::map<std::string, std::vector<std::string>> deps = instance_deps(instances);
    std::map<std::string, int> color;  // 0 new, 1 on stack, 2 done
    std::vector<std::string> stack;
    std::set<std::set<std::string>> reported;
    std::function<void(const std::string&)> visit = [&](const std::string& v) {
        color[v] = 1;
        stack.push_back(v);
        for (const auto& w : deps[v]) {
            if (color[w] == 1) {
                auto start = std::find(stack.begin(), stack.end(), w);
                std::vector<std::string> cyc(start, stack.end());
                std::set<std::string> key(cyc.begin(), cyc.end());
                cyclic_ = true;
                if (reported.insert(key).second) report_cycle(cyc, w);
            } else if (color[w] == 0) {
                visit(w);
            }
        }
        stack.pop_back();
        color[v] = 2;
        order_.push_back(v);
    };
    // Depth is bounded by the number of layer instances; deep chains are expected to
    // stay in the thousands, which the default stack handles.
    for (const auto& inst : instances)
        if (color[inst] == 0) visit(inst);
    if (cyclic_) return;
    emit_layers();
}

// The IR's layers and nodes, in dependency order.
void Checker::emit_layers() {
    for (const auto& inst : order_) {
        const LayerDraft& l = *layer_by_name_.at(instance_to_layer_.at(inst));
        LayerSpec ls;
        ls.name = inst;
        ls.nodes = instance_nodes_[inst];
        ls.loc = loc(l.ref.file(), l.ref.decl->name_span.begin);
        if (auto g = gate_of_.find(inst); g != gate_of_.end()) ls.gate_route = g->second;
        for (const auto& id : ls.nodes) g_.nodes.push_back(nodes_[id]);
        g_.layers.push_back(std::move(ls));
    }
}

// The templates a layer's nodes render: its prompt, and its agents' system and user.
std::vector<Checker::TemplateUse> Checker::template_uses(const LayerDraft& l,
                                                         const std::map<std::string, const AgentSpec*>& agent_by_name) {
    std::vector<TemplateUse> uses;
    if (!l.prompt.empty()) uses.push_back({l.prompt, l.prompt_origin, true});
    for (const auto& m : l.members) {
        auto ai = agent_by_name.find(m.agent);
        if (ai == agent_by_name.end()) continue;
        const AgentSpec* a = ai->second;
        const DeclRef& ar = agents_.at(m.agent);
        // Point at the `system = ...` / `user = ...` field, where the template is attached.
        auto field_at = [&](const char* key) {
            for (const auto& item : ar.decl->body->items)
                if (item.kind == ast::Item::Kind::Field && item.field.key == key)
                    return Origin{ar.file(), item.field.value.span};
            return Origin{ar.file(), ar.decl->name_span};
        };
        if (!a->system.empty()) uses.push_back({a->system, field_at("system"), false});
        if (!a->user.empty()) uses.push_back({a->user, field_at("user"), false});
    }
    return uses;
}

// One template against what the layer receives; each (template, layer) pair is reported once.
void Checker::check_template_use(const TemplateUse& u, const TemplateSpec& t, const LayerDraft& l, bool any_inputs,
                                 std::set<std::pair<std::string, std::string>>& reported) {
    auto uses_ph = [&](const char* ph) {
        return std::find(t.placeholders.begin(), t.placeholders.end(), ph) != t.placeholders.end();
    };
    bool shows = uses_ph("responses");
    bool wants = shows || uses_ph("count");
    if (wants && !any_inputs && reported.insert({u.templ, l.ref.name}).second) {
        diags_.error(u.at.file, u.at.span.begin,
                     "template " + quote(u.templ) + " uses {{" + (shows ? "responses" : "count") +
                         "}}, but layer " + quote(l.ref.name) +
                         " receives no responses (it has no inputs)",
                     u.at.span.end - u.at.span.begin)
            .notes.push_back(note_at(templates_.at(u.templ), "template defined here"));
    }
    if (u.is_prompt && any_inputs && !shows && l.result == ResultKind::Pick &&
        reported.insert({u.templ, l.ref.name}).second) {  // the numbers are the answer's vocabulary
        diags_.error(u.at.file, u.at.span.begin,
                     "prompt " + quote(u.templ) + " has no {{responses}}, but layer " + quote(l.ref.name) +
                         " has `result = pick`: its agents must see the numbered responses to name one",
                     u.at.span.end - u.at.span.begin)
            .notes.push_back(note_at(templates_.at(u.templ), "template defined here"));
    }
    if (u.is_prompt && any_inputs && !shows && reported.insert({u.templ, l.ref.name}).second) {
        diags_.warning(u.at.file, u.at.span.begin,
                       "prompt " + quote(u.templ) + " has no {{responses}}: layer " + quote(l.ref.name) +
                           " would not show its inputs to its agents",
                       u.at.span.end - u.at.span.begin)
            .notes.push_back(note_at(templates_.at(u.templ), "template defined here"));
    }
}

void Checker::check_placeholders() {
    std::set<std::pair<std::string, std::string>> reported;  // (template, layer)
    std::map<std::string, const AgentSpec*> agent_by_name;
    std::map<std::string, const TemplateSpec*> templ_by_name;
    for (const auto& a : g_.agents) agent_by_name[a.name] = &a;
    for (const auto& t : g_.templates) templ_by_name[t.name] = &t;
    for (auto& lp : layers_) {
        const LayerDraft& l = *lp;
        NoteScope notes(*this, l.ref);
        if (l.instances.empty()) continue;
        const NodeSpec* first = nullptr;
        for (const auto& inst : l.instances)
            for (const auto& id : instance_nodes_[inst])
                if (!first || (!nodes_[id].inputs.empty() && first->inputs.empty())) first = &nodes_[id];
        if (!first) continue;
        bool any_inputs = !first->inputs.empty();
        if (l.inputs_failed && !any_inputs) continue;  // already reported: its inputs did not resolve
        if (any_inputs && l.prompt.empty() && !l.prompt_failed) {
            const Origin at{l.ref.file(), l.ref.decl->name_span};
            diags_.error(at.file, at.span.begin,
                         "layer " + quote(l.ref.name) +
                             " has inputs but no 'prompt' to show them with; add `prompt = aggregate` "
                             "(import \"moa.moa\" for the standard one)",
                         at.span.end - at.span.begin);
        }
        for (const auto& u : template_uses(l, agent_by_name)) {
            auto ti = templ_by_name.find(u.templ);
            if (ti != templ_by_name.end()) check_template_use(u, *ti->second, l, any_inputs, reported);
        }
    }
}

void Checker::check_reachability_and_use() {
    // Everything an output needs: inputs, transitively, and the classifiers of routes
    // gating the layers on the way.
    std::set<std::string> needed;
    std::vector<std::string> work;
    std::map<std::string, std::string> route_on;
    for (const auto& r : g_.routes) route_on[r.name] = r.on;
    for (const auto& o : g_.outputs) work.push_back(o.node);
    while (!work.empty()) {
        std::string id = work.back();
        work.pop_back();
        if (!needed.insert(id).second) continue;
        const NodeSpec& n = nodes_[id];
        for (const auto& in : n.inputs) work.push_back(in);
        if (auto g = gate_of_.find(n.layer); g != gate_of_.end()) {
            const std::string& on = route_on[g->second];
            if (!on.empty() && on != "query") work.push_back(on);
        }
    }
    // Routes whose branches are needed are needed too (their other branches run instead).
    for (auto& lp : layers_) {
        const LayerDraft& l = *lp;
        if (!l.ref.main || l.instances.empty()) continue;
        bool reaches = false;
        for (const auto& inst : l.instances)
            for (const auto& id : instance_nodes_[inst]) reaches = reaches || needed.count(id);
        if (!reaches && !g_.outputs.empty())
            diags_.warning(l.ref.file(), l.ref.decl->name_span.begin,
                           "layer " + quote(l.ref.name) + " does not reach any output",
                           l.ref.decl->name_span.end - l.ref.decl->name_span.begin);
    }
    std::set<std::string> agents_in_nodes;
    for (const auto& n : g_.nodes) agents_in_nodes.insert(n.agent);
    auto warn_unused = [&](const std::map<std::string, DeclRef>& table, const std::set<std::string>& used,
                           const std::string& what) {
        for (const auto& [name, r] : table) {
            if (!r.main || used.count(name)) continue;
            diags_.warning(r.file(), r.decl->name_span.begin, what + " " + quote(name) + " is never used",
                           r.decl->name_span.end - r.decl->name_span.begin);
        }
    };
    // A library file (no layers, no `use`) defines things for others to use; and a
    // file with syntax errors lost declarations that would have used things.
    bool graph_file = !uses_.empty() || std::any_of(layers_.begin(), layers_.end(), [](auto& l) { return l->ref.main; });
    // After errors, "never used" is mostly noise: a misspelt reference makes its
    // target look unused. Fix the errors first; the warnings come back if still true.
    if (!graph_file || syntax_errors_ || diags_.error_count() > 0) return trim_ir(agents_in_nodes);
    warn_unused(agents_, used_agents_, "agent");
    warn_unused(templates_, used_templates_, "template");
    warn_unused(backends_, used_backends_, "backend");
    warn_unused(topologies_, used_topologies_, "topology");

    trim_ir(agents_in_nodes);
}

// The IR keeps only what the nodes use, so a graph importing a library of
// templates and agents is not cluttered with the unused ones.
void Checker::trim_ir(const std::set<std::string>& agents_in_nodes) {
    std::set<std::string> keep_agents = agents_in_nodes;
    for (const auto& a : g_.agents)
        if (keep_agents.count(a.name) && !a.fallback.empty()) keep_agents.insert(a.fallback);
    std::erase_if(g_.agents, [&](const AgentSpec& a) { return !keep_agents.count(a.name); });
    std::set<std::string> keep_templates, keep_backends;
    for (const auto& a : g_.agents) {
        keep_backends.insert(a.backend);
        if (!a.system.empty()) keep_templates.insert(a.system);
        if (!a.user.empty()) keep_templates.insert(a.user);
    }
    for (const auto& n : g_.nodes)
        if (!n.prompt.empty()) keep_templates.insert(n.prompt);
    std::erase_if(g_.templates, [&](const TemplateSpec& t) { return !keep_templates.count(t.name); });
    std::erase_if(g_.backends, [&](const BackendSpec& b) { return !keep_backends.count(b.name); });
}

// ---- GraphSpec lookups ------------------------------------------------------------

template <typename T>
static const T* find_named(const std::vector<T>& v, const std::string& name) {
    for (const auto& x : v)
        if (x.name == name) return &x;
    return nullptr;
}

const BackendSpec* GraphSpec::backend(const std::string& n) const { return find_named(backends, n); }
const AgentSpec* GraphSpec::agent(const std::string& n) const { return find_named(agents, n); }
const TemplateSpec* GraphSpec::templ(const std::string& n) const { return find_named(templates, n); }
const NodeSpec* GraphSpec::node(const std::string& id) const {
    for (const auto& x : nodes)
        if (x.id == id) return &x;
    return nullptr;
}

const char* to_string(BackendKind k) {
    switch (k) {
        case BackendKind::OpenAI: return "openai";
        case BackendKind::Anthropic: return "anthropic";
        case BackendKind::Ollama: return "ollama";
        case BackendKind::Sim: return "sim";
    }
    return "?";
}

}  // namespace moa
