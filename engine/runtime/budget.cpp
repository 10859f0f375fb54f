#include "runtime/budget.hpp"

#include <cstdio>

#include "moa/cost.hpp"
#include "runtime/usage.hpp"

namespace moa {

namespace {
std::string usd_text(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v);
    return b;
}
}  // namespace

Budget::Verdict Budget::reserve(Call& c) {
    if (is_reached()) return Verdict::Reached;
    uint64_t tokens = estimate_input_tokens(c.messages) + max_output_tokens(c);
    double usd = 0;
    if (const Price* p = costs_.price_of(c.agent->name))
        usd = cost_usd(*p, estimate_input_tokens(c.messages), max_output_tokens(c));
    const char* over = nullptr;
    if (limits_.calls > 0 && calls_.load(std::memory_order_relaxed) + reserved_calls_ + 1 > limits_.calls) over = "calls";
    else if (limits_.tokens > 0 && used_tokens_ + reserved_tokens_ + tokens > limits_.tokens) over = "tokens";
    else if (limits_.cost_usd > 0 && used_usd_ + reserved_usd_ + usd > limits_.cost_usd) over = "cost";
    if (over) {
        // Attempts in flight may use less than they reserved: wait for them to settle.
        if (reserved_calls_ > 0) return Verdict::Wait;
        std::string which = over == std::string("calls")    ? "--max-calls " + std::to_string(limits_.calls)
                            : over == std::string("tokens") ? "--max-tokens " + std::to_string(limits_.tokens)
                                                            : "--max-cost " + usd_text(limits_.cost_usd);
        reach(which);
        return Verdict::Reached;
    }
    c.reserved = true;
    c.reserved_tokens = tokens;
    c.reserved_usd = usd;
    ++reserved_calls_;
    reserved_tokens_ += tokens;
    reserved_usd_ += usd;
    return Verdict::Go;
}

void Budget::settle(Call& c, const Reply* r) {
    if (!c.reserved) return;
    c.reserved = false;
    --reserved_calls_;
    reserved_tokens_ -= c.reserved_tokens;
    reserved_usd_ -= c.reserved_usd;
    calls_.fetch_add(1, std::memory_order_relaxed);
    if (!r) {  // cancelled mid-attempt: what it used is unknown, so it keeps its reservation
        used_tokens_ += c.reserved_tokens;
        used_usd_ += c.reserved_usd;
        return;
    }
    used_tokens_ += uint64_t{r->tokens_in} + r->tokens_out;
    if (const Price* p = costs_.price_of(c.agent->name)) used_usd_ += cost_usd(*p, r->tokens_in, r->tokens_out, r->tokens_cached);
}

void Budget::reach(const std::string& which) {
    std::lock_guard lock(mu_);
    if (reached_.empty()) reached_ = which;
    reached_flag_.store(true, std::memory_order_release);
}

std::string Budget::reached() const {
    std::lock_guard lock(mu_);
    return reached_;
}

std::string budget_problem(const BudgetLimits& limits, const GraphSpec& g) {
    if (limits.cost_usd <= 0) return "";
    std::string missing;
    for (const auto& a : g.agents)
        if (!find_price(g, a.backend, a.model))
            missing += (missing.empty() ? "" : ", ") + ("'" + a.model + "' on backend '" + a.backend + "'");
    if (missing.empty()) return "";
    return "--max-cost needs the price of every model, and there is none for " + missing +
           " (declare a `price` for it in the graph)";
}

}  // namespace moa
