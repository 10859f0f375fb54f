// bench_eval: the CPU `moa eval` spends on its own work, apart from the models: for 805
// queries (AlpacaEval's size) x 3 candidates of synthetic judged outcomes, the win rate
// and LC win rate with their 1,000-resample bootstrap intervals (LC includes its 5-fold x
// 10-C cross-validation), and rendering the table in four formats and the HTML report.
// Prints process CPU per part, best and median of 5 rounds. Target: under 1 s in all.
//
//   build/bench_eval [--report FILE]   (FILE: the sample report of docs/eval.png)
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "eval/rng.hpp"
#include "moa/eval_stats.hpp"

using namespace moa::eval;

namespace {

double cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

// A candidate whose answers are `ratio` times the baseline's length, judged better with
// probability `p` plus a pull toward the longer answer (as LLM judges have).
std::vector<PairOutcome> outcomes(double p, double ratio, uint64_t seed) {
    Rng rng(seed);
    std::vector<PairOutcome> v;
    for (int i = 0; i < 805; ++i) {
        const auto lb = size_t(800 + rng.below(1600));
        const auto lc = size_t(double(lb) * ratio * (0.6 + 0.8 * rng.uniform()));
        const double q = std::clamp(p + 0.15 * std::tanh((double(lc) - double(lb)) / 600), 0.0, 1.0);
        const double a = rng.uniform() < q ? 1 : 0, b = rng.uniform() < q ? 1 : 0;
        v.push_back({"q" + std::to_string(i), swapped_preference(a, b), lc, lb});
    }
    return v;
}

struct Spec {
    const char* name;
    double p, ratio, cost, calls, tokens, p50, p95;
};

CandidateRow evaluate(const Spec& s, const std::vector<PairOutcome>& o, uint64_t seed) {
    CandidateRow r;
    r.name = s.name;
    r.queries = o.size();
    r.win_rate = win_rate(o, seed);
    r.lc_win_rate = lc_win_rate(o, seed);
    double len = 0;
    for (const auto& x : o) len += double(x.len_candidate);
    r.mean_length = len / double(o.size());
    r.calls_per_query = s.calls;
    r.tokens_per_query = s.tokens;
    if (s.cost > 0) r.cost_per_query = s.cost;
    r.latency_p50_ms = s.p50;
    r.latency_p95_ms = s.p95;
    return r;
}

const Spec kSpecs[] = {
    {"moa (3 layers x 6 proposers)", 0.66, 1.5, 0.0310, 19, 61200, 21400, 38800},
    {"moa-lite (2 layers x 6)", 0.60, 1.3, 0.0115, 13, 30400, 12900, 24100},
    {"self-moa (6 samples)", 0.63, 1.4, 0.0168, 7, 27900, 9800, 17600},
    // Only in the sample report (not timed): a dominated one and one without a price.
    {"mixed small models", 0.52, 1.2, 0.0140, 13, 35600, 11100, 20400},
    {"local-llama (no price)", 0.45, 1.0, 0, 4, 9100, 6100, 9800},
};

}  // namespace

int main(int argc, char** argv) {
    const char* report = argc == 3 && std::strcmp(argv[1], "--report") == 0 ? argv[2] : nullptr;
    std::vector<std::vector<PairOutcome>> data;
    for (int c = 0; c < 5; ++c) data.push_back(outcomes(kSpecs[c].p, kSpecs[c].ratio, 100 + uint64_t(c)));

    std::vector<double> stats_ms, render_ms;
    std::vector<CandidateRow> rows;
    size_t bytes = 0;
    for (int round = 0; round < 5; ++round) {
        const double t0 = cpu_ms();
        rows.clear();
        for (int c = 0; c < 3; ++c) rows.push_back(evaluate(kSpecs[c], data[size_t(c)], 7));
        const double t1 = cpu_ms();
        std::ostringstream out;
        for (auto f : {TableFormat::Terminal, TableFormat::Markdown, TableFormat::Json, TableFormat::Csv})
            write_table(out, rows, f);
        write_eval_report_html(out, rows, ReportMeta{});
        bytes = out.str().size();
        stats_ms.push_back(t1 - t0);
        render_ms.push_back(cpu_ms() - t1);
    }
    auto best = [](std::vector<double> v) { return *std::min_element(v.begin(), v.end()); };
    auto median = [](std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; };
    std::printf("bench_eval: 805 queries x 3 candidates, 1000 bootstrap resamples, 5 rounds\n");
    std::printf("  statistics (win rate + LC with CV, both with bootstrap CIs): best %.1f ms, median %.1f ms CPU\n",
                best(stats_ms), median(stats_ms));
    std::printf("  rendering (4 table formats + HTML report, %zu bytes):       best %.2f ms, median %.2f ms CPU\n",
                bytes, best(render_ms), median(render_ms));
    std::printf("  total per evaluation: median %.1f ms CPU (target < 1000 ms)\n", median(stats_ms) + median(render_ms));

    if (report) {
        for (int c = 3; c < 5; ++c) rows.push_back(evaluate(kSpecs[c], data[size_t(c)], 7));
        ReportMeta meta;
        meta.title = "moa eval: sample report (synthetic judgements)";
        meta.baseline = "single model (gpt-4o-mini)";
        meta.judge = "stdlib pairwise judge";
        meta.input = "alpaca_eval.jsonl (805 queries)";
        meta.generated_at = "2026-11-25 19:30 UTC";
        meta.seed = 7;
        std::ofstream(report) << [&] { std::ostringstream o; write_eval_report_html(o, rows, meta); return o.str(); }();
        std::printf("sample report written to %s\n", report);
    }
}
