// Duration literals of the language ("250ms", "30s", "1.5h", "7d"): the one parser for
// durations, used by the language itself and by command-line options that take one
// (`moa cache prune --older-than`), so both accept exactly the same spellings.
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

}  // namespace moa
