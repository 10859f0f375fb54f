// Prompt rendering: templates compiled once into segments, then filled per call.
// Rendering is a single pass over the template, so text inside the query or the
// responses that looks like {{placeholder}} is data and is never expanded.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/call.hpp"
#include "moa/graph_spec.hpp"

namespace moa {

using JobVars = std::vector<std::pair<std::string, std::string>>;  // Query::vars

class CompiledTemplate {
public:
    enum class Slot { Text, Query, Responses, Count, Agent, Model, Layer, Var };
    CompiledTemplate() = default;
    explicit CompiledTemplate(const std::string& text);
    bool empty() const { return parts_.empty(); }

    struct Context {
        std::string_view query, agent, model, layer;
        const std::vector<std::string_view>* responses = nullptr;
        const JobVars* vars = nullptr;  // the job's named variables ({{answer}}, ...)
    };
    void render(const Context& ctx, std::string& out) const;
    size_t size_hint(const Context& ctx) const;

private:
    struct Part {
        Slot slot;
        std::string text;  // Text: the text; Var: the variable's name
    };
    static std::string_view var(const Context& ctx, const std::string& name);
    std::vector<Part> parts_;
};

// The messages of one call, the paper's way: the agent's own system text, then the
// aggregation prompt with the numbered responses, as the system message; the user's
// query (or the agent's user template) as the user message.
struct NodePrompt {
    CompiledTemplate system;  // agent's system template
    CompiledTemplate user;    // agent's user template (empty: the query unchanged)
    CompiledTemplate prompt;  // the layer's aggregation prompt (nodes with inputs)
    std::string agent, model, layer;
    std::vector<Message> render(std::string_view query, const std::vector<std::string_view>& responses,
                                const JobVars* vars = nullptr) const;
};

// `result = pick`: which of `count` numbered responses the reply names (0-based), or
// -1 with the reason in `why`. The reply must contain one number, possibly repeated
// ("3", "Response 3.", "**3**"), from 1 to count; no number, two different numbers
// or a number out of range is an error, never a guess.
int parse_pick(std::string_view reply, size_t count, std::string& why);

}  // namespace moa
