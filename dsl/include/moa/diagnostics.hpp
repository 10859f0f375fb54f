// Source files and diagnostics: everything a compiler-style message needs
// (file:line:col, the source line, a caret, notes pointing at related places).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "moa/json_writer.hpp"  // append_json_string, json_quote

namespace moa {

struct LineCol {
    uint32_t line = 1;  // 1-based
    uint32_t col = 1;   // 1-based, in characters (UTF-8 code points)
};

class SourceFile {
public:
    SourceFile(std::string path, std::string text);
    const std::string& path() const { return path_; }
    const std::string& text() const { return text_; }
    LineCol locate(uint32_t offset) const;
    std::string_view line_text(uint32_t line) const;  // without the newline

private:
    std::string path_;
    std::string text_;
    std::vector<uint32_t> line_starts_;
    // Characters (UTF-8 code points) before every 1 KiB boundary: a column is then
    // found in O(1 KiB) however long its line (a 10 MB one-line file stays linear).
    std::vector<uint32_t> chars_before_block_;
    uint32_t chars_before(uint32_t offset) const;
};

enum class Severity { Error, Warning, Note };

struct Diagnostic {
    Severity severity = Severity::Error;
    std::shared_ptr<const SourceFile> file;  // null for diagnostics without a place
    uint32_t offset = 0;
    uint32_t length = 1;  // caret width (1 = a single ^)
    std::string message;
    std::vector<Diagnostic> notes;
    bool hide_source = false;  // the source line may hold a secret: print only the position
};

enum class DiagFormat { Text, GitHub, Json };
// "text", "github", "json" (`moa check --format`), or nullopt.
std::optional<DiagFormat> parse_diag_format(std::string_view s);

class Diagnostics {
public:
    Diagnostic& error(std::shared_ptr<const SourceFile> f, uint32_t off, std::string msg,
                      uint32_t len = 1);
    Diagnostic& warning(std::shared_ptr<const SourceFile> f, uint32_t off, std::string msg,
                        uint32_t len = 1);
    static Diagnostic note(std::shared_ptr<const SourceFile> f, uint32_t off, std::string msg,
                           uint32_t len = 1);

    size_t error_count() const;
    size_t warning_count() const;
    const std::vector<Diagnostic>& all() const { return diags_; }
    Diagnostic& at(size_t i) { return diags_[i]; }  // to add notes after the fact
    bool empty() const { return diags_.empty(); }

    // Sort by file then position (stable), so output order does not depend on the
    // order in which the checker's passes ran.
    void sort();
    void render(std::ostream& out, DiagFormat format, bool color) const;

private:
    std::vector<Diagnostic> diags_;
};

// One diagnostic in text form, with source line and caret (used by tests too).
std::string render_text(const Diagnostic& d, bool color = false);

// One code point as UTF-8 (JSON and DSL string decoders).
void append_utf8(std::string& out, uint32_t cp);

// Levenshtein-based suggestion: the closest candidate within a small distance, or "".
std::string did_you_mean(std::string_view name, const std::vector<std::string>& candidates);

}  // namespace moa
