#include "runtime/prompt.hpp"
#include "moa/ascii.hpp"

#include <optional>

namespace moa {

CompiledTemplate::CompiledTemplate(const std::string& text) {
    size_t i = 0;
    auto literal = [&](std::string_view s) {
        if (s.empty()) return;
        if (!parts_.empty() && parts_.back().slot == Slot::Text) parts_.back().text += s;
        else parts_.push_back({Slot::Text, std::string(s)});
    };
    while (i < text.size()) {
        size_t open = text.find("{{", i);
        size_t close = open == std::string::npos ? std::string::npos : text.find("}}", open + 2);
        if (close == std::string::npos) {
            literal(std::string_view(text).substr(i));
            break;
        }
        literal(std::string_view(text).substr(i, open - i));
        std::string name = text.substr(open + 2, close - open - 2);
        name = std::string(ascii::trim(name, " "));
        Slot s = name == "query" ? Slot::Query
               : name == "responses" ? Slot::Responses
               : name == "count" ? Slot::Count
               : name == "agent" ? Slot::Agent
               : name == "model" ? Slot::Model
               : name == "layer" ? Slot::Layer
               : name == "answer" || name == "answer_a" || name == "answer_b" ? Slot::Var
                                 : Slot::Text;  // the checker rejects unknown names
        if (s == Slot::Text) literal(std::string_view(text).substr(open, close + 2 - open));
        else parts_.push_back({s, s == Slot::Var ? name : std::string()});
        i = close + 2;
    }
}

// A job variable's value; "" when the job does not give it.
std::string_view CompiledTemplate::var(const Context& ctx, const std::string& name) {
    if (ctx.vars)
        for (const auto& [k, v] : *ctx.vars)
            if (k == name) return v;
    return {};
}

size_t CompiledTemplate::size_hint(const Context& ctx) const {
    size_t n = 0;
    for (const auto& p : parts_) {
        n += p.text.size();
        if (p.slot == Slot::Query) n += ctx.query.size();
        if (p.slot == Slot::Var) n += var(ctx, p.text).size();
        if (p.slot == Slot::Responses && ctx.responses)
            for (auto r : *ctx.responses) n += r.size() + 8;
    }
    return n + 16;
}

void CompiledTemplate::render(const Context& ctx, std::string& out) const {
    for (const auto& p : parts_) {
        switch (p.slot) {
            case Slot::Text: out += p.text; break;
            case Slot::Var: out += var(ctx, p.text); break;
            case Slot::Query: out += ctx.query; break;
            case Slot::Agent: out += ctx.agent; break;
            case Slot::Model: out += ctx.model; break;
            case Slot::Layer: out += ctx.layer; break;
            case Slot::Count: out += std::to_string(ctx.responses ? ctx.responses->size() : 0); break;
            case Slot::Responses:
                if (!ctx.responses) break;
                for (size_t k = 0; k < ctx.responses->size(); ++k) {
                    if (k) out += '\n';
                    out += std::to_string(k + 1);
                    out += ". ";
                    out += (*ctx.responses)[k];
                }
                break;
        }
    }
}

std::vector<Message> NodePrompt::render(std::string_view query, const std::vector<std::string_view>& responses,
                                        const JobVars* vars) const {
    CompiledTemplate::Context ctx{query, agent, model, layer, &responses, vars};
    std::vector<Message> msgs;
    std::string sys;
    if (!system.empty() || (!prompt.empty() && !responses.empty())) {
        sys.reserve(system.size_hint(ctx) + prompt.size_hint(ctx));
        system.render(ctx, sys);
        if (!prompt.empty() && !responses.empty()) {
            if (!sys.empty()) sys += "\n\n";
            prompt.render(ctx, sys);
        }
        msgs.push_back({Role::System, std::move(sys)});
    }
    std::string u;
    if (user.empty()) u = query;
    else {
        u.reserve(user.size_hint(ctx));
        user.render(ctx, u);
    }
    msgs.push_back({Role::User, std::move(u)});
    return msgs;
}

namespace {

// The digit at `i` (ASCII, or full-width U+FF10..U+FF19 as some models write them):
// its value and byte length, or -1.
int digit_at(std::string_view s, size_t i, size_t& len) {
    if (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        len = 1;
        return s[i] - '0';
    }
    if (i + 2 < s.size() && s[i] == '\xEF' && s[i + 1] == '\xBC' && s[i + 2] >= '\x90' && s[i + 2] <= '\x99') {
        len = 3;
        return s[i + 2] - '\x90';
    }
    return -1;
}

bool is_digit_at(std::string_view s, size_t i) {
    size_t len = 0;
    return digit_at(s, i, len) >= 0;
}

struct PickNumber {
    std::string text;  // sign, digits without leading zeros, fraction/exponent as written
    bool negative = false, whole = true;
};

// Whether a sign before the digits at `i` belongs to the number: `-1`, `(+2)`, but
// not the dash of `gpt-4` or `1-2`.
bool signed_at(std::string_view s, size_t i, bool& negative) {
    size_t at = i;
    if (i >= 1 && (s[i - 1] == '-' || s[i - 1] == '+')) {
        negative = s[i - 1] == '-';
        at = i - 1;
    } else if (i >= 3 && s.substr(i - 3, 3) == "\xE2\x88\x92") {  // U+2212 minus sign
        negative = true;
        at = i - 3;
    } else {
        return false;
    }
    return at == 0 || !(ascii::is_alnum(s[at - 1]) || s[at - 1] == '.');
}

// The number whose first digit is at `i`; `i` moves past it.
PickNumber read_number(std::string_view s, size_t& i) {
    PickNumber n;
    bool neg = false;
    n.negative = signed_at(s, i, neg) && neg;
    auto digits = [&](std::string& out) {
        size_t len = 0;
        for (int d; (d = digit_at(s, i, len)) >= 0; i += len) out += static_cast<char>('0' + d);
    };
    std::string whole, rest;
    digits(whole);
    while (whole.size() > 1 && whole[0] == '0') whole.erase(0, 1);
    if (i + 1 < s.size() && s[i] == '.' && is_digit_at(s, i + 1)) {  // `2.0`: a fraction, not two numbers
        rest += s[i++];
        digits(rest);
    }
    if (i + 1 < s.size() && (s[i] == 'e' || s[i] == 'E')) {  // `1e1`: an exponent
        size_t sign = (s[i + 1] == '+' || s[i + 1] == '-') ? 1 : 0;
        if (is_digit_at(s, i + 1 + sign)) {
            rest += s.substr(i, 1 + sign);
            i += 1 + sign;
            digits(rest);
        }
    }
    n.whole = rest.empty();
    if (whole == "0" && n.whole) n.negative = false;
    n.text = (n.negative ? "-" : "") + whole + rest;
    return n;
}

}  // namespace

int parse_pick(std::string_view reply, size_t count, std::string& why) {
    std::optional<PickNumber> first;  // the number named, as written (leading zeros dropped)
    bool several = false;
    for (size_t i = 0; i < reply.size();) {
        if (!is_digit_at(reply, i)) {
            ++i;
            continue;
        }
        PickNumber n = read_number(reply, i);
        if (!first) first = n;
        else if (n.text != first->text) several = true;
    }
    std::string range = "one number from 1 to " + std::to_string(count);
    std::string shown = reply.size() > 80 ? std::string(reply.substr(0, 77)) + "..." : std::string(reply);
    for (auto& c : shown)
        if (c == '\n' || c == '\r') c = ' ';
    auto error = [&](const std::string& what) {
        why = "result = pick: the reply names " + what + " (it must be " + range + "): \"" + shown + "\"";
        return -1;
    };
    if (!first) return error("no response number");
    if (several) return error("more than one number");
    if (!first->whole) return error(first->text + ", which is not a whole number");
    if (first->negative || first->text.size() > 9 || std::stoul(first->text) < 1 || std::stoul(first->text) > count) {
        std::string there = count == 1 ? "is 1 response" : "are " + std::to_string(count) + " responses";
        return error("response " + first->text + ", but there " + there);
    }
    return static_cast<int>(std::stoul(first->text)) - 1;
}

}  // namespace moa
