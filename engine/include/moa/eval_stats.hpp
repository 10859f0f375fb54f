// Statistics and rendering of `moa eval`: win rate and AlpacaEval 2.0's length-controlled
// (LC) win rate with seeded bootstrap confidence intervals, score means, and the table /
// HTML report of candidates side by side. Pure computation: no I/O besides the streams
// handed in, no engine, no threads. docs/eval.md ("## Statistics") says what the numbers
// mean and how the LC computation was checked against AlpacaEval's own code.
//
//   std::vector<moa::eval::PairOutcome> o = ...;            // one per judged query
//   auto wr = moa::eval::win_rate(o, seed);                  // {value, low, high} in percent
//   auto lc = moa::eval::lc_win_rate(o, seed);
//   moa::eval::write_table(std::cout, rows, moa::eval::TableFormat::Terminal);
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moa::eval {

// One judged (candidate, baseline) pair for one query.
struct PairOutcome {
    std::string query_id;       // the input's id (diagnostics only; statistics ignore it)
    // In [0, 1]: 1 = candidate better, 0 = baseline better, 0.5 = tie. With position
    // swapping this is the mean of the two judgements (swapped_preference), so two
    // orders that disagree give 0.5. AlpacaEval's preference p in [1, 2] is p - 1.
    double preference = 0.5;
    size_t len_candidate = 0;   // answer lengths in Unicode code points (code_points())
    size_t len_baseline = 0;
};

// A statistic and its 95% bootstrap percentile interval. Win rates are in percent
// (0..100); a score interval is in the judge's own units. All three are NaN when there
// is no data (an empty input).
struct Interval {
    double value = 0, low = 0, high = 0;
};

inline constexpr int kDefaultResamples = 1000;

// The preference of one query judged twice with positions swapped: `candidate_first` is
// the verdict (1 candidate better, 0 baseline better, 0.5 tie) when the candidate was
// shown first, `candidate_second` when it was shown second. The mean: disagreement is a tie.
double swapped_preference(double candidate_first, double candidate_second);

// Raw win rate: 100 x the mean preference. Interval: percentile bootstrap over queries
// (`resamples` resamples of n queries drawn with replacement, 2.5th and 97.5th
// percentiles), deterministic for a given seed on every platform (own PRNG).
// Throws std::invalid_argument on a preference outside [0, 1] or NaN, or resamples < 1.
Interval win_rate(const std::vector<PairOutcome>& outcomes, uint64_t seed,
                  int resamples = kDefaultResamples);

// AlpacaEval 2.0 length-controlled win rate, variant `length_controlled_minimal`
// (glm_winrate.py; docs/eval.md): an L1 logistic regression on the soft labels, no
// intercept, features {1, tanh((len_baseline - len_candidate) / sd)}, sd the sample
// standard deviation of the differences, C chosen by 5-fold grouped CV on log loss over
// logspace(-4, 4, 10) (query i in fold i mod 5); LC = the prediction with the length
// term at 0, x 100. sd == 0 (all differences equal) gives the raw win rate. Interval:
// the same bootstrap as win_rate, refitting on each resample at the full data's C.
// Deterministic for a seed; across C libraries exp/tanh may differ in the last bit, so
// the far decimals may too (win rate and score intervals are bit-identical everywhere).
Interval lc_win_rate(const std::vector<PairOutcome>& outcomes, uint64_t seed,
                     int resamples = kDefaultResamples);

// The fitted LC model, for tests and diagnostics.
struct LcFit {
    double lc = 0;            // percent
    double raw = 0;           // percent (the raw win rate of the same outcomes)
    double c = 0;             // the chosen inverse penalty (0 when sd == 0)
    double w_model = 0;       // coefficient of the constant model column
    double w_length = 0;      // coefficient of the tanh length term
    double sd = 0;            // sample std (ddof 1) of len_baseline - len_candidate
};
LcFit lc_fit(const std::vector<PairOutcome>& outcomes);

// Mean of single-answer scores (judge units) with the same percentile bootstrap.
Interval score_mean(const std::vector<double>& scores, uint64_t seed,
                    int resamples = kDefaultResamples);

// Number of Unicode code points in UTF-8 text, as Python's len() counts a str (what
// AlpacaEval measures). An invalid byte counts as one code point (as a decoder with
// errors="replace" would), so the count never fails.
size_t code_points(std::string_view utf8);

// The q-quantile (q in [0, 1]) of `values` with linear interpolation between order
// statistics (numpy's default); NaN for an empty vector. For latency p50 / p95.
double quantile(std::vector<double> values, double q);

// One line of the comparison table. Optional fields are shown as "-" (not applicable)
// except cost, which is "unknown" when absent (a price was missing), never 0.
struct CandidateRow {
    std::string name;                     // display name; untrusted, escaped by every writer
    size_t queries = 0;                   // queries of the input for this candidate
    std::optional<Interval> win_rate;     // pairwise mode, percent
    std::optional<Interval> lc_win_rate;  // pairwise mode, percent
    std::optional<Interval> score;        // score mode, judge units
    double mean_length = 0;               // mean answer length, code points
    double calls_per_query = 0;           // model calls per query (candidate's graph; 0 for a file)
    double tokens_per_query = 0;          // input + output tokens per query
    std::optional<double> cost_per_query; // USD per query; nullopt = unknown (no price)
    double latency_p50_ms = 0;            // per-query latency percentiles (wall time of a job)
    double latency_p95_ms = 0;
    size_t failures = 0;                  // queries whose candidate run failed
    size_t unparsable_verdicts = 0;       // judge replies that matched no verdict
};

enum class TableFormat { Terminal, Markdown, Json, Csv };
// "text" or "terminal", "md" or "markdown", "json", "csv"; nullopt otherwise.
std::optional<TableFormat> parse_table_format(std::string_view s);

// The table in one format. Terminal: aligned columns, intervals as "62.1 [59.0, 65.2]".
// Markdown: a GitHub table. Json: {"candidates":[{...}]} with every field (intervals as
// {"value","low","high"}, absent ones null). Csv: RFC 4180, a header line, one row each.
void write_table(std::ostream& out, const std::vector<CandidateRow>& rows, TableFormat f);

// Facts about the run printed above the table of the HTML report (all untrusted text is
// escaped; empty fields are left out).
struct ReportMeta {
    std::string title = "moa eval";
    std::string baseline;      // baseline's name (pairwise mode)
    std::string judge;         // judge's name or path
    std::string input;         // input file
    std::string generated_at;  // a timestamp chosen by the caller (keeps output reproducible)
    uint64_t seed = 0;
    int resamples = kDefaultResamples;
};

// One self-contained HTML page (inline CSS and SVG, no script, no network): the meta,
// the table, and a chart of quality (LC win rate, else score, else win rate) against
// cost per query with the Pareto frontier (cheaper and better) marked. Candidates of
// unknown cost are listed under the chart, not plotted.
void write_eval_report_html(std::ostream& out, const std::vector<CandidateRow>& rows,
                            const ReportMeta& meta);

}  // namespace moa::eval
