// Synthetic judgements for the statistics tests: a seeded judge deciding each of the two
// position-swapped comparisons of a query, and answer lengths, all from the eval's own
// PRNG (deterministic on every platform).
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "eval/rng.hpp"
#include "moa/eval_stats.hpp"

namespace eval_test {

using moa::eval::PairOutcome;

// One verdict: 1 = the candidate won, 0 = the baseline won.
inline double bernoulli(moa::eval::Rng& rng, double p) { return rng.uniform() < p ? 1.0 : 0.0; }

// A judge preferring the candidate with probability p in either position.
inline std::vector<PairOutcome> content_judge(size_t n, double p, uint64_t seed) {
    moa::eval::Rng rng(seed ^ 0x5eed);
    std::vector<PairOutcome> out;
    for (size_t i = 0; i < n; ++i) {
        const double first = bernoulli(rng, p), second = bernoulli(rng, p);
        out.push_back({"q" + std::to_string(i), moa::eval::swapped_preference(first, second), 500, 500});
    }
    return out;
}

// Lengths: baseline around 1000 code points, the candidate's `ratio` times as long, both
// spread by a factor of about e^0.4.
inline void set_lengths(std::vector<PairOutcome>& v, double ratio, uint64_t seed) {
    moa::eval::Rng rng(seed ^ 0x1e6);
    auto lognormal = [&](double mu, double sigma) {  // Box-Muller
        const double u1 = 1 - rng.uniform(), u2 = rng.uniform();
        return std::exp(mu + sigma * std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2));
    };
    for (auto& o : v) {
        o.len_baseline = size_t(lognormal(std::log(1000), 0.4));
        o.len_candidate = size_t(double(o.len_baseline) * lognormal(std::log(ratio), 0.4));
    }
}

}  // namespace eval_test
