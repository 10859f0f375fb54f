#include "source.hpp"

#include <algorithm>
#include <ostream>
#include <sstream>

#include "moa/ascii.hpp"

namespace moa {

SourceFile::SourceFile(std::string path, std::string text)
    : path_(std::move(path)), text_(std::move(text)) {
    line_starts_.push_back(0);
    uint32_t chars = 0;
    for (uint32_t i = 0; i < text_.size(); ++i) {
        if ((i & 1023) == 0) chars_before_block_.push_back(chars);
        if (text_[i] == '\n') line_starts_.push_back(i + 1);
        if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++chars;
    }
}

uint32_t SourceFile::chars_before(uint32_t offset) const {
    uint32_t block = offset >> 10;
    if (block >= chars_before_block_.size()) block = chars_before_block_.empty() ? 0 : static_cast<uint32_t>(chars_before_block_.size() - 1);
    uint32_t n = chars_before_block_.empty() ? 0 : chars_before_block_[block];
    for (uint32_t i = block << 10; i < offset; ++i)
        if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++n;
    return n;
}

static bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

LineCol SourceFile::locate(uint32_t offset) const {
    offset = std::min<uint32_t>(offset, static_cast<uint32_t>(text_.size()));
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    uint32_t line = static_cast<uint32_t>(it - line_starts_.begin());
    uint32_t start = line_starts_[line - 1];
    return {line, chars_before(offset) - chars_before(start) + 1};
}

std::string_view SourceFile::line_text(uint32_t line) const {
    if (line == 0 || line > line_starts_.size()) return {};
    uint32_t start = line_starts_[line - 1];
    uint32_t end = line < line_starts_.size() ? line_starts_[line] - 1
                                              : static_cast<uint32_t>(text_.size());
    std::string_view v(text_.data() + start, end - start);
    if (!v.empty() && v.back() == '\r') v.remove_suffix(1);
    return v;
}

Diagnostic& Diagnostics::error(std::shared_ptr<const SourceFile> f, uint32_t off,
                               std::string msg, uint32_t len) {
    diags_.push_back({Severity::Error, std::move(f), off, len, std::move(msg), {}});
    return diags_.back();
}

Diagnostic& Diagnostics::warning(std::shared_ptr<const SourceFile> f, uint32_t off,
                                 std::string msg, uint32_t len) {
    diags_.push_back({Severity::Warning, std::move(f), off, len, std::move(msg), {}});
    return diags_.back();
}

Diagnostic Diagnostics::note(std::shared_ptr<const SourceFile> f, uint32_t off, std::string msg,
                             uint32_t len) {
    return {Severity::Note, std::move(f), off, len, std::move(msg), {}};
}

size_t Diagnostics::error_count() const {
    return std::count_if(diags_.begin(), diags_.end(),
                         [](auto& d) { return d.severity == Severity::Error; });
}

size_t Diagnostics::warning_count() const {
    return std::count_if(diags_.begin(), diags_.end(),
                         [](auto& d) { return d.severity == Severity::Warning; });
}

void Diagnostics::sort() {
    std::stable_sort(diags_.begin(), diags_.end(), [](const Diagnostic& a, const Diagnostic& b) {
        const std::string pa = a.file ? a.file->path() : "";
        const std::string pb = b.file ? b.file->path() : "";
        if (pa != pb) return pa < pb;
        return a.offset < b.offset;
    });
}

static const char* severity_name(Severity s) {
    switch (s) {
        case Severity::Error: return "error";
        case Severity::Warning: return "warning";
        case Severity::Note: return "note";
    }
    return "error";
}

static void render_one(std::ostream& out, const Diagnostic& d, bool color) {
    const char* bold = color ? "\033[1m" : "";
    const char* reset = color ? "\033[0m" : "";
    const char* sev_color = !color                              ? ""
                            : d.severity == Severity::Error     ? "\033[1;31m"
                            : d.severity == Severity::Warning   ? "\033[1;35m"
                                                                : "\033[1;36m";
    if (!d.file) {
        out << bold << "moa: " << reset << sev_color << severity_name(d.severity) << ": "
            << reset << bold << d.message << reset << "\n";
        return;
    }
    LineCol lc = d.file->locate(d.offset);
    out << bold << d.file->path() << ":" << lc.line << ":" << lc.col << ": " << reset
        << sev_color << severity_name(d.severity) << ": " << reset << bold << d.message
        << reset << "\n";
    std::string_view line = d.file->line_text(lc.line);
    if (line.size() > 400 || d.hide_source) return;  // a caret under a 10 MB line helps nobody
    // A URL with credentials (scheme://user:pass@host) is never printed.
    for (size_t p = line.find("://"); p != std::string_view::npos; p = line.find("://", p + 3)) {
        size_t end = line.find_first_of("/\"' ?#", p + 3);
        if (line.substr(p + 3, end == std::string_view::npos ? std::string_view::npos : end - p - 3).find('@') !=
            std::string_view::npos)
            return;
    }
    out << "  " << line << "\n  ";
    // Reproduce tabs so the caret lines up whatever the terminal's tab width.
    uint32_t col = 1;
    for (size_t i = 0; i < line.size() && col < lc.col; ++i) {
        unsigned char c = static_cast<unsigned char>(line[i]);
        if (is_continuation(c)) continue;
        out << (c == '\t' ? '\t' : ' ');
        ++col;
    }
    uint32_t width = std::max<uint32_t>(1, std::min<uint32_t>(d.length, 80));
    out << (color ? "\033[1;32m" : "") << '^';
    for (uint32_t i = 1; i < width; ++i) out << '~';
    out << reset << "\n";
}

std::string render_text(const Diagnostic& d, bool color) {
    std::ostringstream out;
    render_one(out, d, color);
    for (auto& n : d.notes) render_one(out, n, color);
    return out.str();
}

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

std::optional<DiagFormat> parse_diag_format(std::string_view s) {
    if (s == "text") return DiagFormat::Text;
    if (s == "github") return DiagFormat::GitHub;
    if (s == "json") return DiagFormat::Json;
    return std::nullopt;
}

// GitHub workflow commands need %, CR and LF escaped in the message.
static std::string github_escape(std::string_view s) {
    std::string r;
    for (char c : s) {
        if (c == '%') r += "%25";
        else if (c == '\r') r += "%0D";
        else if (c == '\n') r += "%0A";
        else r += c;
    }
    return r;
}

static void render_json_one(JsonWriter& w, const Diagnostic& d) {
    w.begin_object().key("severity").value(severity_name(d.severity));
    if (d.file) {
        LineCol lc = d.file->locate(d.offset);
        w.key("file").value(d.file->path()).key("line").value(lc.line).key("column").value(lc.col);
    }
    w.key("message").value(d.message);
    if (!d.notes.empty()) {
        w.key("notes").begin_array();
        for (const auto& n : d.notes) render_json_one(w, n);
        w.end_array();
    }
    w.end_object();
}

void Diagnostics::render(std::ostream& out, DiagFormat format, bool color) const {
    switch (format) {
        case DiagFormat::Text:
            for (auto& d : diags_) out << render_text(d, color);
            break;
        case DiagFormat::GitHub:
            for (auto& d : diags_) {
                out << "::" << (d.severity == Severity::Error ? "error" : "warning");
                if (d.file) {
                    LineCol lc = d.file->locate(d.offset);
                    out << " file=" << d.file->path() << ",line=" << lc.line
                        << ",col=" << lc.col;
                }
                std::string msg = d.message;
                for (auto& n : d.notes) {
                    LineCol lc = n.file ? n.file->locate(n.offset) : LineCol{};
                    msg += "\nnote: " + n.message;
                    if (n.file)
                        msg += " (" + n.file->path() + ":" + std::to_string(lc.line) + ":" +
                               std::to_string(lc.col) + ")";
                }
                out << "::" << github_escape(msg) << "\n";
            }
            break;
        case DiagFormat::Json:
            out << "[";
            for (size_t i = 0; i < diags_.size(); ++i) {
                std::string one;  // one diagnostic per line: ",\n " between them
                JsonWriter w(one);
                render_json_one(w, diags_[i]);
                out << (i ? ",\n " : "") << one;
            }
            out << "]\n";
            break;
    }
}

// Optimal string alignment distance (Levenshtein plus adjacent transpositions,
// so "agnet" is one edit from "agent"), case-insensitive.
static size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
    for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    auto lower = ascii::to_lower;
    for (size_t i = 1; i <= a.size(); ++i)
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) && lower(a[i - 2]) == lower(b[j - 1]))
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    return d[a.size()][b.size()];
}

std::string did_you_mean(std::string_view name, const std::vector<std::string>& candidates) {
    // A typo is at most a third of the name (at least one edit), and must leave
    // something in common: "d" is not a typo of "b".
    size_t limit = std::max<size_t>(1, (name.size() + 1) / 3);
    std::string best;
    size_t best_d = limit + 1;
    for (const auto& c : candidates) {
        if (c == name) continue;
        size_t diff = c.size() > name.size() ? c.size() - name.size() : name.size() - c.size();
        if (diff > limit) continue;
        size_t dist = edit_distance(name, c);
        if (dist < best_d && dist < std::max(name.size(), c.size())) {
            best_d = dist;
            best = c;
        }
    }
    return best;
}

}  // namespace moa
