// write_table: the comparison table on a terminal, as Markdown, JSON or CSV.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <ostream>
#include <string>

#include "eval/cells.hpp"
#include "moa/eval_stats.hpp"
#include "moa/json_writer.hpp"

namespace moa::eval {

namespace {

// Untrusted text on a terminal: control bytes (escape sequences could rewrite the
// screen) become '?'.
std::string terminal_safe(const std::string& s) {
    std::string out = s;
    for (char& ch : out)
        if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
    return out;
}

void write_terminal(std::ostream& out, const TableText& t) {
    std::vector<size_t> width(t.columns.size());
    for (size_t c = 0; c < t.columns.size(); ++c) {
        width[c] = code_points(t.columns[c].header);
        for (const auto& row : t.cells) width[c] = std::max(width[c], code_points(terminal_safe(row[c])));
    }
    auto line = [&](const std::vector<std::string>& cells, auto numeric) {
        std::string s;
        for (size_t c = 0; c < cells.size(); ++c) {
            const std::string text = terminal_safe(cells[c]);
            const std::string pad(width[c] - code_points(text), ' ');
            if (c) s += "  ";
            s += numeric(c) ? pad + text : text + pad;
        }
        while (!s.empty() && s.back() == ' ') s.pop_back();
        out << s << '\n';
    };
    std::vector<std::string> headers;
    for (const auto& col : t.columns) headers.push_back(col.header);
    line(headers, [&](size_t c) { return t.columns[c].numeric; });
    for (const auto& row : t.cells) line(row, [&](size_t c) { return t.columns[c].numeric; });
}

// A Markdown cell: '|' and '\' escaped, line breaks as spaces, and '<' '>' '&' as
// entities because renderers pass inline HTML through.
std::string md_cell(const std::string& s) {
    std::string out;
    for (char ch : s) {
        switch (ch) {
            case '|': out += "\\|"; break;
            case '\\': out += "\\\\"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '&': out += "&amp;"; break;
            case '\n': case '\r': out += ' '; break;
            default: out += ch;
        }
    }
    return out;
}

void write_markdown(std::ostream& out, const TableText& t) {
    out << '|';
    for (const auto& col : t.columns) out << ' ' << md_cell(col.header) << " |";
    out << "\n|";
    for (const auto& col : t.columns) out << (col.numeric ? " ---: |" : " --- |");
    out << '\n';
    for (const auto& row : t.cells) {
        out << '|';
        for (const auto& cell : row) out << ' ' << md_cell(cell) << " |";
        out << '\n';
    }
}

// RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
    std::string out = "\"";
    for (char ch : s) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return out + '"';
}

std::string csv_number(double x) {
    if (!std::isfinite(x)) return "";
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, x);  // shortest round-trip form
    return std::string(buf, r.ptr);
}

void write_csv(std::ostream& out, const std::vector<CandidateRow>& rows) {
    out << "candidate,queries,win_rate,win_rate_low,win_rate_high,lc_win_rate,lc_win_rate_low,lc_win_rate_high,"
           "score,score_low,score_high,mean_length,calls_per_query,tokens_per_query,cost_per_query,"
           "latency_p50_ms,latency_p95_ms,failures,unparsable_verdicts\r\n";
    auto interval = [](const std::optional<Interval>& i) {
        return i ? csv_number(i->value) + ',' + csv_number(i->low) + ',' + csv_number(i->high) : std::string(",,");
    };
    for (const auto& r : rows) {
        out << csv_field(r.name) << ',' << r.queries << ',' << interval(r.win_rate) << ','
            << interval(r.lc_win_rate) << ',' << interval(r.score) << ',' << csv_number(r.mean_length) << ','
            << csv_number(r.calls_per_query) << ',' << csv_number(r.tokens_per_query) << ','
            << (r.cost_per_query ? csv_number(*r.cost_per_query) : "") << ',' << csv_number(r.latency_p50_ms)
            << ',' << csv_number(r.latency_p95_ms) << ',' << r.failures << ',' << r.unparsable_verdicts << "\r\n";
    }
}

void json_number(JsonWriter& w, double x) {
    if (std::isfinite(x)) w.number(x);
    else w.null();
}

void json_interval(JsonWriter& w, const char* key, const std::optional<Interval>& i) {
    w.key(key);
    if (!i) {
        w.null();
        return;
    }
    w.begin_object().key("value");
    json_number(w, i->value);
    w.key("low");
    json_number(w, i->low);
    w.key("high");
    json_number(w, i->high);
    w.end_object();
}

void write_json(std::ostream& out, const std::vector<CandidateRow>& rows) {
    std::string s;
    JsonWriter w(s, 2);
    w.begin_object().key("candidates").begin_array();
    for (const auto& r : rows) {
        w.begin_object().key("name").value(r.name).key("queries").value(uint64_t(r.queries));
        json_interval(w, "win_rate", r.win_rate);
        json_interval(w, "lc_win_rate", r.lc_win_rate);
        json_interval(w, "score", r.score);
        w.key("mean_length"), json_number(w, r.mean_length);
        w.key("calls_per_query"), json_number(w, r.calls_per_query);
        w.key("tokens_per_query"), json_number(w, r.tokens_per_query);
        w.key("cost_per_query");
        if (r.cost_per_query) json_number(w, *r.cost_per_query);
        else w.null();
        w.key("latency_p50_ms"), json_number(w, r.latency_p50_ms);
        w.key("latency_p95_ms"), json_number(w, r.latency_p95_ms);
        w.key("failures").value(uint64_t(r.failures));
        w.key("unparsable_verdicts").value(uint64_t(r.unparsable_verdicts));
        w.end_object();
    }
    w.end_array().end_object();
    out << s << '\n';
}

}  // namespace

std::optional<TableFormat> parse_table_format(std::string_view s) {
    if (s == "text" || s == "terminal") return TableFormat::Terminal;
    if (s == "md" || s == "markdown") return TableFormat::Markdown;
    if (s == "json") return TableFormat::Json;
    if (s == "csv") return TableFormat::Csv;
    return std::nullopt;
}

void write_table(std::ostream& out, const std::vector<CandidateRow>& rows, TableFormat f) {
    switch (f) {
        case TableFormat::Terminal: write_terminal(out, table_text(rows)); break;
        case TableFormat::Markdown: write_markdown(out, table_text(rows)); break;
        case TableFormat::Json: write_json(out, rows); break;
        case TableFormat::Csv: write_csv(out, rows); break;
    }
}

}  // namespace moa::eval
