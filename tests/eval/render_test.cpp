// The comparison table in its four formats and the HTML report's content.
#include <catch2/catch.hpp>
#include <simdjson.h>

#include <cmath>
#include <sstream>

#include "eval/chart.hpp"
#include "moa/eval_stats.hpp"

using namespace moa::eval;

namespace {

std::vector<CandidateRow> sample_rows() {
    CandidateRow a;
    a.name = "moa-paper";
    a.queries = 805;
    a.win_rate = Interval{65.1, 62.0, 68.3};
    a.lc_win_rate = Interval{61.2, 58.0, 64.4};
    a.mean_length = 1843.4;
    a.calls_per_query = 13;
    a.tokens_per_query = 24567;
    a.cost_per_query = 0.0123;
    a.latency_p50_ms = 8200;
    a.latency_p95_ms = 15100;
    a.failures = 2;
    a.unparsable_verdicts = 1;
    CandidateRow b = a;
    b.name = "evil, \"quoted\" | <script>alert(1)</script>\x1b[2J";
    b.cost_per_query.reset();
    b.lc_win_rate = Interval{55.0, 52.0, 58.0};
    return {a, b};
}

std::string render(const std::vector<CandidateRow>& rows, TableFormat f) {
    std::ostringstream out;
    write_table(out, rows, f);
    return out.str();
}

}  // namespace

TEST_CASE("the terminal table aligns columns, shows unknown cost as unknown and no terminal escapes") {
    const std::string t = render(sample_rows(), TableFormat::Terminal);
    CHECK(t.find("LC win rate % [95% CI]") != std::string::npos);
    CHECK(t.find("61.2 [58.0, 64.4]") != std::string::npos);
    CHECK(t.find("0.0123") != std::string::npos);
    CHECK(t.find("unknown") != std::string::npos);
    CHECK(t.find('\x1b') == std::string::npos);
    CHECK(t.find("score") == std::string::npos);  // no row has a score: no column for it
    std::istringstream lines(t);
    std::string header, first;
    std::getline(lines, header);
    std::getline(lines, first);
    CHECK(header.find("queries") + 7 == first.find("805") + 3);  // right-aligned under the header
}

TEST_CASE("the Markdown table escapes pipes and HTML in names") {
    const std::string md = render(sample_rows(), TableFormat::Markdown);
    CHECK(md.find("| candidate |") == 0);
    CHECK(md.find("\\|") != std::string::npos);
    CHECK(md.find("<script>") == std::string::npos);
    CHECK(md.find("&lt;script&gt;") != std::string::npos);
}

TEST_CASE("the JSON table carries every field, unknown cost as null") {
    const std::string js = render(sample_rows(), TableFormat::Json);
    simdjson::ondemand::parser parser;
    simdjson::padded_string padded(js);
    auto doc = parser.iterate(padded);
    auto rows = doc["candidates"].get_array();
    size_t n = 0;
    for (auto row : rows) {
        if (n == 0) {
            CHECK(std::string_view(row["name"]) == "moa-paper");
            CHECK(double(row["lc_win_rate"]["low"]) == 58.0);
            CHECK(bool(row["score"].is_null()));
            CHECK(double(row["cost_per_query"]) == 0.0123);
            CHECK(uint64_t(row["unparsable_verdicts"]) == 1);
        } else {
            CHECK(bool(row["cost_per_query"].is_null()));
        }
        ++n;
    }
    CHECK(n == 2);
}

TEST_CASE("the CSV table quotes a name with commas and quotes and leaves unknown cost empty") {
    const std::string csv = render(sample_rows(), TableFormat::Csv);
    CHECK(csv.find("candidate,queries,win_rate,") == 0);
    CHECK(csv.find("\"evil, \"\"quoted\"\" |") != std::string::npos);
    CHECK(csv.find(",0.0123,") != std::string::npos);
    CHECK(csv.find(",,8200,") != std::string::npos);  // empty cost, then p50
}

TEST_CASE("table formats parse from their command-line names") {
    CHECK(parse_table_format("md") == TableFormat::Markdown);
    CHECK(parse_table_format("json") == TableFormat::Json);
    CHECK(parse_table_format("csv") == TableFormat::Csv);
    CHECK(parse_table_format("text") == TableFormat::Terminal);
    CHECK_FALSE(parse_table_format("xml"));
}

TEST_CASE("the Pareto frontier keeps the points no other point is cheaper and better than") {
    std::vector<ChartPoint> pts{{"a", 1, {60, 58, 62}, false},
                                {"b", 2, {55, 53, 57}, false},   // dearer and worse than a
                                {"c", 3, {70, 68, 72}, false},
                                {"d", 3, {65, 63, 67}, false}};  // same cost as c, worse
    pareto_frontier(pts);
    CHECK(pts[0].frontier);
    CHECK_FALSE(pts[1].frontier);
    CHECK(pts[2].frontier);
    CHECK_FALSE(pts[3].frontier);
}

TEST_CASE("the HTML report is self-contained, escapes names and does not plot unknown cost at 0") {
    auto rows = sample_rows();
    CandidateRow c = rows[0];
    c.name = "dominated";
    c.cost_per_query = 0.02;
    c.lc_win_rate = Interval{50, 47, 53};
    rows.push_back(c);
    ReportMeta meta;
    meta.baseline = "gpt-4o <baseline>";
    std::ostringstream out;
    write_eval_report_html(out, rows, meta);
    const std::string html = out.str();
    CHECK(html.find("<!DOCTYPE html>") == 0);
    CHECK(html.find("<script") == std::string::npos);
    CHECK(html.find("src=") == std::string::npos);
    CHECK(html.find("href=") == std::string::npos);
    CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
    CHECK(html.find("gpt-4o &lt;baseline&gt;") != std::string::npos);
    CHECK(html.find("<svg") != std::string::npos);
    // Plotted: moa-paper (frontier) and dominated; the unknown-cost one is listed instead.
    CHECK(html.find("class='pt frontier'") != std::string::npos);
    CHECK(html.find("class='pt'") != std::string::npos);
    CHECK(html.find("<title>evil") == std::string::npos);
    const auto unknown = html.find("cost unknown");
    REQUIRE(unknown != std::string::npos);
    CHECK(html.find("evil, &quot;quoted&quot;", unknown) != std::string::npos);
}

TEST_CASE("a statistic without data reads n/a in the table and null in JSON") {
    CandidateRow r;
    r.name = "empty";
    const double nan = std::nan("");
    r.win_rate = Interval{nan, nan, nan};
    r.mean_length = nan;
    const std::string t = render({r}, TableFormat::Terminal);
    CHECK(t.find("n/a") != std::string::npos);
    CHECK(t.find("nan") == std::string::npos);
    const std::string js = render({r}, TableFormat::Json);
    CHECK(js.find("\"win_rate\":{\"value\":null,\"low\":null,\"high\":null}") != std::string::npos);
    CHECK(js.find("\"mean_length\":null") != std::string::npos);
    CHECK(render({r}, TableFormat::Csv).find("nan") == std::string::npos);
}

TEST_CASE("a report where no candidate has a known cost says so instead of an empty chart") {
    auto rows = sample_rows();
    for (auto& r : rows) r.cost_per_query.reset();
    std::ostringstream out;
    write_eval_report_html(out, rows, ReportMeta{});
    CHECK(out.str().find("no candidate with both a quality and a known cost") != std::string::npos);
    CHECK(out.str().find("class='pt") == std::string::npos);
}
