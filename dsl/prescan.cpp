#include "prescan.hpp"

#include <algorithm>

#include "parser.hpp"  // kMaxNesting

namespace moa::prescan {

size_t first_invalid_utf8(const std::string& s) {
    size_t i = 0;
    while (i < s.size()) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == 0) return i;
        int n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : -1;
        if (n < 0 || i + n >= s.size() + (n == 0 ? 1 : 0)) return i;
        for (int k = 1; k <= n; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return i;
        i += n + 1;
    }
    return std::string::npos;
}

namespace {
// Past a string literal or a """text block""" starting at i (i itself if none starts
// there): their contents never count as comments or brackets. A string stops at the end
// of its line, an unclosed text block at the end of the file.
size_t skip_string(const std::string& s, size_t i) {
    if (s.compare(i, 3, "\"\"\"") == 0) {
        size_t e = s.find("\"\"\"", i + 3);
        return e == std::string::npos ? s.size() : e + 3;
    }
    if (s[i] != '"') return i;
    ++i;
    while (i < s.size() && s[i] != '"' && s[i] != '\n') i += (s[i] == '\\') ? 2 : 1;
    return i + 1;
}
}  // namespace

ScanResult scan(const std::string& s) {
    ScanResult r;
    int depth = 0;
    size_t i = 0;
    while (i < s.size()) {
        char c = s[i];
        if (c == '#') {
            size_t e = s.find('\n', i);
            if (e == std::string::npos) e = s.size();
            size_t te = e;
            while (te > i && (s[te - 1] == '\r' || s[te - 1] == ' ' || s[te - 1] == '\t')) --te;
            r.comments.push_back({{static_cast<uint32_t>(i), static_cast<uint32_t>(te)},
                                  s.substr(i, te - i)});
            i = e;
        } else if (size_t end = skip_string(s, i); end != i) {
            i = end;
        } else {
            if (c == '(' || c == '[' || c == '{') {
                if (++depth > kMaxNesting && r.too_deep == std::string::npos) r.too_deep = i;
            } else if ((c == ')' || c == ']' || c == '}') && depth > 0) {
                --depth;
            }
            ++i;
        }
    }
    return r;
}

RecoveryPoints::RecoveryPoints(const std::string& s) : size_(s.size()) {
    for (size_t nl = s.find('\n'); nl != std::string::npos; nl = s.find('\n', nl + 1)) {
        size_t start = nl + 1;
        for (auto kw : kKeywords) {
            if (s.compare(start, kw.size(), kw) == 0 &&
                (start + kw.size() >= s.size() || !is_word_char(s[start + kw.size()]))) {
                points_.push_back(start);
                break;
            }
        }
    }
}

size_t RecoveryPoints::after(size_t pos) const {
    auto it = std::upper_bound(points_.begin(), points_.end(), pos);
    return it == points_.end() ? size_ : *it;
}

std::string declared_name(const std::string& s, size_t pos) {
    size_t i = pos;
    while (i < s.size() && is_word_char(s[i])) ++i;
    size_t j = i;
    while (j < s.size() && (s[j] == ' ' || s[j] == '\t')) ++j;
    if (j == i) return "";
    size_t k = j;
    while (k < s.size() && is_word_char(s[k])) ++k;
    return s.substr(j, k - j);
}

size_t skip_blank(const std::string& s, size_t i) {
    while (i < s.size()) {
        if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') ++i;
        else if (s[i] == '#') {
            size_t e = s.find('\n', i);
            i = e == std::string::npos ? s.size() : e;
        } else break;
    }
    return i;
}

std::string describe_found(const std::string& s, size_t i) {
    if (i >= s.size()) return "end of file";
    if (is_word_char(s[i])) {
        size_t e = i;
        while (e < s.size() && is_word_char(s[e]) && e - i < 32) ++e;
        return "'" + s.substr(i, e - i) + "'";
    }
    if (s.compare(i, 3, "\"\"\"") == 0) return "a text block";
    if (s[i] == '"') return "a string";
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x7F) return "a non-ASCII character";
    return std::string("'") + s[i] + "'";
}

uint32_t word_length(const std::string& s, size_t i) {
    size_t e = i;
    while (e < s.size() && is_word_char(s[e])) ++e;
    return static_cast<uint32_t>(std::max<size_t>(1, e - i));
}

}  // namespace moa::prescan

namespace moa::prescan {

size_t unclosed_brace(const std::string& s, size_t from, size_t to) {
    std::vector<size_t> open;
    size_t i = from;
    to = std::min(to, s.size());
    while (i < to) {
        char c = s[i];
        if (c == '#') {
            size_t e = s.find('\n', i);
            i = e == std::string::npos ? s.size() : e;
        } else if (size_t end = skip_string(s, i); end != i) {
            i = end;
        } else {
            if (c == '{') open.push_back(i);
            else if (c == '}' && !open.empty()) open.pop_back();
            ++i;
        }
    }
    return open.empty() ? std::string::npos : open.back();
}

bool non_ascii_name(const std::string& s, size_t i, size_t& begin, size_t& end) {
    auto part = [&](size_t k) { return is_word_char(s[k]) || static_cast<unsigned char>(s[k]) >= 0x80; };
    if (i >= s.size() || !part(i)) return false;
    begin = i;
    while (begin > 0 && part(begin - 1)) --begin;
    end = i;
    while (end < s.size() && part(end)) ++end;
    for (size_t k = begin; k < end; ++k)
        if (static_cast<unsigned char>(s[k]) >= 0x80) return end - begin < 200;
    return false;
}

}  // namespace moa::prescan
