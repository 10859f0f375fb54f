// Checker, part 1: loading files and imports, symbol tables, topology
// instantiation, and the leaf declarations (backends, templates, agents).
#include "checker.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "parser.hpp"

namespace moa {
namespace fs = std::filesystem;

namespace {
constexpr size_t kMaxFileBytes = 64u << 20;

const std::vector<std::string> kPlaceholders = {"query", "responses", "count", "agent", "model", "layer"};

std::string quote(const std::string& s) { return "'" + s + "'"; }
std::string article(const std::string& word) {
    return (std::string("aeiou").find(word.empty() ? 'x' : word[0]) != std::string::npos ? "an " : "a ") + word;
}

bool read_whole_file(const std::string& path, std::string& out, std::string& error) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
        error = "is a directory";
        return false;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = "cannot open file";
        return false;
    }
    in.seekg(0, std::ios::end);
    auto size = static_cast<size_t>(in.tellg());
    if (size > kMaxFileBytes) {
        error = "file is larger than 64 MiB";
        return false;
    }
    in.seekg(0);
    out.resize(size);
    in.read(out.data(), static_cast<std::streamsize>(size));
    return true;
}
}  // namespace

SourceLoc Checker::loc(const std::shared_ptr<const SourceFile>& f, uint32_t off) const {
    if (!f) return {};
    LineCol lc = f->locate(off);
    return {f->path(), lc.line, lc.col};
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
    diags_.error(at.file, at.span.begin, msg, at.span.end - at.span.begin);
}

// ---- loading -------------------------------------------------------------------

void Checker::load(const std::string& path, std::string text, bool main,
                   std::vector<std::string>& stack, const Origin* imported_from) {
    std::error_code ec;
    std::string key = fs::weakly_canonical(path, ec).string();
    if (key.empty()) key = path;
    if (loaded_paths_.count(key)) return;
    loaded_paths_.insert(key);
    auto file = std::make_unique<LoadedFile>();
    file->src = std::make_shared<SourceFile>(path, std::move(text));
    file->main = main;
    file->ast = parse_file(file->src, diags_);
    for (const auto& n : file->ast.broken_names) broken_.insert(n);
    if (!file->ast.broken_names.empty()) syntax_errors_ = true;
    LoadedFile& lf = *file;
    files_.push_back(std::move(file));
    (void)imported_from;

    stack.push_back(key);
    for (const auto& d : lf.ast.decls) {
        if (d.keyword != "import") continue;
        Origin at{lf.src, d.value->span};
        std::string rel;
        std::string err;
        size_t err_at = 0;
        if (!decode_string(d.value->first.literal.text, rel, err, err_at)) {
            diags_.error(lf.src, d.value->span.begin, err);
            continue;
        }
        std::vector<fs::path> candidates = {fs::path(path).parent_path() / rel};
        for (const auto& dir : opts_.import_paths) candidates.push_back(fs::path(dir) / rel);
        std::string found;
        for (const auto& c : candidates) {
            if (fs::is_regular_file(c, ec)) {
                found = c.lexically_normal().string();
                break;
            }
        }
        if (found.empty()) {
            std::string where;
            for (const auto& c : candidates) where += "\n  " + c.lexically_normal().string();
            diags_.error(lf.src, d.value->span.begin,
                         "cannot find imported file \"" + rel + "\"; looked in:" + where,
                         d.value->span.end - d.value->span.begin);
            continue;
        }
        std::string fkey = fs::weakly_canonical(found, ec).string();
        for (size_t i = 0; i < stack.size(); ++i) {
            if (stack[i] != fkey) continue;
            std::string cycle;
            for (size_t j = i; j < stack.size(); ++j) cycle += fs::path(stack[j]).filename().string() + " -> ";
            cycle += fs::path(fkey).filename().string();
            diags_.error(lf.src, d.value->span.begin, "import cycle: " + cycle,
                         d.value->span.end - d.value->span.begin);
            fkey.clear();
            break;
        }
        if (fkey.empty()) continue;
        std::string body;
        if (!read_whole_file(found, body, err)) {
            diags_.error(lf.src, d.value->span.begin, "cannot read \"" + found + "\": " + err);
            continue;
        }
        load(found, std::move(body), false, stack, &at);
    }
    stack.pop_back();
}

// ---- symbol tables ---------------------------------------------------------------

bool Checker::check_shape(const DeclRef& r) {
    const ast::Decl& d = *r.decl;
    const std::string& k = d.keyword;
    auto bad = [&](uint32_t at, const std::string& msg) {
        diags_.error(r.file(), at, msg);
        return false;
    };
    bool wants_value = k == "template" || k == "layer" || k == "output";
    bool wants_body = k == "backend" || k == "agent" || k == "route" || k == "topology";
    bool wants_params = k == "topology" || k == "use";
    if (wants_value && !d.value) {
        const char* form = k == "template" ? "template NAME = \"\"\"...\"\"\""
                           : k == "layer"  ? "layer NAME = [agent, ...] { ... }"
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
    if (d.keyword == "import") return;
    DeclRef r{&d, env, env->prefix + d.name, main};
    if (!check_shape(r)) return;
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
    for (auto& f : files_) {
        auto env = std::make_shared<Env>();
        env->file = f->src;
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
    std::vector<std::string> param_names;
    for (const auto& p : t.params) param_names.push_back(p.name);
    for (const auto& a : u.params) {
        if (!a.value) {
            diags_.error(use.file(), a.span.begin, "argument " + quote(a.name) + " needs a value (`" + a.name + " = ...`)",
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
                         "a topology body holds layer, route and output declarations");
            continue;
        }
        const std::string& k = item.decl->keyword;
        if (k != "layer" && k != "route" && k != "output") {
            diags_.error(env->file, item.decl->keyword_span.begin,
                         article(k) + " cannot be declared inside a topology; declare it at the top level",
                         item.decl->keyword_span.end - item.decl->keyword_span.begin);
            continue;
        }
        collect_decl(*item.decl, env, use.main);
    }
}

Fields Checker::read_fields(const DeclRef& r, const ast::Block* b, const std::shared_ptr<const Env>& env,
                            const std::string& what, const std::vector<std::string>& allowed) {
    Fields out;
    if (!b) return out;
    for (const auto& item : b->items) {
        if (item.kind != ast::Item::Kind::Field) {
            const char* thing = item.kind == ast::Item::Kind::Arm ? "a route arm" : "a declaration";
            diags_.error(env->file, item.span().begin, std::string(thing) + " is not allowed in " + what);
            continue;
        }
        const ast::Field& f = item.field;
        if (std::find(allowed.begin(), allowed.end(), f.key) == allowed.end()) {
            std::string msg = "unknown field " + quote(f.key) + " in " + what;
            if (auto s = did_you_mean(f.key, allowed); !s.empty()) msg += "; did you mean " + quote(s) + "?";
            else {
                msg += " (fields:";
                for (auto& a : allowed) msg += " " + a;
                msg += ")";
            }
            diags_.error(env->file, f.key_span.begin, msg, f.key_span.end - f.key_span.begin);
            continue;
        }
        if (auto prev = out.by_key.find(f.key); prev != out.by_key.end()) {
            diags_.error(env->file, f.key_span.begin, "field " + quote(f.key) + " set twice",
                         f.key_span.end - f.key_span.begin)
                .notes.push_back(Diagnostics::note(env->file, prev->second.field->key_span.begin,
                                                   "first set here"));
            continue;
        }
        out.by_key[f.key] = {ev_.eval(f.value, env), &f};
    }
    (void)r;
    return out;
}

// ---- typed field access ----------------------------------------------------------

static void type_error(Diagnostics& d, const FieldVal& fv, const std::string& expected) {
    const Origin& o = fv.val.origin;
    if (fv.val.kind == Val::Kind::Invalid) return;  // already reported
    d.error(o.file, o.span.begin,
            quote(fv.field->key) + " expects " + expected + ", found " + kind_name(fv.val.kind),
            o.span.end - o.span.begin);
}

bool Checker::expect_number(const FieldVal& fv, double lo, double hi, bool integer, double& out,
                            const char* range_text) {
    if (fv.val.kind != Val::Kind::Number) {
        type_error(diags_, fv, integer ? "an integer" : "a number");
        return false;
    }
    const Origin& o = fv.val.origin;
    if (integer && !fv.val.integral) {
        diags_.error(o.file, o.span.begin, quote(fv.field->key) + " must be an integer", o.span.end - o.span.begin);
        return false;
    }
    if (fv.val.number < lo || fv.val.number > hi) {
        std::ostringstream v;
        v << fv.val.number;
        diags_.error(o.file, o.span.begin,
                     quote(fv.field->key) + " must be " + range_text + ", found " + v.str(),
                     o.span.end - o.span.begin);
        return false;
    }
    out = fv.val.number;
    return true;
}

bool Checker::expect_duration(const FieldVal& fv, int64_t& out) {
    if (fv.val.kind != Val::Kind::Duration) {
        type_error(diags_, fv, "a duration like 30s or 250ms");
        return false;
    }
    if (fv.val.ms <= 0 || fv.val.ms > 24LL * 3600 * 1000) {
        const Origin& o = fv.val.origin;
        diags_.error(o.file, o.span.begin, quote(fv.field->key) + " must be between 1ms and 24h",
                     o.span.end - o.span.begin);
        return false;
    }
    out = fv.val.ms;
    return true;
}

bool Checker::expect_string(const FieldVal& fv, std::string& out) {
    if (fv.val.kind != Val::Kind::String) {
        type_error(diags_, fv, "a string");
        return false;
    }
    out = fv.val.str;
    return true;
}

bool Checker::expect_name(const FieldVal& fv, std::string& out) {
    if (fv.val.kind != Val::Kind::Ref || fv.val.ref.size() != 1 || fv.val.replicas != 1) {
        type_error(diags_, fv, "a name");
        return false;
    }
    out = fv.val.ref[0];
    return true;
}

// ---- backends, templates, agents ------------------------------------------------

void Checker::read_timeouts(const FieldVal& fv, Timeouts& t) {
    if (fv.val.kind != Val::Kind::Block) return type_error(diags_, fv, "a block { connect = 10s ... }");
    DeclRef dummy;
    Fields f = read_fields(dummy, fv.val.block, fv.val.env, quote(fv.field->key),
                           {"connect", "first_token", "idle", "total"});
    if (auto* v = f.get("connect")) expect_duration(*v, t.connect_ms);
    if (auto* v = f.get("first_token")) expect_duration(*v, t.first_token_ms);
    if (auto* v = f.get("idle")) expect_duration(*v, t.idle_ms);
    if (auto* v = f.get("total")) expect_duration(*v, t.total_ms);
}

// ---- --set overrides -------------------------------------------------------------

void Checker::parse_overrides() {
    for (const auto& text : opts_.overrides) {
        auto src = std::make_shared<SourceFile>("--set", text);
        size_t dot = text.find('.'), eq = text.find('=');
        if (dot == std::string::npos || eq == std::string::npos || dot > eq) {
            diags_.error(src, 0, "expected `NAME.field=value` (a backend or agent, then one of its fields)");
            continue;
        }
        // Parse "field=value" in place, so columns point into the whole argument.
        std::string masked = std::string(dot + 1, ' ') + text.substr(dot + 1);
        auto fsrc = std::make_shared<SourceFile>("--set", masked);
        auto field = parse_field(fsrc, diags_);
        if (!field) continue;
        Override o;
        o.target = text.substr(0, dot);
        o.env = std::make_shared<Env>();
        o.env->file = src;
        o.field = std::make_unique<ast::Field>(std::move(*field));
        if (!backends_.count(o.target) && !agents_.count(o.target)) {
            std::vector<std::string> names;
            for (auto& [n, _] : backends_) names.push_back(n);
            for (auto& [n, _] : agents_) names.push_back(n);
            unknown_name({src, {0, static_cast<uint32_t>(dot)}}, "backend or agent", o.target, names);
            continue;
        }
        overrides_.push_back(std::move(o));
    }
}

void Checker::apply_overrides(const DeclRef& r, Fields& f, const std::vector<std::string>& allowed,
                              const std::string& what) {
    for (auto& o : overrides_) {
        if (o.target != r.name) continue;
        const ast::Field& fld = *o.field;
        if (std::find(allowed.begin(), allowed.end(), fld.key) == allowed.end()) {
            std::string msg = "unknown field " + quote(fld.key) + " in " + what;
            if (auto s = did_you_mean(fld.key, allowed); !s.empty()) msg += "; did you mean " + quote(s) + "?";
            diags_.error(o.env->file, fld.key_span.begin, msg, fld.key_span.end - fld.key_span.begin);
            continue;
        }
        f.by_key[fld.key] = {ev_.eval(fld.value, o.env), &fld};
    }
}

void Checker::check_backends() {
    static const std::vector<std::string> kinds = {"openai", "anthropic", "ollama", "sim"};
    for (auto& [name, r] : backends_) {
        static const std::vector<std::string> allowed = {"kind", "base_url", "api_key_env", "max_concurrent",
                                                         "requests", "tokens", "timeouts", "retry", "max_retry_wait",
                                                         "latency", "faults"};
        Fields f = read_fields(r, &*r.decl->body, r.env, "backend " + quote(name), allowed);
        apply_overrides(r, f, allowed, "backend " + quote(name));
        BackendSpec b;
        b.name = name;
        b.loc = loc(r.file(), r.decl->name_span.begin);
        std::string kind;
        if (auto* v = f.get("kind"); v && expect_name(*v, kind)) {
            if (kind == "openai") b.kind = BackendKind::OpenAI;
            else if (kind == "anthropic") b.kind = BackendKind::Anthropic;
            else if (kind == "ollama") b.kind = BackendKind::Ollama;
            else if (kind == "sim") b.kind = BackendKind::Sim;
            else unknown_name(v->val.origin, "backend kind", kind, kinds);
        } else if (!v) {
            diags_.error(r.file(), r.decl->name_span.begin,
                         "backend " + quote(name) + " has no 'kind' (openai, anthropic, ollama or sim)",
                         r.decl->name_span.end - r.decl->name_span.begin);
        }
        if (auto* v = f.get("base_url"); v && expect_string(*v, b.base_url)) {
            if (b.base_url.rfind("http://", 0) != 0 && b.base_url.rfind("https://", 0) != 0)
                diags_.error(v->val.origin.file, v->val.origin.span.begin,
                             "'base_url' must start with http:// or https://");
        }
        if (b.base_url.empty() && f.get("base_url") == nullptr) {
            if (b.kind == BackendKind::Anthropic) b.base_url = "https://api.anthropic.com";
            if (b.kind == BackendKind::Ollama) b.base_url = "http://127.0.0.1:11434";
            if (b.kind == BackendKind::OpenAI)
                diags_.error(r.file(), r.decl->name_span.begin,
                             "backend " + quote(name) + " of kind openai needs a 'base_url'");
        }
        if (auto* v = f.get("api_key_env"); v && expect_string(*v, b.api_key_env)) {
            bool ok = !b.api_key_env.empty() && !std::isdigit(static_cast<unsigned char>(b.api_key_env[0]));
            for (char c : b.api_key_env) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
            if (!ok)  // it may be a pasted key: do not echo the line into logs
                diags_.error(v->val.origin.file, v->val.origin.span.begin,
                             "'api_key_env' names an environment variable (like \"OPENAI_API_KEY\"), "
                             "not a key; if this was a real key, revoke it")
                    .hide_source = true;
        } else if (!v && b.kind == BackendKind::Anthropic) {
            diags_.error(r.file(), r.decl->name_span.begin,
                         "backend " + quote(name) + " of kind anthropic needs 'api_key_env'");
        }
        double x = 0;
        if (auto* v = f.get("max_concurrent"); v && expect_number(*v, 1, 100000, true, x, "in [1, 100000]"))
            b.max_concurrent = static_cast<int>(x);
        for (const char* key : {"requests", "tokens"}) {
            auto* v = f.get(key);
            if (!v) continue;
            if (v->val.kind != Val::Kind::Rate) type_error(diags_, *v, "a rate like 600/min");
            else if (v->val.per_minute <= 0)
                diags_.error(v->val.origin.file, v->val.origin.span.begin, quote(key) + " must be positive");
            else (std::string(key) == "requests" ? b.requests_per_minute : b.tokens_per_minute) = v->val.per_minute;
        }
        if (auto* v = f.get("timeouts")) read_timeouts(*v, b.timeouts);
        if (auto* v = f.get("max_retry_wait")) expect_duration(*v, b.retry.max_wait_ms);
        if (auto* v = f.get("retry")) {
            if (v->val.kind != Val::Kind::Block) type_error(diags_, *v, "a block { attempts = 4 ... }");
            else {
                Fields rf = read_fields(r, v->val.block, v->val.env, "'retry'", {"attempts", "base_delay", "max_delay"});
                if (auto* a = rf.get("attempts"); a && expect_number(*a, 1, 20, true, x, "in [1, 20]"))
                    b.retry.attempts = static_cast<int>(x);
                if (auto* a = rf.get("base_delay")) expect_duration(*a, b.retry.base_delay_ms);
                if (auto* a = rf.get("max_delay"); a && expect_duration(*a, b.retry.max_delay_ms) &&
                                                   b.retry.max_delay_ms < b.retry.base_delay_ms)
                    diags_.error(a->val.origin.file, a->val.origin.span.begin,
                                 "'max_delay' must not be less than 'base_delay'");
            }
        }
        for (const char* key : {"latency", "faults"}) {
            auto* v = f.get(key);
            if (!v) continue;
            if (b.kind != BackendKind::Sim) {
                diags_.error(v->field->key_span.begin ? r.file() : r.file(), v->field->key_span.begin,
                             quote(key) + " applies only to backends of kind sim");
                continue;
            }
            if (v->val.kind != Val::Kind::Block) {
                type_error(diags_, *v, "a block");
                continue;
            }
            if (std::string(key) == "latency") {
                Fields lf = read_fields(r, v->val.block, v->val.env, "'latency'", {"first_token", "tokens_per_second", "jitter"});
                if (auto* a = lf.get("first_token")) expect_duration(*a, b.latency.first_token_ms);
                if (auto* a = lf.get("tokens_per_second"); a && expect_number(*a, 0.001, 1e9, false, x, "positive"))
                    b.latency.tokens_per_second = x;
                if (auto* a = lf.get("jitter"); a && expect_number(*a, 0, 1, false, x, "in [0, 1]"))
                    b.latency.jitter = x;
            } else {
                Fields ff = read_fields(r, v->val.block, v->val.env, "'faults'", {"timeout", "rate_limited", "server_error"});
                if (auto* a = ff.get("timeout"); a && expect_number(*a, 0, 1, false, x, "a probability in [0, 1]")) b.faults.timeout = x;
                if (auto* a = ff.get("rate_limited"); a && expect_number(*a, 0, 1, false, x, "a probability in [0, 1]")) b.faults.rate_limited = x;
                if (auto* a = ff.get("server_error"); a && expect_number(*a, 0, 1, false, x, "a probability in [0, 1]")) b.faults.server_error = x;
            }
        }
        g_.backends.push_back(std::move(b));
    }
}

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
            FieldVal fv{ev_.eval(item.field.value, r.env), &item.field};
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
    load(path, std::move(text), true, stack, nullptr);
    collect();
    parse_overrides();
    check_backends();
    check_templates();
    check_agents();
    build_layers();
    build_routes();
    resolve_inputs();
    build_outputs();
    check_cycles_and_order();
    if (!cyclic_) {
        check_placeholders();
        check_reachability_and_use();
    }
    diags_.sort();
    LoadResult r;
    r.ok = diags_.error_count() == 0;
    r.graph = std::move(g_);
    return r;
}

LoadResult load_graph_text(const std::string& path, std::string text, const LoadOptions& opts,
                           Diagnostics& diags) {
    Checker c(diags, opts);
    return c.run(path, std::move(text));
}

LoadResult load_graph(const std::string& path, const LoadOptions& opts, Diagnostics& diags) {
    std::string text, err;
    if (!read_whole_file(path, text, err)) {
        diags.error(nullptr, 0, path + ": " + err);
        return {};
    }
    return load_graph_text(path, std::move(text), opts, diags);
}

}  // namespace moa
