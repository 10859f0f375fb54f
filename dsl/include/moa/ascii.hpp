// ASCII character helpers: locale-independent (unlike <cctype>, whose answers depend on
// the C locale and which is undefined for negative chars), so that case-folding a header
// name, a route pattern or a model name gives the same bytes everywhere. Bytes >= 0x80
// (UTF-8) are never letters, digits or spaces and are left as they are.
#pragma once

#include <string>
#include <string_view>

namespace moa::ascii {

// " \t\n\r\v\f", the C locale's isspace set.
inline constexpr std::string_view kSpaces = " \t\n\r\v\f";

constexpr bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
constexpr bool is_xdigit(char c) { return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }
constexpr char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c; }
// The value of a hex digit, or -1.
constexpr int hex_value(char c) {
    return is_digit(c) ? c - '0' : is_xdigit(c) ? (c | 0x20) - 'a' + 10 : -1;
}

inline void lower_in_place(std::string& s) {
    for (char& c : s) c = to_lower(c);
}
inline std::string lower(std::string_view s) {
    std::string r(s);
    lower_in_place(r);
    return r;
}
// Equal ignoring ASCII case ("Content-Type" and "content-type").
constexpr bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (to_lower(a[i]) != to_lower(b[i])) return false;
    return true;
}

// `s` without the leading / trailing characters of `chars` (default: ASCII spaces).
constexpr std::string_view trim_left(std::string_view s, std::string_view chars = kSpaces) {
    size_t i = s.find_first_not_of(chars);
    return i == std::string_view::npos ? std::string_view() : s.substr(i);
}
constexpr std::string_view trim_right(std::string_view s, std::string_view chars = kSpaces) {
    size_t i = s.find_last_not_of(chars);
    return i == std::string_view::npos ? std::string_view() : s.substr(0, i + 1);
}
constexpr std::string_view trim(std::string_view s, std::string_view chars = kSpaces) {
    return trim_right(trim_left(s, chars), chars);
}
// True if `s` holds only characters of `chars` (or nothing).
constexpr bool is_blank(std::string_view s, std::string_view chars = kSpaces) {
    return s.find_first_not_of(chars) == std::string_view::npos;
}

}  // namespace moa::ascii
