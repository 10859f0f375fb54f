// Checker, part 2: layers (members, replicas, repeat, inputs, fan-in),
// outputs, and the whole-graph checks (cycles, placeholders, reachability).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "checker.hpp"

namespace moa {

namespace {
std::string quote(const std::string& s) { return "'" + s + "'"; }
std::string join(const std::vector<std::string>& parts, size_t n) {
    std::string r;
    for (size_t i = 0; i < n; ++i) r += (i ? "." : "") + parts[i];
    return r;
}
uint32_t len(const Origin& o) { return o.span.end - o.span.begin; }
}  // namespace

void Checker::read_layer(LayerDraft& l) {
    read_members(l);
    const DeclRef& r = l.ref;
    const ast::Block* body = r.decl->body ? &*r.decl->body : nullptr;
    Fields f = read_fields(r, body, r.env, "layer " + quote(r.name), {"inputs", "prompt", "fan_in", "repeat", "result"});
    if (auto* v = f.get("inputs")) {
        l.has_inputs_field = true;
        std::vector<Val> ins = v->val.kind == Val::Kind::List ? v->val.items : std::vector<Val>{v->val};
        for (const auto& in : ins) {
            if (in.kind == Val::Kind::Invalid) continue;
            if (in.kind != Val::Kind::Ref || in.replicas != 1) {
                diags_.error(in.origin.file, in.origin.span.begin,
                             "'inputs' lists layers or layer.agent names, found " + std::string(kind_name(in.kind)),
                             len(in.origin));
                continue;
            }
            l.inputs.push_back({in.scoped_ref(), in.origin});
        }
    }
    if (auto* v = f.get("prompt"); v && expect_name(*v, l.prompt)) {
        l.prompt_origin = v->val.origin;
        if (!templates_.count(l.prompt)) {
            std::vector<std::string> names;
            for (auto& [n, _] : templates_) names.push_back(n);
            unknown_name(v->val.origin, "template", l.prompt, names);
            l.prompt.clear();
            l.prompt_failed = true;
        } else {
            used_templates_.insert(l.prompt);
        }
    }
    if (auto* v = f.get("fan_in")) read_fan_in(l, v->val);
    if (auto* v = f.get("result")) read_result(l, v->val);
    double rep = 1;
    if (auto* v = f.get("repeat"); v && expect_number(*v, 0, 100, true, rep, "an integer in [0, 100]"))
        l.repeat = static_cast<int>(rep);
}

// `layer NAME = [a, b * 3]`: the agents and their replica counts.
void Checker::read_members(LayerDraft& l) {
    const DeclRef& r = l.ref;
    Val members = ev_.eval(*r.decl->value, r.env);
    std::vector<Val> items;
    if (members.kind == Val::Kind::List) items = members.items;
    else items.push_back(members);
    if (members.kind == Val::Kind::List && items.empty())
        diags_.error(r.file(), r.decl->value->span.begin, "layer " + quote(r.name) + " has no agents");
    for (const auto& m : items) {
        if (m.kind == Val::Kind::Invalid) continue;
        if (m.kind != Val::Kind::Ref || m.ref.size() != 1) {
            diags_.error(m.origin.file, m.origin.span.begin,
                         "a layer lists agents (like `[a, b * 3]`), found " + std::string(kind_name(m.kind)),
                         len(m.origin));
            continue;
        }
        const std::string& a = m.ref[0];
        if (!agents_.count(a)) {
            std::vector<std::string> agent_names;
            for (auto& [n, _] : agents_) agent_names.push_back(n);
            unknown_name(m.origin, "agent", a, agent_names);
            continue;
        }
        auto dup = std::find_if(l.members.begin(), l.members.end(), [&](auto& x) { return x.agent == a; });
        if (dup != l.members.end()) {
            diags_.error(m.origin.file, m.origin.span.begin,
                         "agent " + quote(a) + " is listed twice in layer " + quote(r.name) +
                             "; write `" + a + " * n` for n samples",
                         len(m.origin))
                .notes.push_back(Diagnostics::note(dup->origin.file, dup->origin.span.begin, "first listed here"));
            continue;
        }
        if (m.replicas > 1000) {
            diags_.error(m.origin.file, m.origin.span.begin,
                         "replica count must be an integer in [1, 1000], found " + std::to_string(m.replicas), len(m.origin));
            continue;
        }
        used_agents_.insert(a);
        l.members.push_back({a, m.replicas, m.origin});
    }
}

// `fan_in = all | at_least(k) | deadline(d)`.
void Checker::read_fan_in(LayerDraft& l, const Val& x) {
    l.has_fan_in = true;
    l.fan_in_origin = x.origin;
    static const std::vector<std::string> forms = {"all", "at_least", "deadline"};
    auto bad_form = [&] {
        diags_.error(x.origin.file, x.origin.span.begin,
                     "'fan_in' is `all`, `at_least(k)` or `deadline(30s)`", len(x.origin));
    };
    if (x.kind == Val::Kind::Ref && x.ref.size() == 1 && x.ref[0] == "all") {
        l.fan_in.kind = FanInKind::All;
    } else if (x.kind == Val::Kind::Call && x.str == "at_least") {
        if (x.items.size() != 1 || x.items[0].kind != Val::Kind::Number || !x.items[0].integral ||
            x.items[0].number < 1)
            diags_.error(x.origin.file, x.origin.span.begin, "at_least(k) takes one integer k >= 1", len(x.origin));
        else {
            l.fan_in.kind = FanInKind::AtLeast;
            l.fan_in.k = static_cast<int>(std::min(x.items[0].number, 1e6));
        }
    } else if (x.kind == Val::Kind::Call && x.str == "deadline") {
        if (x.items.size() != 1 || x.items[0].kind != Val::Kind::Duration || x.items[0].ms <= 0)
            diags_.error(x.origin.file, x.origin.span.begin, "deadline(d) takes one positive duration, like deadline(30s)", len(x.origin));
        else {
            l.fan_in.kind = FanInKind::Deadline;
            l.fan_in.deadline_ms = x.items[0].ms;
        }
    } else if (x.kind == Val::Kind::Call || (x.kind == Val::Kind::Ref && x.ref.size() == 1)) {
        std::string n = x.kind == Val::Kind::Call ? x.str : x.ref[0];
        if (auto s = did_you_mean(n, forms); !s.empty())
            diags_.error(x.origin.file, x.origin.span.begin,
                         "unknown fan-in rule " + quote(n) + "; did you mean " + quote(s) + "?", static_cast<uint32_t>(n.size()));
        else bad_form();
    } else if (x.kind != Val::Kind::Invalid) {
        bad_form();
    }
}

// `result = reply` (the default: the model's answer) or `result = pick` (the answer
// names one input response by its number; that response is the result).
void Checker::read_result(LayerDraft& l, const Val& x) {
    static const std::vector<std::string> kinds = {"reply", "pick"};
    l.result_origin = x.origin;
    std::string name = x.kind == Val::Kind::Ref && x.ref.size() == 1 ? x.ref[0] : "";
    if (name == "reply" || name == "pick") {
        l.result = name == "pick" ? ResultKind::Pick : ResultKind::Reply;
    } else if (!name.empty()) {
        std::string msg = "unknown result " + quote(name);
        if (auto s = did_you_mean(name, kinds); !s.empty()) msg += "; did you mean " + quote(s) + "?";
        else msg += "; 'result' is `reply` (the model's answer) or `pick` (the input response the answer names by number)";
        diags_.error(x.origin.file, x.origin.span.begin, msg, len(x.origin));
    } else if (x.kind != Val::Kind::Invalid) {
        diags_.error(x.origin.file, x.origin.span.begin,
                     "'result' is `reply` or `pick`, found " + std::string(kind_name(x.kind)), len(x.origin));
    }
}

// The expanded graph is bounded (kMaxNodes, kMaxEdges): `a * 1000` with `repeat = 100`
// is 100,000 nodes from one line. Sizes are counted before anything is allocated, and
// the declaration that crosses a limit is reported with the running counts.
bool Checker::over_limit(const DeclRef& r, const char* what, size_t added, size_t total, size_t limit,
                         const std::string& how) {
    if (total <= limit) return false;
    auto count = [&](size_t n) { return std::to_string(n) + " " + std::string(what).substr(0, n == 1 ? std::strlen(what) - 1 : std::string::npos); };
    auto& e = diags_.error(r.file(), r.decl->name_span.begin,
                           "the graph is too large: layer " + quote(r.name) + " adds " + count(added) + " (" + how + "), making " + std::to_string(total) + ", over the limit of " +
                               std::to_string(limit) + " " + what,
                           r.decl->name_span.end - r.decl->name_span.begin);
    if (r.env->use_file)
        e.notes.push_back(Diagnostics::note(r.env->use_file, r.env->use_span.begin, "instantiated by this `use`",
                                            r.env->use_span.end - r.env->use_span.begin));
    too_large_ = true;
    return true;
}

void Checker::build_layers() {
    size_t total = 0;
    for (auto& lp : layers_) {
        LayerDraft& l = *lp;
        NoteScope notes(*this, l.ref);
        read_layer(l);
        size_t per_copy = 0;
        for (const auto& m : l.members) per_copy += static_cast<size_t>(m.replicas);
        size_t added = per_copy * static_cast<size_t>(l.repeat);
        if (over_limit(l.ref, "nodes", added, total + added, kMaxNodes,
                       std::to_string(l.repeat) + " cop" + (l.repeat == 1 ? "y" : "ies") + " of " +
                           std::to_string(per_copy) + " node" + (per_copy == 1 ? "" : "s")))
            return;
        total += added;
        for (int i = 1; i <= l.repeat; ++i)
            l.instances.push_back(l.repeat == 1 ? l.ref.name : l.ref.name + "[" + std::to_string(i) + "]");
        for (const auto& inst : l.instances) {
            instance_to_layer_[inst] = l.ref.name;
            auto& ids = instance_nodes_[inst];
            for (const auto& m : l.members) {
                for (int k = 0; k < m.replicas; ++k) {
                    NodeSpec n;
                    n.id = inst + "." + m.agent + (m.replicas > 1 ? "#" + std::to_string(k + 1) : "");
                    n.layer = inst;
                    n.agent = m.agent;
                    n.replica = k;
                    n.fan_in = l.fan_in;
                    n.result = l.result;
                    n.loc = loc(m.origin.file, m.origin.span.begin);
                    ids.push_back(n.id);
                    nodes_[n.id] = std::move(n);
                }
            }
        }
    }
}

std::vector<std::string> Checker::layer_outputs(const std::string& layer, std::set<std::string>& visiting) {
    LayerDraft& l = *layer_by_name_.at(layer);
    if (!l.instances.empty()) return instance_nodes_[l.instances.back()];
    // `repeat = 0`: the layer vanishes and passes its inputs through.
    auto cycle_error = [&] {
        if (!passthrough_cycles_.insert(layer).second) return;
        diags_.error(l.ref.file(), l.ref.decl->name_span.begin,
                     "layer " + quote(layer) + " (repeat = 0) passes its inputs through in a cycle");
    };
    // Computed once per layer, without repeats: a chain of pass-throughs that each
    // name the one before twice would otherwise double the list (and the time) at
    // every step. A result that ran into a new cycle is not kept, so that each layer
    // of the cycle is reported, once.
    if (auto memo = passthrough_.find(layer); memo != passthrough_.end()) return memo->second;
    if (!visiting.insert(layer).second) {
        cycle_error();
        return {};
    }
    size_t cycles_before = passthrough_cycles_.size();
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (const auto& in : l.inputs)
        for (auto& id : resolve_ref(in, "inputs", false, visiting))
            if (seen.insert(id).second) out.push_back(std::move(id));
    visiting.erase(layer);
    if (passthrough_cycles_.size() == cycles_before) passthrough_[layer] = out;
    return out;
}

// Resolves `layer`, `layer.agent` or `query` to node ids (empty for the query).
std::vector<std::string> Checker::resolve_ref(const InputRef& in, const std::string& field, bool single,
                                              std::set<std::string>& visiting) {
    if (in.parts.size() == 1 && in.parts[0] == "query") return {};
    size_t j = in.parts.size();
    int copy = 0;  // `r[2]`: one copy of a repeated layer
    for (; j > 0; --j) {
        std::string name = join(in.parts, j);
        if (layer_by_name_.count(name)) break;
        if (size_t b = name.find('['); b != std::string::npos && name.back() == ']' && layer_by_name_.count(name.substr(0, b))) {
            copy = std::atoi(name.c_str() + b + 1);
            break;
        }
    }
    if (j == 0) {
        if (broken_.count(in.parts[0])) return {};  // lost to a syntax error, already reported
        std::vector<std::string> names;
        for (auto& [n, _] : layer_by_name_) names.push_back(n);
        names.push_back("query");
        // `lite.propse`: the longest prefix with a close layer name is the typo.
        std::string n = in.parts[0], sug;
        for (size_t k = in.parts.size(); k > 0 && sug.empty(); --k)
            if ((sug = did_you_mean(join(in.parts, k), names)) != "") n = join(in.parts, k);
        std::string msg = "unknown layer " + quote(n) + " in " + quote(field);
        if (!sug.empty()) msg += "; did you mean " + quote(sug) + "?";
        else if (agents_.count(n)) msg += "; " + quote(n) + " is an agent: name the layer it is in";
        diags_.error(in.origin.file, in.origin.span.begin, msg, static_cast<uint32_t>(n.size()));
        return {};
    }
    std::string layer = join(in.parts, j);
    std::vector<std::string> ids;
    if (copy != 0 || layer.back() == ']') {
        layer = layer.substr(0, layer.find('['));
        const LayerDraft& l = *layer_by_name_.at(layer);
        if (copy < 1 || copy > l.repeat) {
            diags_.error(in.origin.file, in.origin.span.begin,
                         "layer " + quote(layer) + " has " + std::to_string(l.repeat) + " cop" +
                             (l.repeat == 1 ? "y" : "ies") + " (repeat = " + std::to_string(l.repeat) +
                             "); " + quote(join(in.parts, j)) + " is not one of them",
                         len(in.origin));
            return {};
        }
        ids = instance_nodes_[l.instances[static_cast<size_t>(copy) - 1]];
    } else {
        ids = layer_outputs(layer, visiting);
    }
    if (j == in.parts.size()) return ids;
    if (in.parts.size() > j + 1) {
        diags_.error(in.origin.file, in.origin.span.begin,
                     "too many parts in " + quote(join(in.parts, in.parts.size())) + "; write layer or layer.agent",
                     len(in.origin));
        return {};
    }
    const std::string& agent = in.parts[j];
    std::vector<std::string> picked, agents_here;
    for (const auto& id : ids) {
        const NodeSpec& n = nodes_.at(id);
        if (n.agent == agent) picked.push_back(id);
        agents_here.push_back(n.agent);
    }
    if (picked.empty()) {
        std::string msg = "layer " + quote(layer) + " has no agent " + quote(agent);
        if (auto s = did_you_mean(agent, agents_here); !s.empty()) msg += "; did you mean " + quote(s) + "?";
        diags_.error(in.origin.file, in.origin.span.begin, msg, len(in.origin));
    }
    (void)single;
    return picked;
}

void Checker::resolve_inputs() {
    size_t edges = 0;
    for (auto& lp : layers_) {
        LayerDraft& l = *lp;
        NoteScope notes(*this, l.ref);
        std::vector<std::string> first;
        std::set<std::string> in_first;
        for (const auto& in : l.inputs) {
            std::set<std::string> visiting;
            size_t errors_before = diags_.error_count();
            auto ids = resolve_ref(in, "inputs", false, visiting);
            // An input lost to a syntax error is as good as reported.
            if (diags_.error_count() != errors_before || broken_.count(in.parts[0])) l.inputs_failed = true;
            for (const auto& id : ids) {
                if (!in_first.insert(id).second) {
                    diags_.error(in.origin.file, in.origin.span.begin,
                                 "input " + quote(id) + " is listed more than once in layer " + quote(l.ref.name),
                                 len(in.origin));
                    continue;
                }
                first.push_back(id);
            }
        }
        size_t added = 0;
        for (size_t i = 0; i < l.instances.size(); ++i)
            added += instance_nodes_[l.instances[i]].size() * (i == 0 ? first.size() : instance_nodes_[l.instances[i - 1]].size());
        if (over_limit(l.ref, "edges", added, edges + added, kMaxEdges, "its nodes times the answers each one takes"))
            return;
        edges += added;
        for (size_t i = 0; i < l.instances.size(); ++i) {
            const std::string& inst = l.instances[i];
            std::vector<std::string> ins = i == 0 ? first : instance_nodes_[l.instances[i - 1]];
            if (i == 0) instance_inputs_[inst] = l.inputs;
            else instance_inputs_[inst] = {InputRef{{l.instances[i - 1]}, l.ref.decl->value ? Origin{l.ref.file(), l.ref.decl->name_span} : Origin{}}};
            for (const auto& id : instance_nodes_[inst]) {
                NodeSpec& n = nodes_[id];
                n.inputs = ins;
                if (!ins.empty()) n.prompt = l.prompt;
            }
        }
        size_t n_in = first.size();
        // Copies made by `repeat` take the previous copy's nodes: check k there too.
        if (l.fan_in.kind == FanInKind::AtLeast && l.instances.size() > 1 && n_in >= static_cast<size_t>(l.fan_in.k)) {
            size_t n_copy = instance_nodes_[l.instances.front()].size();
            if (static_cast<size_t>(l.fan_in.k) > n_copy)
                diags_.error(l.fan_in_origin.file, l.fan_in_origin.span.begin,
                             "at_least(" + std::to_string(l.fan_in.k) + ") but copies 2.." +
                                 std::to_string(l.instances.size()) + " of layer " + quote(l.ref.name) +
                                 " (repeat) take the previous copy's " + std::to_string(n_copy) + " answers",
                             len(l.fan_in_origin));
        }
        if (l.result == ResultKind::Pick && n_in == 0 && !l.inputs_failed)
            diags_.error(l.result_origin.file, l.result_origin.span.begin,
                         "'result = pick' picks one of the layer's input responses, but layer " + quote(l.ref.name) +
                             " has no inputs",
                         len(l.result_origin));
        if (l.has_fan_in && l.fan_in.kind != FanInKind::All && n_in == 0 && l.repeat <= 1)
            diags_.error(l.fan_in_origin.file, l.fan_in_origin.span.begin,
                         "'fan_in' needs inputs, but layer " + quote(l.ref.name) + " has none", len(l.fan_in_origin));
        else if (l.fan_in.kind == FanInKind::AtLeast && static_cast<size_t>(l.fan_in.k) > n_in && n_in > 0)
            diags_.error(l.fan_in_origin.file, l.fan_in_origin.span.begin,
                         "at_least(" + std::to_string(l.fan_in.k) + ") but layer " + quote(l.ref.name) +
                             " has only " + std::to_string(n_in) + " input" + (n_in == 1 ? "" : "s"),
                         len(l.fan_in_origin));
    }
}

void Checker::build_outputs() {
    for (auto& [name, r] : outputs_decl_) {
        NoteScope notes(*this, r);
        Val v = ev_.eval(*r.decl->value, r.env);
        if (v.kind != Val::Kind::Ref) {
            if (v.kind != Val::Kind::Invalid)
                diags_.error(r.file(), v.origin.span.begin, "an output names a layer or layer.agent", len(v.origin));
            continue;
        }
        std::set<std::string> visiting;
        size_t errors_before = diags_.error_count();
        auto ids = resolve_ref({v.scoped_ref(), v.origin}, "output", true, visiting);
        if (v.ref.size() == 1 && v.ref[0] == "query") {
            diags_.error(r.file(), v.origin.span.begin, "an output names a layer, not the query", len(v.origin));
            continue;
        }
        if (ids.size() > 1) {
            diags_.error(r.file(), v.origin.span.begin,
                         "output " + quote(name) + " needs one answer, but " + quote(v.ref_text()) + " has " +
                             std::to_string(ids.size()) + " agents; add an aggregator layer or name one agent",
                         len(v.origin));
            continue;
        }
        if (ids.empty()) {
            auto target = layer_by_name_.find(join(v.scoped_ref(), v.scoped_ref().size()));
            if (diags_.error_count() == errors_before && target != layer_by_name_.end() && target->second->repeat == 0)
                diags_.error(r.file(), v.origin.span.begin,
                             "output " + quote(name) + " has no answer: " + quote(v.ref_text()) +
                                 " has repeat = 0 and passes through only the query",
                             len(v.origin));
            continue;
        }
        g_.outputs.push_back({name, ids[0], loc(r.file(), r.decl->name_span.begin)});
    }
    bool main_layers = std::any_of(layers_.begin(), layers_.end(), [](auto& l) { return l->ref.main; });
    if (main_layers && outputs_decl_.empty() && !judge_declared_) {  // a judge's verdict is its result
        auto& first = *std::find_if(layers_.begin(), layers_.end(), [](auto& l) { return l->ref.main; });
        diags_.error(first->ref.file(), first->ref.decl->name_span.begin,
                     "the graph has layers but no output; add `output answer = LAYER`",
                     first->ref.decl->name_span.end - first->ref.decl->name_span.begin);
    }
}

}  // namespace moa
