#include "eval.hpp"

#include <charconv>
#include <cmath>

#include "moa/ascii.hpp"
#include "moa/duration.hpp"

namespace moa {

std::string Val::ref_text() const {
    std::string r;
    for (size_t i = 0; i < ref.size(); ++i) r += (i ? "." : "") + ref[i];
    return r;
}

std::vector<std::string> Val::scoped_ref() const {
    std::vector<std::string> r = ref;
    if (!r.empty() && !scope.empty()) r[0] = scope + r[0];
    return r;
}

const char* kind_name(Val::Kind k) {
    switch (k) {
        case Val::Kind::Number: return "a number";
        case Val::Kind::Duration: return "a duration";
        case Val::Kind::Rate: return "a rate";
        case Val::Kind::String: return "a string";
        case Val::Kind::Ref: return "a name";
        case Val::Kind::List: return "a list";
        case Val::Kind::Call: return "a call";
        case Val::Kind::Block: return "a block";
        case Val::Kind::Invalid: return "an invalid value";
    }
    return "a value";
}

bool decode_string(const std::string& quoted, std::string& out, std::string& error,
                   size_t& error_at) {
    out.clear();
    // quoted = "..." (the parser guarantees both quotes)
    for (size_t i = 1; i + 1 < quoted.size(); ++i) {
        char c = quoted[i];
        if (c != '\\') {
            out += c;
            continue;
        }
        error_at = i;
        char e = quoted[++i];
        switch (e) {
            case 'n': out += '\n'; break;
            case 't': out += '\t'; break;
            case 'r': out += '\r'; break;
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case 'u': {
                size_t close = quoted.find('}', i);
                if (i + 1 >= quoted.size() || quoted[i + 1] != '{' || close == std::string::npos) {
                    error = "malformed unicode escape; write \\u{1F600}";
                    return false;
                }
                uint32_t cp = 0;
                auto [p, ec] = std::from_chars(quoted.data() + i + 2, quoted.data() + close, cp, 16);
                if (ec != std::errc() || p != quoted.data() + close || close == i + 2 ||
                    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
                    error = "invalid unicode escape";
                    return false;
                }
                append_utf8(out, cp);
                i = close;
                break;
            }
            default:
                error = std::string("unknown escape '\\") + e + "' (known: \\n \\t \\r \\\" \\\\ \\u{...})";
                return false;
        }
    }
    return true;
}

std::string decode_text_block(const std::string& quoted) {
    std::string body = quoted.substr(3, quoted.size() - 6);
    if (!body.empty() && body[0] == '\n') body.erase(0, 1);
    else if (body.size() > 1 && body[0] == '\r' && body[1] == '\n') body.erase(0, 2);
    // Split into lines; a last line of only blanks is the closing quotes' indentation.
    std::vector<std::string> lines;
    size_t start = 0;
    for (;;) {
        size_t nl = body.find('\n', start);
        std::string line = body.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        lines.push_back(line);
        if (nl == std::string::npos) break;
        start = nl + 1;
    }
    bool last_blank = lines.back().find_first_not_of(" \t") == std::string::npos;
    size_t indent = std::string::npos;
    for (size_t i = 0; i < lines.size(); ++i) {
        const auto& l = lines[i];
        size_t first = l.find_first_not_of(" \t");
        if (first == std::string::npos) {
            if (i + 1 == lines.size() && last_blank) indent = std::min(indent, l.size());
            continue;
        }
        indent = std::min(indent, first);
    }
    if (indent == std::string::npos) indent = 0;
    std::string out;
    size_t n = last_blank ? lines.size() - 1 : lines.size();
    for (size_t i = 0; i < n; ++i) {
        const auto& l = lines[i];
        out += l.size() > indent ? l.substr(indent) : std::string();
        if (i + 1 < n || last_blank) out += '\n';
    }
    return out;
}

bool find_placeholders(const std::string& text, std::vector<Placeholder>& out, std::string& error,
                       size_t& error_at) {
    size_t i = 0;
    while ((i = text.find("{{", i)) != std::string::npos) {
        size_t close = text.find("}}", i + 2);
        size_t nl = text.find('\n', i + 2);
        if (close == std::string::npos || (nl != std::string::npos && nl < close)) {
            error = "unterminated placeholder '{{' (placeholders look like {{query}})";
            error_at = i;
            return false;
        }
        std::string name = text.substr(i + 2, close - i - 2);
        name = std::string(ascii::trim(name, " "));
        out.push_back({name, i});
        i = close + 2;
    }
    return true;
}

Val Evaluator::eval_literal(const ast::Literal& l, Origin origin) {
    Val v;
    v.origin = origin;
    const std::string& t = l.text;
    auto report = [&](const std::string& msg) {
        diags_.error(origin.file, origin.span.begin, msg, origin.span.end - origin.span.begin);
        v.kind = Val::Kind::Invalid;
        return v;
    };
    switch (l.kind) {
        case ast::LiteralKind::String: {
            std::string err;
            size_t at = 0;
            if (!decode_string(t, v.str, err, at)) {
                diags_.error(origin.file, origin.span.begin + static_cast<uint32_t>(at), err, 2);
                v.kind = Val::Kind::Invalid;
                return v;
            }
            v.kind = Val::Kind::String;
            return v;
        }
        case ast::LiteralKind::TextBlock:
            v.kind = Val::Kind::String;
            v.str = decode_text_block(t);
            return v;
        default: break;
    }
    // Number part, then the unit.
    size_t i = 0;
    if (i < t.size() && t[i] == '-') ++i;
    while (i < t.size() && (ascii::is_digit(t[i]) || t[i] == '.')) ++i;
    bool has_exp = false;
    if (i < t.size() && (t[i] == 'e' || t[i] == 'E') && i + 1 < t.size() &&
        (ascii::is_digit(t[i + 1]) || t[i + 1] == '+' || t[i + 1] == '-')) {
        has_exp = true;
        ++i;
        if (t[i] == '+' || t[i] == '-') ++i;
        while (i < t.size() && ascii::is_digit(t[i])) ++i;
    }
    std::string num = t.substr(0, i), unit = t.substr(i);
    double x = std::strtod(num.c_str(), nullptr);
    if (!std::isfinite(x) || std::fabs(x) > 1e15) return report("number '" + num + "' is out of range");
    bool integral = (num.find('.') == std::string::npos && !has_exp) || (has_exp && x == std::floor(x));
    switch (l.kind) {
        case ast::LiteralKind::Number:
            if (!unit.empty()) {
                return report("unknown unit '" + unit + "' in '" + t + "' (durations take " + kDurationUnits +
                              "; rates are written 60/min)");
            }
            v.kind = Val::Kind::Number;
            v.number = x;
            v.integral = integral;
            return v;
        case ast::LiteralKind::Duration: {
            std::string err;
            auto ms = parse_duration_ms(t, &err);  // the one duration parser (moa/duration.hpp)
            if (!ms) return report(err);
            v.kind = Val::Kind::Duration;
            v.ms = *ms;
            return v;
        }
        case ast::LiteralKind::Rate: {
            std::string per = unit.substr(1);
            if (per != "s" && per != "sec" && per != "m" && per != "min" && per != "h" && per != "hour")
                return report("unknown rate unit '/" + per + "' in '" + t +
                              "' (rates are per /s, /sec, /m, /min, /h or /hour, like 600/min)");
            double f = (per == "s" || per == "sec") ? 60 : (per == "m" || per == "min") ? 1 : 1.0 / 60;
            v.kind = Val::Kind::Rate;
            v.per_minute = x * f;
            return v;
        }
        default: break;
    }
    return report("invalid literal");
}

Val Evaluator::eval_operand(const ast::Operand& o, const std::shared_ptr<const Env>& env) {
    Origin origin{env->file, o.span};
    Val v;
    v.origin = origin;
    switch (o.kind) {
        case ast::Operand::Kind::Literal: return eval_literal(o.literal, origin);
        case ast::Operand::Kind::Paren: return eval(*o.paren, env);
        case ast::Operand::Kind::Path: {
            const auto& parts = o.path.parts;
            if (parts.size() == 1) {
                auto it = env->params.find(parts[0]);
                if (it != env->params.end()) {
                    if (!it->second.expr) return v;  // a missing argument, already reported
                    if (depth_ > 32) {
                        diags_.error(origin.file, o.span.begin, "parameters nested too deeply");
                        return v;
                    }
                    ++depth_;
                    Val r = eval(*it->second.expr, it->second.env ? it->second.env : env);
                    --depth_;
                    if (it->second.graph) {
                        used_params_.insert(parts[0]);
                        if (r.param.empty()) {
                            r.param = parts[0];
                            r.graph_param = true;
                        }
                    } else if (it->second.env && r.param.empty()) {
                        r.param = parts[0];  // a `use` argument
                    }
                    return r;
                }
            }
            v.kind = Val::Kind::Ref;
            v.ref = parts;
            // Names declared inside a topology instance are qualified by its alias.
            if (!env->prefix.empty()) {
                for (const auto& local : env->local_names)
                    if (local == parts[0].substr(0, parts[0].find('['))) v.scope = env->prefix;  // r[2] too
            }
            return v;
        }
        case ast::Operand::Kind::List:
            v.kind = Val::Kind::List;
            for (const auto& item : o.list->items) v.items.push_back(eval(item, env));
            return v;
        case ast::Operand::Kind::Call:
            v.kind = Val::Kind::Call;
            v.str = o.call->name;
            for (const auto& a : o.call->args) v.items.push_back(eval(a, env));
            return v;
        case ast::Operand::Kind::Block:
            v.kind = Val::Kind::Block;
            v.block = o.block.get();
            v.env = env;
            return v;
    }
    return v;
}

Val Evaluator::apply(char op, Val lhs, Val rhs) {
    using K = Val::Kind;
    if (lhs.kind == K::Invalid || rhs.kind == K::Invalid) return Val{};
    // Operands may come from different files (a topology's body and a `use`
    // argument): only join spans within one file.
    Origin at = lhs.origin.file == rhs.origin.file && rhs.origin.span.end >= lhs.origin.span.begin
                    ? Origin{lhs.origin.file, {lhs.origin.span.begin, rhs.origin.span.end}}
                    : lhs.origin;
    if (lhs.kind == K::Number && rhs.kind == K::Number) {
        lhs.number = op == '+' ? lhs.number + rhs.number
                   : op == '-' ? lhs.number - rhs.number
                               : lhs.number * rhs.number;
        lhs.integral = lhs.integral && rhs.integral;
        lhs.origin = at;
        if (lhs.param.empty()) {
            lhs.param = rhs.param;
            lhs.graph_param = rhs.graph_param;
        }
        return lhs;
    }
    if (op == '*' && lhs.kind == K::Ref && rhs.kind == K::Number) {
        if (!rhs.integral || rhs.number < 1 || rhs.number > 1000) {
            diags_.error(rhs.origin.file, rhs.origin.span.begin,
                         "replica count must be an integer in [1, 1000]",
                         rhs.origin.span.end - rhs.origin.span.begin);
            return Val{};
        }
        lhs.replicas *= static_cast<int>(rhs.number);
        lhs.origin = at;
        return lhs;
    }
    if (op == '+' && lhs.kind == K::List && rhs.kind == K::List) {
        for (auto& i : rhs.items) lhs.items.push_back(std::move(i));
        return lhs;
    }
    diags_.error(at.file, at.span.begin,
                 std::string("cannot apply '") + op + "' to " + kind_name(lhs.kind) + " and " +
                     kind_name(rhs.kind),
                 at.span.end - at.span.begin);
    return Val{};
}

Val Evaluator::eval(const ast::Expr& e, const std::shared_ptr<const Env>& env) {
    // `*` binds tighter than `+`/`-`; evaluate products first, then sums left to right.
    std::vector<Val> terms;
    std::vector<char> ops;
    terms.push_back(eval_operand(e.first, env));
    for (const auto& [op, operand] : e.rest) {
        Val rhs = eval_operand(operand, env);
        if (op == '*') terms.back() = apply('*', std::move(terms.back()), std::move(rhs));
        else {
            ops.push_back(op);
            terms.push_back(std::move(rhs));
        }
    }
    Val acc = std::move(terms[0]);
    for (size_t i = 0; i < ops.size(); ++i) acc = apply(ops[i], std::move(acc), std::move(terms[i + 1]));
    return acc;
}

}  // namespace moa
