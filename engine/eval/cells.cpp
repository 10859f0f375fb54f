// Table cells as text (cells.hpp).
#include "eval/cells.hpp"

#include <charconv>
#include <cmath>

namespace moa::eval {

std::string fixed(double x, int decimals) {
    if (!std::isfinite(x)) return "n/a";
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::fixed, decimals);
    std::string s(buf, r.ptr);
    if (s.find_first_not_of("-0.") == std::string::npos && s[0] == '-') s.erase(0, 1);  // no "-0.0"
    return s;
}

std::string cost_text(const std::optional<double>& usd) {
    if (!usd || !std::isfinite(*usd)) return "unknown";
    const double x = *usd;
    if (x == 0) return "0";
    const int magnitude = int(std::floor(std::log10(std::fabs(x))));
    return fixed(x, std::max(0, 2 - magnitude));  // 3 significant digits
}

namespace {

std::string interval_text(const std::optional<Interval>& i, int decimals) {
    if (!i) return "-";
    if (!std::isfinite(i->value)) return "n/a";
    return fixed(i->value, decimals) + " [" + fixed(i->low, decimals) + ", " + fixed(i->high, decimals) + "]";
}

}  // namespace

TableText table_text(const std::vector<CandidateRow>& rows) {
    bool has_wr = false, has_lc = false, has_score = false;
    for (const auto& r : rows) has_wr |= bool(r.win_rate), has_lc |= bool(r.lc_win_rate), has_score |= bool(r.score);
    TableText t;
    t.columns.push_back({"candidate", false});
    t.columns.push_back({"queries"});
    if (has_wr) t.columns.push_back({"win rate % [95% CI]"});
    if (has_lc) t.columns.push_back({"LC win rate % [95% CI]"});
    if (has_score) t.columns.push_back({"score [95% CI]"});
    for (const char* h : {"mean length", "calls/query", "tokens/query", "cost/query $", "p50 ms", "p95 ms",
                          "failures", "unparsable"})
        t.columns.push_back({h});
    for (const auto& r : rows) {
        std::vector<std::string> c{r.name, std::to_string(r.queries)};
        if (has_wr) c.push_back(interval_text(r.win_rate, 1));
        if (has_lc) c.push_back(interval_text(r.lc_win_rate, 1));
        if (has_score) c.push_back(interval_text(r.score, 2));
        c.push_back(fixed(r.mean_length, 0));
        c.push_back(fixed(r.calls_per_query, 2));
        c.push_back(fixed(r.tokens_per_query, 0));
        c.push_back(cost_text(r.cost_per_query));
        c.push_back(fixed(r.latency_p50_ms, 0));
        c.push_back(fixed(r.latency_p95_ms, 0));
        c.push_back(std::to_string(r.failures));
        c.push_back(std::to_string(r.unparsable_verdicts));
        t.cells.push_back(std::move(c));
    }
    return t;
}

}  // namespace moa::eval
