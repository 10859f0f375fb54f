// One candidate's line of the comparison table, from its answers and its judgements.
#include "moa/eval.hpp"

namespace moa::eval {

CandidateRow candidate_row(const std::string& name, const std::vector<Answer>& answers, const Judgements* judged,
                           uint64_t seed, int resamples) {
    CandidateRow row;
    row.name = name;
    row.queries = answers.size();
    size_t ok = 0, measured = 0;
    double length = 0, calls = 0, tokens = 0, cost = 0;
    bool cost_known = true;
    std::vector<double> latency;
    for (const Answer& a : answers) {
        if (!a.ok) {
            row.failures++;
            continue;
        }
        ok++;
        length += static_cast<double>(code_points(a.text));
        if (!a.measured) {
            cost_known = false;
            continue;
        }
        measured++;
        if (a.latency_ms >= 0) latency.push_back(a.latency_ms);
        calls += a.calls;
        tokens += static_cast<double>(a.tokens_in + a.tokens_out);
        cost += a.cost_usd;
        cost_known = cost_known && a.cost_known;
    }
    if (ok) row.mean_length = length / static_cast<double>(ok);
    if (measured) {
        row.calls_per_query = calls / static_cast<double>(measured);
        row.tokens_per_query = tokens / static_cast<double>(measured);
        row.latency_p50_ms = quantile(latency, 0.5);  // NaN ("n/a") when none was measured
        row.latency_p95_ms = quantile(latency, 0.95);
        if (cost_known) row.cost_per_query = cost / static_cast<double>(measured);
    }
    if (!judged) return row;
    row.unparsable_verdicts = judged->unparsable;
    if (!judged->outcomes.empty()) {
        row.win_rate = win_rate(judged->outcomes, seed, resamples);
        row.lc_win_rate = lc_win_rate(judged->outcomes, seed, resamples);
    }
    if (!judged->scores.empty()) row.score = score_mean(judged->scores, seed, resamples);
    return row;
}

}  // namespace moa::eval
