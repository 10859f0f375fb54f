#include "moa/duration.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace moa {

const char* const kDurationUnits = "ms, s, min, m, h, d or w";

std::optional<double> duration_unit_ms(std::string_view unit) {
    if (unit == "ms") return 1.0;
    if (unit == "s") return 1e3;
    if (unit == "min" || unit == "m") return 6e4;
    if (unit == "h") return 3.6e6;
    if (unit == "d") return 8.64e7;
    if (unit == "w") return 6.048e8;
    return std::nullopt;
}

std::optional<int64_t> parse_duration_ms(std::string_view t, std::string* error) {
    auto fail = [&](const std::string& why) -> std::optional<int64_t> {
        if (error) *error = why;
        return std::nullopt;
    };
    auto digit = [&](size_t k) { return k < t.size() && std::isdigit(static_cast<unsigned char>(t[k])); };
    // The language's number: [-] digits [. digits] [(e|E) [+|-] digits]
    size_t i = 0;
    if (i < t.size() && t[i] == '-') ++i;
    size_t start = i;
    while (digit(i)) ++i;
    if (i == start)
        return fail("'" + std::string(t) + "' is not a duration (a number glued to a unit: " + kDurationUnits + ")");
    if (i < t.size() && t[i] == '.' && digit(i + 1)) {
        ++i;
        while (digit(i)) ++i;
    }
    if (i < t.size() && (t[i] == 'e' || t[i] == 'E') &&
        (digit(i + 1) || ((i + 1 < t.size() && (t[i + 1] == '+' || t[i + 1] == '-')) && digit(i + 2)))) {
        i += t[i + 1] == '+' || t[i + 1] == '-' ? 2 : 1;
        while (digit(i)) ++i;
    }
    std::string num(t.substr(0, i));
    std::string_view unit = t.substr(i);
    if (unit.empty()) return fail("'" + std::string(t) + "' has no unit (durations take " + kDurationUnits + ")");
    auto f = duration_unit_ms(unit);
    if (!f)
        return fail("unknown unit '" + std::string(unit) + "' in '" + std::string(t) + "' (durations take " +
                    kDurationUnits + ")");
    double x = std::strtod(num.c_str(), nullptr);
    if (!std::isfinite(x) || std::fabs(x) > 1e15) return fail("number '" + num + "' is out of range");
    double ms = x * *f;
    if (std::fabs(ms) > 9e18) return fail("'" + std::string(t) + "' is out of range");
    return static_cast<int64_t>(std::llround(ms));
}

}  // namespace moa
