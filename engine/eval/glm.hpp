// The two-feature L1 logistic regression behind the LC win rate (lc.cpp): soft labels,
// no intercept, features {1, t}. Minimises, as liblinear's L1-regularised logistic
// regression does with sample weights w_i and soft label p_i split into two weighted rows,
//     |b_model| + |b_length| + C * sum_i w_i * (softplus(z_i) - p_i * z_i),
//     z_i = b_model + b_length * t_i,
// by proximal Newton steps whose 2-D L1 subproblem is solved exactly, to 1e-12.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace moa::eval {

struct GlmData {
    std::vector<double> p;  // soft labels in [0, 1]
    std::vector<double> t;  // the length feature
};

struct GlmCoef {
    double model = 0, length = 0;
};

// Fits the rows whose weight is non-zero (weights: one per row; empty = all 1), starting
// from `start` (a warm start along a path of C values or from the full data's fit).
GlmCoef fit_glm(const GlmData& d, const std::vector<double>& weights, double c, GlmCoef start);

// Mean log loss (labels soft, predictions clipped to [1e-15, 1 - 1e-15] as AlpacaEval's
// logloss) over the rows of `rows`.
double mean_log_loss(const GlmData& d, const std::vector<size_t>& rows, GlmCoef w);

}  // namespace moa::eval
