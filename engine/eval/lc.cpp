// AlpacaEval 2.0's length-controlled win rate, variant `length_controlled_minimal`.
//
// Reference: tatsu-lab/alpaca_eval, src/alpaca_eval/metrics/glm_winrate.py at commit
// 19866ff84cd815cb8907c27fd34766541813cfa0 (get_length_controlled_winrate,
// _get_featurized_data, fit_LogisticRegressionCV, logloss_continuous). What it does for
// one candidate, and how this file does the same:
//  - label p = preference - 1 in [0, 1] (ours are already in [0, 1]);
//  - delta = len(output_1) - len(output_2) = len_baseline - len_candidate, divided by its
//    sample standard deviation (pandas' std, ddof 1) and not centred; feature tanh(.);
//  - formula "np.tanh(std_delta_len) + not_gamed_baseline.astype(float) - 1": no
//    intercept, a constant column of ones (the model term) and the length term;
//  - soft labels: each row twice, label 1 with weight p and label 0 with weight 1 - p,
//    which is the weighted objective of glm.hpp;
//  - LogisticRegressionCV(penalty="l1", solver="liblinear", fit_intercept=False), default
//    Cs=10, i.e. C in logspace(-4, 4, 10); GroupKFold(5) with the row as group; score =
//    mean log loss on the held-out fold (predictions clipped at 1e-15), summed over the
//    folds; the first best C wins (numpy argmax); refit on all rows at that C;
//  - LC = mean prediction with the length term at 0 = sigmoid(b_model), x 100.
// Differences, on purpose: GroupKFold orders groups with an unstable sort on equal sizes,
// so its folds depend on the machine; here row i is in fold i mod 5, which is what a
// stable sort gives. When sd is 0 or undefined (all length differences equal, or fewer
// than 2 rows) the reference divides by zero and fails; here LC = the raw win rate. With
// fewer rows than folds (GroupKFold raises) LC is the raw win rate too.
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "eval/bootstrap.hpp"
#include "eval/glm.hpp"
#include "moa/eval_stats.hpp"

namespace moa::eval {

namespace {

constexpr int kFolds = 5;
constexpr int kGrid = 10;  // logspace(-4, 4, 10)

double grid_c(int k) { return std::pow(10.0, -4.0 + 8.0 * k / (kGrid - 1)); }

double sigmoid_pct(double z) { return 100 / (1 + std::exp(-z)); }

// The sample std (ddof 1) of the length differences under multiplicities `w` (empty = 1
// each); NaN for fewer than two rows.
double delta_sd(const std::vector<double>& delta, const std::vector<double>& w) {
    double n = 0, sum = 0;
    for (size_t i = 0; i < delta.size(); ++i) {
        const double wi = w.empty() ? 1 : w[i];
        n += wi, sum += wi * delta[i];
    }
    if (n < 2) return std::numeric_limits<double>::quiet_NaN();
    const double mean = sum / n;
    double ss = 0;
    for (size_t i = 0; i < delta.size(); ++i) {
        const double wi = w.empty() ? 1 : w[i];
        ss += wi * (delta[i] - mean) * (delta[i] - mean);
    }
    return std::sqrt(ss / (n - 1));
}

// The length feature of every row with a non-zero weight (w empty: every row).
void set_length_feature(GlmData& d, const std::vector<double>& delta, double sd, const std::vector<double>& w) {
    d.t.resize(delta.size());
    for (size_t i = 0; i < delta.size(); ++i)
        if (w.empty() || w[i] != 0) d.t[i] = std::tanh(delta[i] / sd);
}

// The C of the grid with the least log loss summed over the folds (first on ties).
double choose_c(const GlmData& d) {
    const size_t n = d.p.size();
    double best_loss = std::numeric_limits<double>::infinity(), best_c = grid_c(0);
    std::vector<double> sum(kGrid, 0.0);
    for (int fold = 0; fold < kFolds; ++fold) {
        std::vector<double> train(n, 1.0);
        std::vector<size_t> test;
        for (size_t i = size_t(fold); i < n; i += kFolds) train[i] = 0, test.push_back(i);
        GlmCoef w{};
        for (int k = 0; k < kGrid; ++k) {  // increasing C: each fit warm-starts the next
            w = fit_glm(d, train, grid_c(k), w);
            sum[size_t(k)] += mean_log_loss(d, test, w);
        }
    }
    for (int k = 0; k < kGrid; ++k)
        if (sum[size_t(k)] < best_loss) best_loss = sum[size_t(k)], best_c = grid_c(k);
    return best_c;
}

struct Prepared {
    GlmData d;
    std::vector<double> delta;
};

Prepared prepare(const std::vector<PairOutcome>& outcomes) {
    Prepared p;
    for (const auto& o : outcomes) {
        if (!(o.preference >= 0.0 && o.preference <= 1.0))
            throw std::invalid_argument("eval: preference of query '" + o.query_id + "' is " +
                                        std::to_string(o.preference) + ", outside [0, 1]");
        p.d.p.push_back(o.preference);
        p.delta.push_back(double(o.len_baseline) - double(o.len_candidate));
    }
    return p;
}

double raw_pct(const std::vector<double>& p, const std::vector<double>& w) {
    double n = 0, sum = 0;
    for (size_t i = 0; i < p.size(); ++i) {
        const double wi = w.empty() ? 1 : w[i];
        n += wi, sum += wi * p[i];
    }
    return n == 0 ? std::numeric_limits<double>::quiet_NaN() : 100 * sum / n;
}

LcFit fit_prepared(Prepared& pr) {
    LcFit f;
    f.raw = raw_pct(pr.d.p, {});
    f.sd = delta_sd(pr.delta, {});
    f.lc = f.raw;
    if (!(f.sd > 0) || pr.d.p.size() < size_t(kFolds)) return f;
    set_length_feature(pr.d, pr.delta, f.sd, {});
    f.c = choose_c(pr.d);
    const GlmCoef w = fit_glm(pr.d, {}, f.c, GlmCoef{});
    f.w_model = w.model, f.w_length = w.length;
    f.lc = sigmoid_pct(w.model);
    return f;
}

}  // namespace

LcFit lc_fit(const std::vector<PairOutcome>& outcomes) {
    Prepared pr = prepare(outcomes);
    return fit_prepared(pr);
}

// Each resample recomputes sd and the length feature and refits at the full data's C
// (warm-started from the full fit): choosing C again per resample would cost the 50 fits
// of the cross-validation each time, for an interval that moves by hundredths.
Interval lc_win_rate(const std::vector<PairOutcome>& outcomes, uint64_t seed, int resamples) {
    Prepared pr = prepare(outcomes);
    const LcFit full = fit_prepared(pr);
    const GlmCoef start{full.w_model, full.w_length};
    std::vector<double> w(outcomes.size());
    return percentile_bootstrap(outcomes.size(), seed, resamples, full.lc, [&](const std::vector<uint32_t>& c) {
        for (size_t i = 0; i < c.size(); ++i) w[i] = c[i];
        if (full.c == 0) return raw_pct(pr.d.p, w);
        const double sd = delta_sd(pr.delta, w);
        if (!(sd > 0)) return raw_pct(pr.d.p, w);
        set_length_feature(pr.d, pr.delta, sd, w);
        return sigmoid_pct(fit_glm(pr.d, w, full.c, start).model);
    });
}

}  // namespace moa::eval
