// write_eval_report_html: one self-contained page (inline CSS and SVG, no script, nothing
// fetched) with the run's facts, the table and the quality-vs-cost chart.
#include <cmath>
#include <ostream>
#include <string>

#include "eval/cells.hpp"
#include "eval/chart.hpp"
#include "moa/eval_stats.hpp"

namespace moa::eval {

namespace {

constexpr const char* kStyle = R"(<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .6em}th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:600}dd{margin:0}
svg{font-size:12px;font-family:inherit}p.note{color:#555;font-size:.9em}
</style>
)";

// Which quality the chart plots: LC win rate if any row has one, else score, else win rate.
struct Quality {
    std::string label;
    std::optional<Interval> CandidateRow::*field;
};

Quality quality_of(const std::vector<CandidateRow>& rows) {
    bool lc = false, score = false;
    for (const auto& r : rows) lc |= bool(r.lc_win_rate), score |= bool(r.score);
    if (lc) return {"LC win rate (%)", &CandidateRow::lc_win_rate};
    if (score) return {"score", &CandidateRow::score};
    return {"win rate (%)", &CandidateRow::win_rate};
}

void write_meta(std::ostream& out, const ReportMeta& m) {
    out << "<dl>\n";
    auto item = [&](const char* k, const std::string& v) {
        if (!v.empty()) out << "<dt>" << k << "</dt><dd>" << html_escape(v) << "</dd>\n";
    };
    item("baseline", m.baseline);
    item("judge", m.judge);
    item("input", m.input);
    item("generated", m.generated_at);
    item("bootstrap", std::to_string(m.resamples) + " resamples over queries, seed " + std::to_string(m.seed) +
                          ", 95% percentile intervals");
    out << "</dl>\n";
}

void write_html_table(std::ostream& out, const std::vector<CandidateRow>& rows) {
    const TableText t = table_text(rows);
    out << "<table>\n<thead><tr>";
    for (const auto& c : t.columns) out << "<th>" << html_escape(c.header) << "</th>";
    out << "</tr></thead>\n<tbody>\n";
    for (const auto& row : t.cells) {
        out << "<tr>";
        for (size_t c = 0; c < row.size(); ++c)
            out << (t.columns[c].numeric ? "<td class=\"num\">" : "<td>") << html_escape(row[c]) << "</td>";
        out << "</tr>\n";
    }
    out << "</tbody>\n</table>\n";
}

void write_chart(std::ostream& out, const std::vector<CandidateRow>& rows) {
    const Quality q = quality_of(rows);
    std::vector<ChartPoint> points;
    std::string unknown;
    for (const auto& r : rows) {
        const auto& quality = r.*q.field;
        if (!quality || !std::isfinite(quality->value)) continue;
        if (!r.cost_per_query || !std::isfinite(*r.cost_per_query)) {
            unknown += (unknown.empty() ? "" : ", ") + html_escape(r.name);
            continue;
        }
        points.push_back({r.name, *r.cost_per_query, *quality, false});
    }
    out << "<h2>" << html_escape(q.label) << " against cost per query</h2>\n";
    out << chart_svg(points, q.label);
    out << "<p class=\"note\">Filled red points joined by the dashed line are the Pareto frontier: no other "
           "candidate is both cheaper and better. Bars are 95% bootstrap intervals.</p>\n";
    if (!unknown.empty())
        out << "<p class=\"note unknown-cost\">Not plotted, cost unknown (no price for a model they call): "
            << unknown << "</p>\n";
}

}  // namespace

void write_eval_report_html(std::ostream& out, const std::vector<CandidateRow>& rows, const ReportMeta& meta) {
    out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>"
        << html_escape(meta.title) << "</title>\n"
        << kStyle << "</head>\n<body>\n<h1>" << html_escape(meta.title) << "</h1>\n";
    write_meta(out, meta);
    write_html_table(out, rows);
    write_chart(out, rows);
    out << "<p class=\"note\">Win rate: how often the judge preferred the candidate to the baseline (ties count "
           "half). LC: AlpacaEval 2.0's length-controlled win rate, the win rate predicted at equal answer "
           "lengths. An interval is the spread from resampling these queries; it says nothing about other "
           "queries or another judge.</p>\n</body>\n</html>\n";
}

}  // namespace moa::eval
