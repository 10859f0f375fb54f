// The simulated backend (`kind = sim`): in-process, deterministic, for trying
// topologies, tests and benchmarks. It is a simulator, not a model: its text is
// built from a hash of (model, messages, seed, sample index) and says what the
// agent received (an aggregator cites the tags of the responses it was shown), so
// topology bugs show in the output.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/call.hpp"

namespace moa::sim {

uint64_t hash_bytes(std::string_view s, uint64_t seed);
uint64_t request_hash(const Call& c);

// The answer to a call (text and token counts); pure function of the request. A
// backend's scripted `reply` is returned as is; a picking call (choices > 0) gets a
// number in [1, choices].
Reply answer(const Call& c, uint64_t hash);

// The tag a simulated answer starts with: "[model:hex6]".
std::string tag_of(std::string_view answer);

// Outcome of one attempt: a fault, or the latency until the full answer.
struct Attempt {
    enum class Kind { Ok, Timeout, RateLimited, ServerError } kind = Kind::Ok;
    int64_t latency_us = 0;  // Ok: time to the last token; faults: time to the failure
    int64_t first_token_us = 0;
    int64_t retry_after_ms = -1;
};
Attempt attempt(const BackendSpec& b, uint64_t hash, int attempt_no, uint32_t tokens_out);

}  // namespace moa::sim
