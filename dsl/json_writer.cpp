#include "moa/json_writer.hpp"

#include <cstdio>

namespace moa {

void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    size_t run = 0;  // the bytes since the last escape are appended in one piece
    for (size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (static_cast<unsigned char>(c) >= 0x20 && c != '"' && c != '\\') continue;
        out.append(s.data() + run, i - run);
        run = i + 1;
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default: {
                const char* hex = "0123456789abcdef";
                const char u[6] = {'\\', 'u', '0', '0', hex[(c >> 4) & 0xf], hex[c & 0xf]};
                out.append(u, sizeof u);
            }
        }
    }
    out.append(s.data() + run, s.size() - run);
    out += '"';
}

std::string json_quote(std::string_view s) {
    std::string r;
    append_json_string(r, s);
    return r;
}

void JsonWriter::before_value() {
    if (after_key_) {  // the value of a key: the key wrote the separator
        after_key_ = false;
        return;
    }
    if (depth_ == 0) return;  // the top-level value
    size_t level = depth_ - 1;
    Container& c = top();
    if (c.has_members) out_ += c.spaced ? ", " : ",";
    c.has_members = true;
    if (pretty(level)) {
        out_ += '\n';
        out_.append(2 * (level + 1), ' ');
    }
}

JsonWriter& JsonWriter::key(std::string_view k) {
    before_value();
    append_json_string(out_, k);
    out_ += pretty(depth_ - 1) ? ": " : ":";
    after_key_ = true;
    return *this;
}

JsonWriter& JsonWriter::open(char c, bool spaced) {
    before_value();
    out_ += c;
    if (depth_ < kInline) inline_[depth_] = {false, spaced};
    else deep_.push_back({false, spaced});
    ++depth_;
    return *this;
}

JsonWriter& JsonWriter::close(char c) {
    size_t level = depth_ - 1;
    if (pretty(level)) {
        out_ += '\n';
        out_.append(2 * level, ' ');
    }
    out_ += c;
    if (--depth_ >= kInline) deep_.pop_back();
    return *this;
}

JsonWriter& JsonWriter::value(std::string_view s) {
    before_value();
    append_json_string(out_, s);
    return *this;
}

JsonWriter& JsonWriter::number(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.15g", x);
    return raw(buf);
}

JsonWriter& JsonWriter::raw(std::string_view json) {
    before_value();
    out_ += json;
    return *this;
}

JsonWriter& JsonWriter::strings(const std::vector<std::string>& v, bool spaced) {
    begin_array(spaced);
    for (const auto& s : v) value(s);
    return end_array();
}

}  // namespace moa
