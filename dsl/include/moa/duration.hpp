// Duration literals of the language ("250ms", "30s", "1.5h", "7d"): the one parser for
// durations, used by the language itself, by command-line options that take one
// (`moa cache prune --older-than`, `moa run --grace`), so they accept the same
// spellings, and (DurationForm::Go) by the HTTP backends for rate-limit reset headers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace moa {

// The accepted units, for messages: "ms, s, min, m, h, d or w".
extern const char* const kDurationUnits;

// Milliseconds per `unit` ("ms", "s", "min", "m", "h", "d", "w"), or nullopt.
std::optional<double> duration_unit_ms(std::string_view unit);

// A number glued to a unit ("30s", "1.5h", "-2m") in milliseconds, rounded; nullopt
// (with `error` saying why, when given) for anything else: no unit, an unknown unit,
// spaces, a number out of range.
std::optional<int64_t> parse_duration_ms(std::string_view text, std::string* error = nullptr);

enum class DurationForm {
    Literal,           // the language's literal, as above
    LiteralOrSeconds,  // the same, or a bare number of seconds ("5", "2.5"): flags that took seconds
    // Go's time.Duration text, as OpenAI-style x-ratelimit-reset-* headers send it: one or
    // more parts of digits [. digits] and a unit, h, m, s, ms, us (or µs) or ns, with no
    // sign or spaces ("1s", "6m0s", "20ms", "1h2m3.5s"); a part without a unit counts as
    // seconds ("1.5", "1m30"). Truncated to whole milliseconds.
    Go,
};
std::optional<int64_t> parse_duration_ms(std::string_view text, DurationForm form, std::string* error = nullptr);

}  // namespace moa
