// Token estimates, where no provider count exists: a call's input before it is sent
// (budget reservations, rate limits) and a reply's tokens when the provider sent no
// usage (marked Reply::tokens_estimated, shown with "~").
//
// The rule (docs/cli.md, "Run summary"): one token per 4 bytes of text, rounded up,
// plus 4 per message for the chat format's framing. English text with BPE tokenizers
// averages about 4 bytes per token; code and non-Latin scripts run denser, so an
// estimate can be low by 2-3x there.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "runtime/call.hpp"

namespace moa {

inline uint64_t estimate_tokens(std::string_view text) { return (text.size() + 3) / 4; }

inline uint64_t estimate_input_tokens(const std::vector<Message>& messages) {
    uint64_t n = 0;
    for (const auto& m : messages) n += estimate_tokens(m.content) + 4;
    return n;
}

// Output tokens a call may produce at most: its agent's max_tokens; else what the
// request asks for (Anthropic's required max_tokens is sent as 1024), else 4096.
inline constexpr uint64_t kDefaultMaxOutputTokens = 4096;
inline uint64_t max_output_tokens(const Call& c) {
    if (c.agent && c.agent->max_tokens) return static_cast<uint64_t>(*c.agent->max_tokens);
    if (c.backend && c.backend->kind == BackendKind::Anthropic) return 1024;
    return kDefaultMaxOutputTokens;
}

// Fills in a reply's tokens the provider did not count (an Ok reply with no usage).
inline void estimate_missing_usage(const Call& c, Reply& r) {
    if (r.status != CallStatus::Ok || (r.tokens_in != 0 && r.tokens_out != 0)) return;
    if (r.tokens_in == 0) r.tokens_in = static_cast<uint32_t>(estimate_input_tokens(c.messages));
    if (r.tokens_out == 0) r.tokens_out = static_cast<uint32_t>(estimate_tokens(r.text));
    r.tokens_estimated = true;
}

}  // namespace moa
