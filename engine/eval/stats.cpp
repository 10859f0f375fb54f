// Win rate, score mean and their bootstrap intervals; code points; quantiles.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "eval/bootstrap.hpp"
#include "eval/rng.hpp"
#include "moa/eval_stats.hpp"

namespace moa::eval {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_preferences(const std::vector<PairOutcome>& outcomes) {
    for (const auto& o : outcomes)
        if (!(o.preference >= 0.0 && o.preference <= 1.0))  // also rejects NaN
            throw std::invalid_argument("eval: preference of query '" + o.query_id + "' is " +
                                        std::to_string(o.preference) + ", outside [0, 1]");
}

double mean(const std::vector<double>& v) {
    double sum = 0;
    for (double x : v) sum += x;
    return sum / double(v.size());
}

}  // namespace

void check_resamples(int resamples) {
    if (resamples < 1)
        throw std::invalid_argument("eval: bootstrap resamples must be at least 1, got " +
                                    std::to_string(resamples));
}

double quantile(std::vector<double> values, double q) {
    if (values.empty()) return kNaN;
    std::sort(values.begin(), values.end());
    const double h = q * double(values.size() - 1);
    const auto lo = size_t(std::floor(h));
    const size_t hi = std::min(lo + 1, values.size() - 1);
    return values[lo] + (h - double(lo)) * (values[hi] - values[lo]);
}

Interval percentile_bootstrap(size_t n, uint64_t seed, int resamples, double point,
                              const std::function<double(const std::vector<uint32_t>&)>& stat) {
    check_resamples(resamples);
    if (n == 0) return {kNaN, kNaN, kNaN};
    Rng rng(seed);
    std::vector<uint32_t> counts(n);
    std::vector<double> stats;
    stats.reserve(size_t(resamples));
    const auto n32 = uint32_t(n);
    for (int r = 0; r < resamples; ++r) {
        std::fill(counts.begin(), counts.end(), 0u);
        for (size_t k = 0; k < n; ++k) ++counts[rng.below(n32)];
        stats.push_back(stat(counts));
    }
    return {point, quantile(stats, 0.025), quantile(std::move(stats), 0.975)};
}

double swapped_preference(double candidate_first, double candidate_second) {
    return (candidate_first + candidate_second) / 2;
}

// The bootstrap of a mean, in one pass per resample: the same draws as
// percentile_bootstrap (so a mean's resamples are the LC's resamples under one seed),
// summed as they come instead of counted first. This is the hot loop of the evaluation.
Interval bootstrap_mean(const std::vector<double>& v, uint64_t seed, int resamples) {
    check_resamples(resamples);
    const size_t n = v.size();
    if (n == 0) return {kNaN, kNaN, kNaN};
    Rng rng(seed);
    std::vector<double> stats(static_cast<size_t>(resamples));
    const auto n32 = uint32_t(n);
    const double* data = v.data();
    for (auto& stat : stats) {
        double sum = 0;
        for (size_t k = 0; k < n; ++k) sum += data[rng.below(n32)];
        stat = sum / double(n);
    }
    return {mean(v), quantile(stats, 0.025), quantile(std::move(stats), 0.975)};
}

Interval win_rate(const std::vector<PairOutcome>& outcomes, uint64_t seed, int resamples) {
    check_preferences(outcomes);
    std::vector<double> p;
    p.reserve(outcomes.size());
    for (const auto& o : outcomes) p.push_back(o.preference * 100);
    return bootstrap_mean(p, seed, resamples);
}

Interval score_mean(const std::vector<double>& scores, uint64_t seed, int resamples) {
    for (double s : scores)
        if (!std::isfinite(s)) throw std::invalid_argument("eval: a score is not a finite number");
    return bootstrap_mean(scores, seed, resamples);
}

// A well-formed sequence counts once; a byte that starts none counts once by itself
// (a decoder with errors="replace" emits one U+FFFD for it), so text is never rejected.
size_t code_points(std::string_view s) {
    size_t count = 0;
    size_t i = 0;
    const size_t n = s.size();
    while (i < n) {
        const auto b = static_cast<unsigned char>(s[i]);
        size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
        if (len > 1 && (b == 0xC0 || b == 0xC1 || b > 0xF4)) len = 0;  // overlong / beyond U+10FFFF
        bool ok = len != 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
        i += ok ? len : 1;
        ++count;
    }
    return count;
}

}  // namespace moa::eval
