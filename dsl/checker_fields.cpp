// Checker, part 1b: reading a block's fields, typed access to their values, and
// the `--set NAME.field=value` overrides applied on top of them.
#include <algorithm>
#include <sstream>

#include "checker.hpp"
#include "parser.hpp"
#include "moa/ascii.hpp"

namespace moa {

namespace {
std::string quote(const std::string& s) { return "'" + s + "'"; }
}  // namespace

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
        out.by_key[f.key] = {ev_.eval(f.value, env), &f, env->file};
    }
    (void)r;
    return out;
}

// ---- typed field access ----------------------------------------------------------

void type_error(Diagnostics& d, const FieldVal& fv, const std::string& expected) {
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
        auto& e = diags_.error(o.file, o.span.begin,
                               quote(fv.field->key) + " must be " + range_text + ", found " + v.str() +
                                   (fv.val.param.empty() ? ""
                                    : fv.val.graph_param ? ", computed from param " + quote(fv.val.param)
                                                         : ", computed from argument " + quote(fv.val.param)),
                               o.span.end - o.span.begin);
        if (!fv.val.param.empty() && fv.file)
            e.notes.push_back(Diagnostics::note(fv.file, fv.field->span.begin,
                                                quote(fv.field->key) + " is computed here",
                                                fv.field->span.end - fv.field->span.begin));
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


// ---- --set overrides -------------------------------------------------------------

// A shell user should not have to nest DSL quotes in shell quotes.
std::string quote_bare(const std::string& value) {
    size_t start = value.find_first_not_of(' ');
    if (start != std::string::npos && value[start] == '"') return value;  // already a DSL string
    std::string out = "\"";
    for (char c : value) {
        if (c == '"' || c == '\\') out += '\\';
        if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\t') out += "\\t";
        else out += c;
    }
    return out + "\"";
}

bool Checker::string_field(const std::string& target, const std::string& key) const {
    std::string_view field = ascii::trim(key, " ");
    if (backends_.count(target)) return field == "base_url" || field == "api_key_env";
    if (agents_.count(target)) return field == "model";
    return false;
}

void Checker::parse_overrides() {
    for (const auto& text : opts_.overrides) {
        auto src = std::make_shared<SourceFile>("--set", text);
        size_t dot = text.find('.'), eq = text.find('=');
        if (dot == std::string::npos || eq == std::string::npos || dot > eq) {
            diags_.error(src, 0, "expected `NAME.field=value` (a backend or agent, then one of its fields)");
            continue;
        }
        // An unknown target first: its value cannot be read as the field it names
        // (a bare URL would be a DSL syntax error, hiding the real mistake).
        std::string target = text.substr(0, dot);
        if (!backends_.count(target) && !agents_.count(target)) {
            std::vector<std::string> names;
            for (auto& [n, _] : backends_) names.push_back(n);
            for (auto& [n, _] : agents_) names.push_back(n);
            unknown_name({src, {0, static_cast<uint32_t>(dot)}}, "backend or agent", target, names);
            continue;
        }
        // Parse "field=value" in place, so columns point into the whole argument.
        std::string masked = std::string(dot + 1, ' ') + text.substr(dot + 1);
        if (string_field(text.substr(0, dot), text.substr(dot + 1, eq - dot - 1)))
            masked = std::string(dot + 1, ' ') + text.substr(dot + 1, eq - dot) + quote_bare(text.substr(eq + 1));
        auto fsrc = std::make_shared<SourceFile>("--set", masked);
        size_t before = diags_.all().size();
        auto field = parse_field(fsrc, diags_);
        if (!field) {
            if (diags_.all().size() > before)  // other fields take DSL values
                diags_.at(diags_.all().size() - 1)
                    .notes.push_back(Diagnostics::note(nullptr, 0,
                                                       "the value is written as in a .moa file; a string goes in double "
                                                       "quotes inside shell quotes: --set 'NAME.field=\"text\"'"));
            continue;
        }
        Override o;
        o.target = text.substr(0, dot);
        o.env = std::make_shared<Env>();
        o.env->file = src;
        for (const auto& p : params_)  // `--set a.temperature=temp` may name a param too
            o.env->params[p->spec.name] = {p->expr, p->env, p->env->file, true};
        o.field = std::make_unique<ast::Field>(std::move(*field));
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
        f.by_key[fld.key] = {ev_.eval(fld.value, o.env), &fld, o.env->file};
    }
}


}  // namespace moa
