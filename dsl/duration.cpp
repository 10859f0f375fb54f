#include "moa/duration.hpp"

#include "moa/ascii.hpp"

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

namespace {

std::optional<int64_t> fail(std::string* error, const std::string& why) {
    if (error) *error = why;
    return std::nullopt;
}

double go_unit_ms(std::string_view unit) {
    if (unit.empty() || unit == "s") return 1e3;  // a bare number is seconds
    if (unit == "ms") return 1;
    if (unit == "m") return 6e4;
    if (unit == "h") return 3.6e6;
    if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") return 1e-3;  // us, µs (micro sign or mu)
    if (unit == "ns") return 1e-6;
    return -1;
}

std::optional<int64_t> parse_go(std::string_view t, std::string* error) {
    auto bad = [&] { return fail(error, "'" + std::string(t) + "' is not a Go duration (like 1s, 6m0s or 1h2m3.5s)"); };
    double total = 0;
    size_t i = 0;
    if (t.empty()) return bad();
    while (i < t.size()) {
        size_t j = i;
        while (j < t.size() && (ascii::is_digit(t[j]) || t[j] == '.')) ++j;
        if (j == i) return bad();
        std::string num(t.substr(i, j - i));
        char* end = nullptr;
        double x = std::strtod(num.c_str(), &end);
        if (end != num.c_str() + num.size()) return bad();  // "1.2.3"
        size_t k = j;
        while (k < t.size() && !ascii::is_digit(t[k]) && t[k] != '.') ++k;
        double f = go_unit_ms(t.substr(j, k - j));
        if (f < 0) return bad();
        total += x * f;
        i = k;
    }
    if (!std::isfinite(total) || total > 9e18) return fail(error, "'" + std::string(t) + "' is out of range");
    return static_cast<int64_t>(total);
}

// A bare number (no unit) in seconds, or nullopt if `t` has anything else.
std::optional<int64_t> bare_seconds(std::string_view t, std::string* error) {
    std::string s(t);
    char* end = nullptr;
    if (s.empty() || !(ascii::is_digit(s.back()) || s.back() == '.')) return std::nullopt;
    double x = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size() || s.find_first_of("xXnNiIpP") != std::string::npos) return std::nullopt;  // no hex, nan, inf
    if (!std::isfinite(x) || std::fabs(x) > 1e15) return fail(error, "number '" + s + "' is out of range");
    return static_cast<int64_t>(std::llround(x * 1e3));
}

}  // namespace

std::optional<int64_t> parse_duration_ms(std::string_view t, DurationForm form, std::string* error) {
    switch (form) {
        case DurationForm::Literal: return parse_duration_ms(t, error);
        case DurationForm::Go: return parse_go(t, error);
        case DurationForm::LiteralOrSeconds: {
            std::string why;
            if (auto s = bare_seconds(t, &why)) return s;
            if (!why.empty()) return fail(error, why);
            return parse_duration_ms(t, error);
        }
    }
    return std::nullopt;
}

std::optional<int64_t> parse_duration_ms(std::string_view t, std::string* error) {
    auto fail = [&](const std::string& why) -> std::optional<int64_t> {
        if (error) *error = why;
        return std::nullopt;
    };
    auto digit = [&](size_t k) { return k < t.size() && ascii::is_digit(t[k]); };
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
