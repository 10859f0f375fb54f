// The one JSON writer of moa: graph dumps, diagnostics, result rows, AlpacaEval lists,
// provider request bodies (on the I/O path: it allocates nothing but the text),
// cache exports. Appends to a std::string; commas and colons are its business, so a
// writer cannot forget one. Strings are escaped as JSON requires and no more: '"', '\\',
// \n, \r, \t by name, other bytes below 0x20 as \u00XX (lowercase hex); every other byte,
// including invalid UTF-8 and 0x7f, is copied as it is (the bytes a model sent are the
// bytes written; readers decide about invalid UTF-8).
//
//   std::string s;
//   JsonWriter w(s);
//   w.begin_object().key("id").value("a").key("n").value(3).end_object();   // {"id":"a","n":3}
//
// Layout: compact by default. With `pretty_levels` = N, containers at the first N levels
// put each member on a line of its own, indented by two spaces per level, with ": "
// after keys, and close on a line of their own (also when empty); deeper ones stay compact.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace moa {

// A JSON string literal (quotes included) appended to `out`, escaped as above.
void append_json_string(std::string& out, std::string_view s);
std::string json_quote(std::string_view s);

class JsonWriter {
public:
    explicit JsonWriter(std::string& out, int pretty_levels = 0) : out_(out), pretty_(pretty_levels) {}

    JsonWriter& begin_object() { return open('{', false); }
    JsonWriter& end_object() { return close('}'); }
    // `spaced`: ", " between the members of this array (the graph dump's lists), not ",".
    JsonWriter& begin_array(bool spaced = false) { return open('[', spaced); }
    JsonWriter& end_array() { return close(']'); }
    JsonWriter& key(std::string_view k);

    JsonWriter& value(std::string_view s);
    JsonWriter& value(const char* s) { return value(std::string_view(s)); }
    JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
    JsonWriter& value(bool b) { return raw(b ? "true" : "false"); }
    template <typename T, typename = std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>>
    JsonWriter& value(T n) {
        char buf[24];
        auto end = std::to_chars(buf, buf + sizeof buf, n).ptr;  // as std::to_string, without a string
        return raw(std::string_view(buf, static_cast<size_t>(end - buf)));
    }
    // A double as %.15g (the shortest form that round-trips the language's numbers).
    JsonWriter& number(double x);
    JsonWriter& null() { return raw("null"); }
    // An already-encoded JSON value, copied as it is (one value, not a key).
    JsonWriter& raw(std::string_view json);
    // An array of strings.
    JsonWriter& strings(const std::vector<std::string>& v, bool spaced = false);

private:
    JsonWriter& open(char c, bool spaced);
    JsonWriter& close(char c);
    void before_value();  // the comma and line break a new member needs
    bool pretty(size_t level) const { return static_cast<int>(level) < pretty_; }

    std::string& out_;
    int pretty_;
    struct Container {
        bool has_members = false;
        bool spaced = false;
    };
    // The containers not yet closed, outermost first: the first levels in place, so a
    // request body (built on the I/O path) allocates nothing but its text.
    static constexpr size_t kInline = 8;
    Container& top() { return depth_ <= kInline ? inline_[depth_ - 1] : deep_[depth_ - 1 - kInline]; }
    Container inline_[kInline];
    std::vector<Container> deep_;  // levels past kInline
    size_t depth_ = 0;
    bool after_key_ = false;
};

}  // namespace moa
