#include "prompt.hpp"

#include <cctype>

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
        size_t a = name.find_first_not_of(' '), b = name.find_last_not_of(' ');
        name = a == std::string::npos ? "" : name.substr(a, b - a + 1);
        Slot s = name == "query" ? Slot::Query
               : name == "responses" ? Slot::Responses
               : name == "count" ? Slot::Count
               : name == "agent" ? Slot::Agent
               : name == "model" ? Slot::Model
               : name == "layer" ? Slot::Layer
                                 : Slot::Text;  // the checker rejects unknown names
        if (s == Slot::Text) literal(std::string_view(text).substr(open, close + 2 - open));
        else parts_.push_back({s, {}});
        i = close + 2;
    }
}

size_t CompiledTemplate::size_hint(const Context& ctx) const {
    size_t n = 0;
    for (const auto& p : parts_) {
        n += p.text.size();
        if (p.slot == Slot::Query) n += ctx.query.size();
        if (p.slot == Slot::Responses && ctx.responses)
            for (auto r : *ctx.responses) n += r.size() + 8;
    }
    return n + 16;
}

void CompiledTemplate::render(const Context& ctx, std::string& out) const {
    for (const auto& p : parts_) {
        switch (p.slot) {
            case Slot::Text: out += p.text; break;
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

std::vector<Message> NodePrompt::render(std::string_view query,
                                        const std::vector<std::string_view>& responses) const {
    CompiledTemplate::Context ctx{query, agent, model, layer, &responses};
    std::vector<Message> msgs;
    std::string sys;
    if (!system.empty() || (!prompt.empty() && !responses.empty())) {
        sys.reserve(system.size_hint(ctx) + prompt.size_hint(ctx));
        system.render(ctx, sys);
        if (!prompt.empty() && !responses.empty()) {
            if (!sys.empty()) sys += "\n\n";
            prompt.render(ctx, sys);
        }
        msgs.push_back({"system", std::move(sys)});
    }
    std::string u;
    if (user.empty()) u = query;
    else {
        u.reserve(user.size_hint(ctx));
        user.render(ctx, u);
    }
    msgs.push_back({"user", std::move(u)});
    return msgs;
}

int parse_pick(std::string_view reply, size_t count, std::string& why) {
    std::string first;  // the number named, as written (leading zeros dropped)
    bool several = false;
    for (size_t i = 0; i < reply.size();) {
        if (!std::isdigit(static_cast<unsigned char>(reply[i]))) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j < reply.size() && std::isdigit(static_cast<unsigned char>(reply[j]))) ++j;
        std::string_view run = reply.substr(i, j - i);
        while (run.size() > 1 && run[0] == '0') run.remove_prefix(1);
        if (first.empty()) first = run;
        else if (run != first) several = true;
        i = j;
    }
    std::string range = "one number from 1 to " + std::to_string(count);
    std::string shown = reply.size() > 80 ? std::string(reply.substr(0, 77)) + "..." : std::string(reply);
    for (auto& c : shown)
        if (c == '\n' || c == '\r') c = ' ';
    if (first.empty()) {
        why = "result = pick: the reply names no response number (it must be " + range + "): \"" + shown + "\"";
        return -1;
    }
    if (several) {
        why = "result = pick: the reply names more than one number (it must be " + range + "): \"" + shown + "\"";
        return -1;
    }
    if (first.size() > 9 || std::stoul(first) < 1 || std::stoul(first) > count) {
        std::string there = count == 1 ? "is 1 response" : "are " + std::to_string(count) + " responses";
        why = "result = pick: the reply names response " + first + ", but there " + there + " (it must be " + range +
              "): \"" + shown + "\"";
        return -1;
    }
    return static_cast<int>(std::stoul(first)) - 1;
}

}  // namespace moa
