// The lexical pre-scan of a .moa file, plain C++ beside the X3 grammar: what the
// parser checks before X3 runs (UTF-8, nesting depth), where it resumes after a
// syntax error, and how it names what it found there.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ast.hpp"
#include "moa/ascii.hpp"

namespace moa::prescan {

inline constexpr std::array<std::string_view, 12> kKeywords = {
    "import", "backend", "template", "agent", "layer", "route", "output", "topology", "use", "param", "verdict", "price"};

inline bool is_word_char(char c) {
    return ascii::is_alnum(c) || c == '_';
}

// Offset of the first invalid UTF-8 sequence or NUL byte, or npos.
size_t first_invalid_utf8(const std::string& s);

// One lexical pass (strings, text blocks and comments aware): collects comments for
// the formatter and finds the first bracket nested deeper than kMaxNesting.
struct ScanResult {
    std::vector<ast::Comment> comments;
    size_t too_deep = std::string::npos;
};
ScanResult scan(const std::string& s);

// Offsets where a line starts in column 1 with a declaration keyword, computed once
// (scanning forward from every declaration would be quadratic on one long line).
class RecoveryPoints {
public:
    explicit RecoveryPoints(const std::string& s);
    // The first recovery point after the newline that follows `pos`, i.e. > pos.
    size_t after(size_t pos) const;

private:
    size_t size_;
    std::vector<size_t> points_;
};

// The name a declaration at `pos` would have declared ("agent NAME ..."), so that a
// declaration lost to a syntax error does not also cause "unknown name" errors.
std::string declared_name(const std::string& s, size_t pos);
// Past blanks, newlines and comments.
size_t skip_blank(const std::string& s, size_t i);
// "'word'", "a string", "end of file", ...: what a diagnostic says it found at `i`.
std::string describe_found(const std::string& s, size_t i);
uint32_t word_length(const std::string& s, size_t i);
// The innermost '{' in [from, to) that is not closed before `to`, or npos: where an
// unclosed block began.
size_t unclosed_brace(const std::string& s, size_t from, size_t to);
// Whether the word around `i` (letters, digits, '_' and non-ASCII bytes) has a
// non-ASCII character, like `café`: [begin, end) is the whole word.
bool non_ascii_name(const std::string& s, size_t i, size_t& begin, size_t& end);

}  // namespace moa::prescan
