// The simulator's pure functions, for `moa plan`: the planner draws answers and
// attempts from the very code the sim backend runs (with random hashes in place of
// request hashes), so its expected figures are the simulator's own.
#pragma once

#include <cstdint>

#include "runtime/call.hpp"

namespace moa {

// The answer (text, token counts) the sim backend gives `c` when its request hashes to `hash`.
Reply sim_answer(const Call& c, uint64_t hash);

// One attempt as the sim backend runs it: its duration, and whether it failed (and
// then whether the server asked to wait, as a simulated 429 does).
struct SimAttempt {
    bool ok = true;
    int64_t latency_us = 0;       // to the last token, or to the failure
    int64_t first_token_us = 0;
    int64_t retry_after_ms = -1;  // -1: none
};
SimAttempt sim_attempt(const BackendSpec& b, uint64_t hash, int attempt_no, uint32_t tokens_out);

}  // namespace moa
