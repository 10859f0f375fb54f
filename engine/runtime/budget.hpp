// Run budgets (`moa run --max-calls/--max-tokens/--max-cost`, EngineOptions::budget).
//
// On the reactor thread, where the scheduler starts attempts: before an attempt, its
// worst case is reserved (one call; input tokens estimated from the rendered prompt,
// output = max_output_tokens; the cost of both at the agent's price); after it, the
// reservation is settled to the real usage. An attempt starts only if what is used
// plus what is reserved plus its own worst case fits every budget, so concurrent calls
// cannot overshoot together. One that does not fit waits while others are in flight
// (they may use less than they reserved); when nothing is in flight and it still does
// not fit, the budget is reached: from then on no attempt starts and every call waiting
// or submitted fails with "budget --max-calls 100 reached".
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "moa/engine.hpp"
#include "runtime/call.hpp"
#include "runtime/cost_book.hpp"

namespace moa {

class Budget {
public:
    Budget(const BudgetLimits& limits, const CostBook& costs) : limits_(limits), costs_(costs) {}
    bool enabled() const { return limits_.calls > 0 || limits_.tokens > 0 || limits_.cost_usd > 0; }

    enum class Verdict { Go, Wait, Reached };
    Verdict reserve(Call& c);                      // before an attempt starts
    void settle(Call& c, const Reply* r);          // after it (null: cancelled, usage unknown)

    // "" while no budget is reached, else "--max-calls 100" (any thread).
    std::string reached() const;
    bool is_reached() const { return reached_flag_.load(std::memory_order_acquire); }
    std::string error_text() const { return "budget " + reached() + " reached"; }
    // What the attempts used so far (any thread).
    uint64_t calls_used() const { return calls_.load(std::memory_order_relaxed); }

private:
    void reach(const std::string& which);
    const BudgetLimits limits_;
    const CostBook& costs_;
    // reactor thread only
    uint64_t used_tokens_ = 0, reserved_calls_ = 0, reserved_tokens_ = 0;
    double used_usd_ = 0, reserved_usd_ = 0;
    std::atomic<uint64_t> calls_{0};
    std::atomic<bool> reached_flag_{false};
    mutable std::mutex mu_;
    std::string reached_;
};

// The error if `limits` cannot be enforced for `g`: --max-cost with a model that has no
// price ("" when fine).
std::string budget_problem(const BudgetLimits& limits, const GraphSpec& g);

}  // namespace moa
