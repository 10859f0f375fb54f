// Proximal Newton for the LC win rate's logistic regression (glm.hpp).
#include "eval/glm.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace moa::eval {

namespace {

double sigmoid(double z) {
    if (z >= 0) return 1 / (1 + std::exp(-z));
    const double e = std::exp(z);
    return e / (1 + e);
}
double weight(const std::vector<double>& w, size_t i) { return w.empty() ? 1.0 : w[i]; }

// The quadratic model of the objective around `b` plus the exact L1 term.
struct Quad {
    std::array<double, 2> g;     // gradient of the smooth part
    std::array<double, 3> h;     // Hessian: h00, h01, h11
    GlmCoef b;
    double at(GlmCoef x) const {
        const double d0 = x.model - b.model, d1 = x.length - b.length;
        return g[0] * d0 + g[1] * d1 + 0.5 * (h[0] * d0 * d0 + 2 * h[1] * d0 * d1 + h[2] * d1 * d1) +
               std::fabs(x.model) + std::fabs(x.length);
    }
};

double soft_threshold(double x, double k) { return x > k ? x - k : x < -k ? x + k : 0.0; }

// The exact minimiser of a strictly convex 2-D quadratic plus |x0| + |x1|: it lies on a
// face of the sign orthants, so try every face (both zero, one zero, each sign pattern
// of both non-zero) and keep the best consistent candidate.
GlmCoef solve_subproblem(const Quad& q) {
    std::vector<GlmCoef> cands{{0, 0}};
    if (q.h[0] > 0)  // length = 0: 1-D in model
        cands.push_back({soft_threshold(q.h[0] * q.b.model - q.g[0] + q.h[1] * q.b.length, 1) / q.h[0], 0});
    if (q.h[2] > 0)
        cands.push_back({0, soft_threshold(q.h[2] * q.b.length - q.g[1] + q.h[1] * q.b.model, 1) / q.h[2]});
    const double det = q.h[0] * q.h[2] - q.h[1] * q.h[1];
    if (det > 1e-300 * std::max(1.0, q.h[0] * q.h[2])) {
        for (double s0 : {-1.0, 1.0})
            for (double s1 : {-1.0, 1.0}) {
                const double r0 = -(q.g[0] + s0), r1 = -(q.g[1] + s1);  // H d = r
                const double d0 = (q.h[2] * r0 - q.h[1] * r1) / det;
                const double d1 = (q.h[0] * r1 - q.h[1] * r0) / det;
                const GlmCoef x{q.b.model + d0, q.b.length + d1};
                if (x.model * s0 > 0 && x.length * s1 > 0) cands.push_back(x);
            }
    }
    GlmCoef best = cands[0];
    double best_v = q.at(best);
    for (const auto& x : cands)
        if (const double v = q.at(x); v < best_v) best = x, best_v = v;
    return best;
}

// The objective at `b` and its quadratic model there, in one pass over the rows: one
// exp and one log1p per row give the loss, its slope and its curvature (the bootstrap
// refits a thousand times, so this is the evaluation's hot loop).
struct Point {
    double f;
    Quad q;
};

Point evaluate(const GlmData& d, const std::vector<double>& w, double c, GlmCoef b) {
    Point p{0, {{0, 0}, {0, 0, 0}, b}};
    double loss = 0;
    const size_t n = d.p.size();
    for (size_t i = 0; i < n; ++i) {
        const double wi = weight(w, i);
        if (wi == 0) continue;
        const double t = d.t[i];
        const double z = b.model + b.length * t;
        const double e = std::exp(-std::fabs(z));         // in (0, 1]: no overflow
        const double s = z >= 0 ? 1 / (1 + e) : e / (1 + e);  // sigmoid(z)
        loss += wi * (std::max(z, 0.0) + std::log1p(e) - d.p[i] * z);  // softplus(z) - p z
        const double r = wi * (s - d.p[i]), v = wi * s * (1 - s);
        p.q.g[0] += r, p.q.g[1] += r * t;
        p.q.h[0] += v, p.q.h[1] += v * t, p.q.h[2] += v * t * t;
    }
    for (auto& x : p.q.g) x *= c;
    for (auto& x : p.q.h) x *= c;
    p.f = std::fabs(b.model) + std::fabs(b.length) + c * loss;
    return p;
}

}  // namespace

GlmCoef fit_glm(const GlmData& d, const std::vector<double>& w, double c, GlmCoef b) {
    Point at = evaluate(d, w, c, b);
    for (int iter = 0; iter < 200; ++iter) {
        const GlmCoef target = solve_subproblem(at.q);
        const double d0 = target.model - b.model, d1 = target.length - b.length;
        // Armijo backtracking on the true objective; predicted decrease q(target) - q(b) <= 0.
        const double predicted = at.q.at(target) - (std::fabs(b.model) + std::fabs(b.length));
        // A predicted decrease below the objective's rounding cannot be checked by Armijo
        // (it would backtrack on noise); the Newton step is then within its square of the
        // optimum: take it and stop.
        if (-predicted <= 1e-13 * std::max(1.0, at.f)) return target;
        double step = 1;
        GlmCoef next{};
        Point tried = at;
        for (int k = 0; k < 60; ++k, step /= 2) {
            next = {b.model + step * d0, b.length + step * d1};
            tried = evaluate(d, w, c, next);
            if (tried.f <= at.f + 1e-4 * step * predicted) break;
        }
        if (tried.f > at.f) break;  // no decrease possible: at the optimum to rounding
        const double moved = std::max(std::fabs(next.model - b.model), std::fabs(next.length - b.length));
        b = next;
        at = tried;
        if (moved < 1e-12 * std::max(1.0, std::max(std::fabs(b.model), std::fabs(b.length)))) break;
    }
    return b;
}

double mean_log_loss(const GlmData& d, const std::vector<size_t>& rows, GlmCoef b) {
    constexpr double eps = 1e-15;
    double sum = 0;
    for (size_t i : rows) {
        const double q = std::clamp(sigmoid(b.model + b.length * d.t[i]), eps, 1 - eps);
        sum += d.p[i] * std::log(q) + (1 - d.p[i]) * std::log(1 - q);
    }
    return rows.empty() ? 0 : -sum / double(rows.size());
}

}  // namespace moa::eval
