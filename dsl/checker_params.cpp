// Checker, graph parameters: `param NAME = default` at the top level of a graph file,
// and `--param NAME=value` replacing the default. Every top-level scope sees the
// params (collect() binds them like topology arguments), so a param is usable wherever
// an expression is and gets the usual checks at each place it is used.
#include <algorithm>

#include "checker.hpp"
#include "parser.hpp"

namespace moa {

namespace {

std::string quote(const std::string& s) { return "'" + s + "'"; }

std::string span_text(const SourceFile& f, ast::Span s) { return f.text().substr(s.begin, s.end - s.begin); }

// Words a field value may hold that a param of that name would capture.
const std::vector<std::string> kReservedWords = {"query", "all", "reply", "pick", "openai", "anthropic",
                                                 "ollama", "sim", "majority", "mean"};

// The kind a param has, for comparing a --param value with the default: a name and a
// list are both "agents" (`proposers = a` or `[a, b]`).
bool same_kind(Val::Kind a, Val::Kind b) {
    auto agents = [](Val::Kind k) { return k == Val::Kind::Ref || k == Val::Kind::List; };
    return a == b || (agents(a) && agents(b));
}

}  // namespace

std::optional<std::pair<std::string, std::string>> split_param_arg(std::string_view arg) {
    size_t eq = arg.find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    return std::pair<std::string, std::string>{std::string(arg.substr(0, eq)), std::string(arg.substr(eq + 1))};
}

std::vector<std::string> split_vary_values(std::string_view values) {
    std::vector<std::string> out;
    std::string cur;
    int depth = 0;
    bool in_string = false;
    auto flush = [&] {
        size_t b = cur.find_first_not_of(' '), e = cur.find_last_not_of(' ');
        out.push_back(b == std::string::npos ? "" : cur.substr(b, e - b + 1));
        cur.clear();
    };
    for (size_t i = 0; i < values.size(); ++i) {
        char c = values[i];
        if (in_string) {
            if (c == '\\' && i + 1 < values.size()) {  // the escaped character is no quote
                cur += c;
                c = values[++i];
            } else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '(' || c == '{') {
            ++depth;
        } else if ((c == ']' || c == ')' || c == '}') && depth > 0) {
            --depth;
        } else if (c == ',' && depth == 0) {
            flush();
            continue;
        }
        cur += c;
    }
    flush();
    return out;
}

// The params of every file (imports included), before any other declaration is read:
// each top-level scope binds them all.
void Checker::collect_params() {
    for (auto& f : files_) {
        auto env = std::make_shared<Env>();  // a default's scope: the file, no params
        env->file = f->src;
        for (const auto& d : f->ast.decls) {
            if (d.keyword != "param") continue;
            DeclRef r{&d, env, d.name, f->main};
            if (!check_shape(r)) continue;
            if (auto it = param_by_name_.find(d.name); it != param_by_name_.end()) {
                diags_.error(r.file(), d.name_span.begin, "duplicate param " + quote(d.name),
                             d.name_span.end - d.name_span.begin)
                    .notes.push_back(note_at(it->second->ref, "first defined here"));
                continue;
            }
            auto p = std::make_unique<ParamDecl>();
            p->ref = r;
            p->expr = &*d.value;
            p->env = env;
            p->spec.name = d.name;
            p->spec.default_text = span_text(*f->src, d.value->span);
            p->spec.value_text = p->spec.default_text;
            p->spec.loc = loc(f->src, d.name_span.begin);
            size_t errors = diags_.error_count();
            Val def = ev_.eval(*p->expr, env);
            p->default_kind = def.kind;
            if (diags_.error_count() > errors) p->expr = nullptr;  // reported here, once
            if (def.kind == Val::Kind::Ref) p->default_name = def.ref_text();
            param_by_name_[d.name] = p.get();
            params_.push_back(std::move(p));
        }
    }
    // A default is evaluated on its own: naming another param would silently mean an
    // agent or layer of that name instead.
    for (const auto& p : params_)
        if (p->expr && param_by_name_.count(p->default_name)) {
            const ast::Expr& e = *p->ref.decl->value;
            diags_.error(p->ref.file(), e.span.begin,
                         "the default of param " + quote(p->spec.name) + " names param " + quote(p->default_name) +
                             "; a default cannot use another param: write a value",
                         e.span.end - e.span.begin);
            p->expr = nullptr;
        }
    read_param_args();
}

// `--param NAME=value`: parsed as the field `NAME=value` of a source named --param,
// so errors in the value point into the argument itself.
void Checker::read_param_args() {
    std::vector<std::string> names;
    for (const auto& p : params_) names.push_back(p->spec.name);
    std::set<std::string> given;
    for (const auto& [name, value] : opts_.params) {
        std::string text = name + "=" + value;
        auto src = std::make_shared<SourceFile>("--param", text);
        auto it = param_by_name_.find(name);
        if (it == param_by_name_.end()) {
            std::string msg = "unknown param " + quote(name);
            if (auto s = did_you_mean(name, names); !s.empty()) msg += "; did you mean " + quote(s) + "?";
            else if (names.empty()) msg += ": the graph declares no `param`";
            else {
                msg += " (params:";
                for (const auto& n : names) msg += " " + n;
                msg += ")";
            }
            diags_.error(src, 0, msg, static_cast<uint32_t>(name.size()));
            continue;
        }
        ParamDecl& p = *it->second;
        if (!given.insert(name).second) {
            diags_.error(src, 0, "--param " + quote(name) + " given twice", static_cast<uint32_t>(name.size()));
            continue;
        }
        // A string param takes a bare value as the string, like `--set NAME.model=gpt-4o`.
        std::string parsed = p.default_kind == Val::Kind::String ? name + "=" + quote_bare(value) : text;
        auto fsrc = std::make_shared<SourceFile>("--param", parsed);
        size_t before = diags_.all().size();
        auto field = parse_field(fsrc, diags_);
        if (!field) {
            if (diags_.all().size() > before)
                diags_.at(diags_.all().size() - 1)
                    .notes.push_back(Diagnostics::note(nullptr, 0,
                                                       "the value is written as in a .moa file: a number, a duration, "
                                                       "a name, a list [a, b], or a \"string\""));
            p.expr = nullptr;
            continue;
        }
        p.cli = std::make_unique<ast::Field>(std::move(*field));
        auto env = std::make_shared<Env>();
        env->file = fsrc;
        p.env = env;
        p.expr = &p.cli->value;
        p.spec.value_text = value;
        p.spec.overridden = true;
        check_param_value(p, fsrc);
    }
}

// The --param value must have the default's kind; the error is at the declaration,
// where the kind is written, and names the argument.
void Checker::check_param_value(ParamDecl& p, const std::shared_ptr<const SourceFile>& cli_src) {
    size_t errors = diags_.error_count();
    Val v = ev_.eval(*p.expr, p.env);
    if (diags_.error_count() > errors || v.kind == Val::Kind::Invalid) {
        p.expr = nullptr;  // reported once here, not again at every use
        return;
    }
    const ast::Decl& d = *p.ref.decl;
    if (p.default_kind == Val::Kind::Invalid || same_kind(p.default_kind, v.kind)) return;
    auto& e = diags_.error(p.ref.file(), d.name_span.begin,
                           "--param " + p.spec.name + "=" + p.spec.value_text + ": param " + quote(p.spec.name) +
                               " is " + kind_name(p.default_kind) + " (its default is " + p.spec.default_text + "), found " +
                               kind_name(v.kind),
                           d.name_span.end - d.name_span.begin);
    e.notes.push_back(Diagnostics::note(cli_src, v.origin.span.begin, "the value given here",
                                        v.origin.span.end - v.origin.span.begin));
    p.expr = nullptr;
}

// A param named like a declaration or a word a field takes would capture it.
void Checker::check_param_names() {
    for (const auto& p : params_) {
        const ast::Decl& d = *p->ref.decl;
        std::string clash;
        for (auto [table, what] : {std::pair{&agents_, "agent"}, {&templates_, "template"}, {&backends_, "backend"},
                                   {&topologies_, "topology"}, {&routes_decl_, "route"}, {&outputs_decl_, "output"}})
            if (table->count(d.name)) clash = std::string(what);
        if (layer_by_name_.count(d.name)) clash = "layer";
        std::string msg;
        if (!clash.empty())
            msg = "param " + quote(d.name) + " has the name of " + (clash[0] == 'a' || clash[0] == 'o' ? "an " : "a ") +
                  clash + "; a name in a value would mean the param: rename one";
        else if (std::find(kReservedWords.begin(), kReservedWords.end(), d.name) != kReservedWords.end())
            msg = "param " + quote(d.name) + " would hide the word " + quote(d.name) +
                  " that fields take as a value; choose another name";
        if (!msg.empty())
            diags_.error(p->ref.file(), d.name_span.begin, msg, d.name_span.end - d.name_span.begin);
    }
}

// The params into the IR, and a warning for a param of the main file nothing uses.
void Checker::emit_params() {
    check_param_names();
    for (const auto& p : params_) {
        g_.params.push_back(p->spec);
        if (p->ref.main && p->expr && !ev_.used_params().count(p->spec.name) && diags_.error_count() == 0)
            diags_.warning(p->ref.file(), p->ref.decl->name_span.begin,
                           "param " + quote(p->spec.name) + " is never used",
                           p->ref.decl->name_span.end - p->ref.decl->name_span.begin);
    }
}

}  // namespace moa
