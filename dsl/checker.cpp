// Checker, part 1: symbol tables, topology instantiation, and the leaf
// declarations (backends, templates, agents); the passes in order (run).
#include "checker.hpp"

#include <algorithm>
#include <cmath>

#include "moa/ascii.hpp"

namespace moa {

namespace {
// answer, answer_a, answer_b: a judge's job variables (checked in checker_judge.cpp).
const std::vector<std::string> kPlaceholders = {"query", "responses", "count", "agent", "model", "layer",
                                                "answer", "answer_a", "answer_b"};

std::string quote(const std::string& s) { return "'" + s + "'"; }
std::string article(const std::string& word) {
    return (std::string("aeiou").find(word.empty() ? 'x' : word[0]) != std::string::npos ? "an " : "a ") + word;
}

}  // namespace

SourceLoc Checker::loc(const std::shared_ptr<const SourceFile>& f, uint32_t off) const {
    if (!f) return {};
    LineCol lc = f->locate(off);
    return {f->path(), lc.line, lc.col};
}

// Diagnostics from a declaration of an instantiated topology get a note at the other
// side: an error in the topology's text points back at the user's `use`, an error in
// a `use` argument points at the declaration that used it.
void Checker::note_instance(size_t first_diag, const DeclRef& r) {
    const Env& env = *r.env;
    if (!env.use_file) return;
    for (size_t i = first_diag; i < diags_.all().size(); ++i) {
        Diagnostic& d = diags_.at(i);
        bool in_use = d.file == env.use_file && d.offset >= env.use_decl_span.begin && d.offset < env.use_decl_span.end;
        Diagnostic n = in_use ? note_at(r, "used by " + r.decl->keyword + " " + quote(r.decl->name) +
                                               " of topology " + quote(env.topology))
                              : Diagnostics::note(env.use_file, env.use_span.begin,
                                                  "in topology " + quote(env.topology) + ", instantiated here",
                                                  env.use_span.end - env.use_span.begin);
        bool dup = std::any_of(d.notes.begin(), d.notes.end(), [&](const Diagnostic& x) {
            return in_use ? x.file == r.file() : x.file == n.file && x.offset == n.offset;
        });
        if (!dup) d.notes.push_back(std::move(n));
    }
}

Diagnostic Checker::note_at(const DeclRef& r, const std::string& msg) const {
    return Diagnostics::note(r.file(), r.decl->name_span.begin, msg,
                             r.decl->name_span.end - r.decl->name_span.begin);
}

void Checker::unknown_name(const Origin& at, const std::string& kind, const std::string& name,
                           const std::vector<std::string>& candidates) {
    if (broken_.count(name)) return;  // its declaration had a syntax error, already reported
    std::string msg = "unknown " + kind + " " + quote(name);
    if (auto s = did_you_mean(name, candidates); !s.empty()) msg += "; did you mean " + quote(s) + "?";
    else if ((kind == "template" || kind == "topology") && in_unimported_stdlib(name))
        msg += "; it is in the standard library: add `import \"moa.moa\"`";
    diags_.error(at.file, at.span.begin, msg, at.span.end - at.span.begin);
}

// ---- symbol tables ---------------------------------------------------------------

bool Checker::check_shape(const DeclRef& r) {
    const ast::Decl& d = *r.decl;
    const std::string& k = d.keyword;
    auto bad = [&](uint32_t at, const std::string& msg) {
        diags_.error(r.file(), at, msg);
        return false;
    };
    bool wants_value = k == "template" || k == "layer" || k == "output" || k == "param";
    bool wants_body = k == "backend" || k == "agent" || k == "route" || k == "topology" || k == "verdict" ||
                      k == "price";
    bool wants_params = k == "topology" || k == "use";
    if (wants_value && !d.value) {
        const char* form = k == "template" ? "template NAME = \"\"\"...\"\"\""
                           : k == "layer"  ? "layer NAME = [agent, ...] { ... }"
                           : k == "param"  ? "param NAME = default"
                                           : "output NAME = layer";
        return bad(d.name_span.end, "expected '=' after " + k + " " + quote(d.name) + " (write `" + form + "`)");
    }
    if (!wants_value && d.value && k != "use")
        return bad(d.value->span.begin, article(k) + " takes no '= value'; its fields go in { ... }");
    if (wants_body && !d.body)
        return bad(d.name_span.end, "expected '{' after " + k + " " + quote(d.name));
    if (!wants_body && d.body && k != "layer")
        return bad(d.body->span.begin, article(k) + " takes no { ... } block");
    if (wants_params && !d.has_params)
        return bad(d.name_span.end, "expected '(' after " + k + " " + quote(d.name));
    if (!wants_params && d.has_params)
        return bad(d.name_span.end, article(k) + " takes no parameters");
    if (!d.alias.empty() && k != "use") return bad(d.alias_span.begin, "only `use` takes `as NAME`");
    return true;
}

void Checker::collect_decl(const ast::Decl& d, const std::shared_ptr<const Env>& env, bool main) {
    if (d.keyword == "import" || d.keyword == "param") return;  // params: collect_params()
    DeclRef r{&d, env, env->prefix + d.name, main};
    if (d.keyword == "verdict") judge_declared_ = true;  // even a malformed one: no "no output" noise
    if (!check_shape(r)) return;
    // `inputs = query`, `on = query` and `output x = query` always mean the user's query:
    // a layer of that name could never be named, and the diagnostics about it would
    // mislead ("receives no responses"). Agents, outputs and routes share the one rule.
    bool graph_name = d.keyword == "layer" || d.keyword == "agent" || d.keyword == "output" || d.keyword == "route";
    if (graph_name && d.name == "query") {
        diags_.error(r.file(), d.name_span.begin, "'query' is reserved: it names the user's query in inputs; choose another name",
                     d.name_span.end - d.name_span.begin);
        if (d.keyword == "layer") return;  // it could not be referred to anyway
    }
    std::map<std::string, DeclRef>* table = nullptr;
    if (d.keyword == "backend") table = &backends_;
    else if (d.keyword == "template") table = &templates_;
    else if (d.keyword == "agent") table = &agents_;
    else if (d.keyword == "topology") table = &topologies_;
    else if (d.keyword == "route") table = &routes_decl_;
    else if (d.keyword == "output") table = &outputs_decl_;
    else if (d.keyword == "use") {
        uses_.push_back(r);
        return;
    } else if (d.keyword == "verdict") {
        verdicts_.push_back(r);
        return;
    } else if (d.keyword == "price") {
        prices_.push_back(r);
        return;
    } else if (d.keyword == "layer") {
        if (auto it = layer_by_name_.find(r.name); it != layer_by_name_.end()) {
            auto& e = diags_.error(r.file(), d.name_span.begin, "duplicate layer " + quote(r.name),
                                   d.name_span.end - d.name_span.begin);
            e.notes.push_back(note_at(it->second->ref, "first defined here"));
            add_use_notes(e, it->second->ref, r);
            return;
        }
        auto l = std::make_unique<LayerDraft>();
        l->ref = r;
        layer_by_name_[r.name] = l.get();
        layers_.push_back(std::move(l));
        return;
    }
    if (auto it = table->find(r.name); it != table->end()) {
        auto& e = diags_.error(r.file(), d.name_span.begin, "duplicate " + d.keyword + " " + quote(r.name),
                               d.name_span.end - d.name_span.begin);
        e.notes.push_back(note_at(it->second, "first defined here"));
        add_use_notes(e, it->second, r);
        return;
    }
    (*table)[r.name] = r;
}

// Names clashing between topology instances: point at the `use` lines, the user's
// own text, rather than only into the topology's file.
void Checker::add_use_notes(Diagnostic& e, const DeclRef& first, const DeclRef& second) {
    for (const DeclRef* r : {&first, &second}) {
        if (!r->env->use_file) continue;
        e.notes.push_back(Diagnostics::note(r->env->use_file, r->env->use_span.begin,
                                            "instantiated by this `use`; give instances distinct names with `as NAME`",
                                            r->env->use_span.end - r->env->use_span.begin));
    }
}

void Checker::collect() {
    collect_params();
    for (auto& f : files_) {
        auto env = std::make_shared<Env>();
        env->file = f->src;
        for (const auto& p : params_)  // every top-level scope sees the graph's params
            env->params[p->spec.name] = {p->expr, p->env, p->env->file, true};
        for (const auto& d : f->ast.decls) collect_decl(d, env, f->main);
    }
    for (const auto& u : uses_) instantiate(u);
}

// `use moa(proposers = [...], aggregator = q) as paper`: binds the arguments and
// collects the topology's body declarations in a scope of their own.
void Checker::instantiate(const DeclRef& use) {
    const ast::Decl& u = *use.decl;
    auto it = topologies_.find(u.name);
    Origin at{use.file(), u.name_span};
    if (it == topologies_.end()) {
        std::vector<std::string> names;
        for (auto& [n, _] : topologies_) names.push_back(n);
        unknown_name(at, "topology", u.name, names);
        return;
    }
    used_topologies_.insert(u.name);
    const ast::Decl& t = *it->second.decl;
    auto env = std::make_shared<Env>();
    env->file = it->second.file();
    env->prefix = u.alias.empty() ? "" : u.alias + ".";
    env->use_file = use.file();
    env->use_span = u.name_span;
    env->use_decl_span = u.span;
    env->topology = u.name;
    std::vector<std::string> param_names;
    for (const auto& p : t.params) param_names.push_back(p.name);
    for (const auto& a : u.params) {
        if (!a.value) {
            diags_.error(use.file(), a.span.begin, "argument " + quote(a.name) + " needs a value (`" + a.name + " = ...`); topology arguments are named",
                         static_cast<uint32_t>(a.name.size()));
            if (std::find(param_names.begin(), param_names.end(), a.name) != param_names.end())
                env->params[a.name] = {nullptr, nullptr, use.file()};  // reported: no follow-on errors
            continue;
        }
        if (std::find(param_names.begin(), param_names.end(), a.name) == param_names.end()) {
            unknown_name({use.file(), a.span}, "parameter of topology " + quote(u.name) + ":", a.name, param_names);
            continue;
        }
        if (env->params.count(a.name)) {
            diags_.error(use.file(), a.span.begin, "argument " + quote(a.name) + " given twice");
            continue;
        }
        env->params[a.name] = {&*a.value, use.env, use.file()};
    }
    for (const auto& p : t.params) {
        if (env->params.count(p.name)) continue;
        if (!p.value) {
            diags_.error(use.file(), u.name_span.begin,
                         "missing argument " + quote(p.name) + " for topology " + quote(u.name),
                         u.name_span.end - u.name_span.begin)
                .notes.push_back(Diagnostics::note(it->second.file(), p.span.begin, "parameter declared here",
                                                   static_cast<uint32_t>(p.name.size())));
            env->params[p.name] = {nullptr, nullptr, env->file};  // uses of it stay quiet
            continue;
        }
        env->params[p.name] = {&*p.value, nullptr, env->file};  // defaults see the other params
    }
    for (const auto& item : t.body->items) {
        if (item.kind == ast::Item::Kind::Decl) env->local_names.push_back(item.decl->name);
    }
    for (const auto& item : t.body->items) {
        if (item.kind != ast::Item::Kind::Decl) {
            diags_.error(env->file, item.span().begin,
                         "a topology body holds layer, route, output and verdict declarations");
            continue;
        }
        const std::string& k = item.decl->keyword;
        if (k != "layer" && k != "route" && k != "output" && k != "verdict") {
            diags_.error(env->file, item.decl->keyword_span.begin,
                         article(k) + " cannot be declared inside a topology; declare it at the top level",
                         item.decl->keyword_span.end - item.decl->keyword_span.begin);
            continue;
        }
        collect_decl(*item.decl, env, use.main);
    }
}

// ---- backends, templates, agents ------------------------------------------------

void Checker::check_templates() {
    for (auto& entry : templates_) {
        // Plain references (not structured bindings): lambdas below capture them.
        const std::string& name = entry.first;
        const DeclRef& r = entry.second;
        Val v = ev_.eval(*r.decl->value, r.env);
        TemplateSpec t;
        t.name = name;
        t.loc = loc(r.file(), r.decl->name_span.begin);
        if (v.kind != Val::Kind::String) {
            if (v.kind != Val::Kind::Invalid)
                diags_.error(r.file(), r.decl->value->span.begin,
                             "a template is text (a string or a \"\"\"text block\"\"\"), found " +
                                 std::string(kind_name(v.kind)));
            continue;
        }
        t.text = v.str;
        std::vector<Placeholder> ph;
        std::string err;
        size_t at = 0;
        uint32_t base = r.decl->value->span.begin;
        const std::string& src = r.file()->text();
        auto src_offset = [&](const std::string& needle) {
            size_t p = src.find(needle, base);
            return static_cast<uint32_t>(p == std::string::npos || p > r.decl->value->span.end ? base : p);
        };
        if (!find_placeholders(t.text, ph, err, at)) {
            diags_.error(r.file(), src_offset(t.text.substr(at, 2 + std::min<size_t>(20, t.text.size() - at - 2))), err, 2);
        }
        for (const auto& p : ph) {
            if (std::find(kPlaceholders.begin(), kPlaceholders.end(), p.name) == kPlaceholders.end()) {
                std::string raw = t.text.substr(p.offset, t.text.find("}}", p.offset) + 2 - p.offset);
                std::string msg = "unknown placeholder {{" + p.name + "}} in template " + quote(name);
                if (auto s = did_you_mean(p.name, kPlaceholders); !s.empty()) msg += "; did you mean {{" + s + "}}?";
                else msg += " (known: query, responses, count, agent, model, layer)";
                diags_.error(r.file(), src_offset(raw), msg, static_cast<uint32_t>(raw.size()));
                continue;
            }
            if (std::find(t.placeholders.begin(), t.placeholders.end(), p.name) == t.placeholders.end())
                t.placeholders.push_back(p.name);
        }
        g_.templates.push_back(std::move(t));
    }
}

void Checker::check_agents() {
    std::vector<std::string> backend_names, template_names;
    for (auto& [n, _] : backends_) backend_names.push_back(n);
    for (auto& [n, _] : templates_) template_names.push_back(n);
    for (auto& entry : agents_) {
        const std::string& name = entry.first;
        const DeclRef& r = entry.second;
        static const std::vector<std::string> allowed = {"backend", "model", "temperature", "top_p", "max_tokens",
                                                         "seed", "stop", "system", "user", "fallback", "timeouts"};
        Fields f = read_fields(r, &*r.decl->body, r.env, "agent " + quote(name), allowed);
        apply_overrides(r, f, allowed, "agent " + quote(name));
        AgentSpec a;
        a.name = name;
        a.loc = loc(r.file(), r.decl->name_span.begin);
        auto missing = [&](const char* field) {
            diags_.error(r.file(), r.decl->name_span.begin,
                         "agent " + quote(name) + " has no " + quote(field),
                         r.decl->name_span.end - r.decl->name_span.begin);
        };
        if (auto* v = f.get("backend"); v && expect_name(*v, a.backend)) {
            if (!backends_.count(a.backend)) unknown_name(v->val.origin, "backend", a.backend, backend_names);
            else used_backends_.insert(a.backend);
        } else if (!v) missing("backend");
        if (auto* v = f.get("model"); v && expect_string(*v, a.model)) {
            if (a.model.empty()) diags_.error(v->val.origin.file, v->val.origin.span.begin, "'model' is empty");
        } else if (!v) missing("model");
        double x = 0;
        if (auto* v = f.get("temperature"); v && expect_number(*v, 0, 2, false, x, "in [0, 2]")) a.temperature = x;
        if (auto* v = f.get("top_p"); v && expect_number(*v, 0, 1, false, x, "in [0, 1]")) a.top_p = x;
        if (auto* v = f.get("max_tokens"); v && expect_number(*v, 1, 10'000'000, true, x, "an integer > 0"))
            a.max_tokens = static_cast<int64_t>(x);
        if (auto* v = f.get("seed"); v && expect_number(*v, 0, 9.0e15, true, x, "a non-negative integer"))
            a.seed = static_cast<int64_t>(x);
        if (auto* v = f.get("stop")) {
            if (v->val.kind == Val::Kind::String) a.stop.push_back(v->val.str);
            else if (v->val.kind != Val::Kind::List) type_error(diags_, *v, "a string or a list of strings");
            else
                for (const auto& s : v->val.items) {
                    if (s.kind == Val::Kind::String) a.stop.push_back(s.str);
                    else if (s.kind != Val::Kind::Invalid)
                        diags_.error(s.origin.file, s.origin.span.begin, "'stop' items must be strings");
                }
        }
        for (const char* key : {"system", "user"}) {
            auto* v = f.get(key);
            std::string t;
            if (!v || !expect_name(*v, t)) continue;
            if (!templates_.count(t)) unknown_name(v->val.origin, "template", t, template_names);
            else {
                used_templates_.insert(t);
                (std::string(key) == "system" ? a.system : a.user) = t;
            }
        }
        if (auto* v = f.get("timeouts")) read_timeouts(*v, a.timeouts);
        g_.agents.push_back(std::move(a));
    }
    // Fallbacks refer to other agents: resolve once all agents are known.
    std::vector<std::string> agent_names;
    for (auto& [n, _] : agents_) agent_names.push_back(n);
    for (auto& a : g_.agents) {
        const DeclRef& r = agents_.at(a.name);
        for (const auto& item : r.decl->body->items) {
            if (item.kind != ast::Item::Kind::Field || item.field.key != "fallback") continue;
            FieldVal fv{ev_.eval(item.field.value, r.env), &item.field, r.file()};
            std::string fb;
            if (!expect_name(fv, fb)) continue;
            if (fb == a.name) diags_.error(r.file(), fv.val.origin.span.begin, "an agent cannot be its own fallback");
            else if (!agents_.count(fb)) unknown_name(fv.val.origin, "agent", fb, agent_names);
            else {
                a.fallback = fb;
                used_agents_.insert(fb);
            }
        }
    }
}

LoadResult Checker::run(const std::string& path, std::string text) {
    std::vector<std::string> stack;
    set_roots(path);
    load(path, std::move(text), true, stack);
    load_price_table();
    collect();
    parse_overrides();
    check_backends();
    check_templates();
    check_agents();
    check_prices();
    build_layers();
    if (!too_large_) build_routes();
    if (!too_large_) resolve_inputs();
    if (!too_large_) build_outputs();
    if (!too_large_) build_verdict();
    if (!too_large_) check_cycles_and_order();
    if (!cyclic_ && !too_large_) {
        check_placeholders();
        check_judge_placeholders();
        check_reachability_and_use();
    }
    emit_params();
    trim_prices();
    diags_.sort();
    LoadResult r;
    r.ok = diags_.error_count() == 0;
    r.graph = std::move(g_);
    return r;
}

}  // namespace moa
