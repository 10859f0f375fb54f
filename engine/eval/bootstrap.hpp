// The percentile bootstrap shared by every interval of eval_stats.hpp.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "moa/eval_stats.hpp"

namespace moa::eval {

// Draws `resamples` resamples of n items with replacement (Rng(seed)), hands each one to
// `stat` as multiplicities (counts[i] = how often item i was drawn, summing to n), and
// returns {point, 2.5th, 97.5th percentile} of the statistics. `point` is the caller's
// statistic on the full data. n == 0 gives NaN everywhere.
Interval percentile_bootstrap(size_t n, uint64_t seed, int resamples, double point,
                              const std::function<double(const std::vector<uint32_t>& counts)>& stat);

// The same for the mean of `v`, without multiplicities (faster; the same draws).
Interval bootstrap_mean(const std::vector<double>& v, uint64_t seed, int resamples);

// Throws std::invalid_argument when resamples < 1.
void check_resamples(int resamples);

}  // namespace moa::eval
