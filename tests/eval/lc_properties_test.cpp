// Properties of the length-controlled win rate on synthetic judges (synthetic.hpp).
#include <catch2/catch.hpp>

#include <cmath>

#include "moa/eval_stats.hpp"
#include "synthetic.hpp"

using namespace moa::eval;

TEST_CASE("equal-length answers give an LC win rate equal to the raw win rate") {
    auto outcomes = eval_test::content_judge(2000, 0.7, 21);
    for (auto& o : outcomes) o.len_candidate = o.len_baseline = 640;  // sd of the differences is 0
    const LcFit fit = lc_fit(outcomes);
    CHECK(fit.sd == 0);
    CHECK(fit.lc == Approx(fit.raw).margin(0.5));
    const Interval lc = lc_win_rate(outcomes, 5), wr = win_rate(outcomes, 5);
    CHECK(lc.value == Approx(wr.value).margin(0.5));
    // The same resamples under the same seed, so the intervals agree too.
    CHECK(lc.low == Approx(wr.low).margin(1e-9));
    CHECK(lc.high == Approx(wr.high).margin(1e-9));
}

namespace {

// A judge that prefers the longer answer 90% of the time, whatever the content.
std::vector<PairOutcome> length_judge(double ratio, uint64_t seed) {
    auto outcomes = eval_test::content_judge(1000, 0.5, seed);
    eval_test::set_lengths(outcomes, ratio, seed);
    moa::eval::Rng rng(seed + 99);
    for (auto& o : outcomes) {
        const double p = o.len_candidate > o.len_baseline ? 0.9 : o.len_candidate < o.len_baseline ? 0.1 : 0.5;
        o.preference = swapped_preference(eval_test::bernoulli(rng, p), eval_test::bernoulli(rng, p));
    }
    return outcomes;
}

}  // namespace

TEST_CASE("a judge preferring the longer answer regardless of content moves LC toward 50% relative to raw") {
    SECTION("a verbose candidate") {
        const LcFit fit = lc_fit(length_judge(2.0, 1));
        INFO("raw " << fit.raw << " LC " << fit.lc);
        CHECK(fit.raw > 75);
        CHECK(std::fabs(fit.lc - 50) < std::fabs(fit.raw - 50) / 2);
        CHECK(fit.w_length < 0);  // delta = baseline - candidate: the longer candidate wins more
    }
    SECTION("a terse candidate") {
        const LcFit fit = lc_fit(length_judge(0.5, 2));
        INFO("raw " << fit.raw << " LC " << fit.lc);
        CHECK(fit.raw < 25);
        CHECK(std::fabs(fit.lc - 50) < std::fabs(fit.raw - 50) / 2);
    }
}

TEST_CASE("a content judge on answers of unrelated lengths keeps LC near the raw win rate") {
    auto outcomes = eval_test::content_judge(2000, 0.7, 8);
    eval_test::set_lengths(outcomes, 1.0, 8);
    const LcFit fit = lc_fit(outcomes);
    INFO("raw " << fit.raw << " LC " << fit.lc);
    CHECK(fit.lc == Approx(fit.raw).margin(1.5));
}

TEST_CASE("the LC interval is seeded and contains its point estimate") {
    const auto outcomes = length_judge(1.5, 4);
    const Interval a = lc_win_rate(outcomes, 10), b = lc_win_rate(outcomes, 10);
    CHECK(a.value == lc_fit(outcomes).lc);
    CHECK(a.low == b.low);
    CHECK(a.high == b.high);
    CHECK(a.low < a.value);
    CHECK(a.value < a.high);
}

TEST_CASE("with fewer queries than cross-validation folds the LC win rate is the raw win rate") {
    std::vector<PairOutcome> outcomes{{"a", 1, 900, 100}, {"b", 0, 100, 900}, {"c", 1, 500, 400}, {"d", 0.5, 300, 350}};
    const LcFit fit = lc_fit(outcomes);
    CHECK(fit.lc == fit.raw);
    CHECK(fit.c == 0);
}

TEST_CASE("a candidate that wins or loses every comparison gets a finite LC at the extreme") {
    auto outcomes = eval_test::content_judge(300, 0.5, 12);
    eval_test::set_lengths(outcomes, 1.3, 12);
    for (auto& o : outcomes) o.preference = 1;
    const Interval wins = lc_win_rate(outcomes, 3);
    CHECK(wins.value > 99);
    CHECK(wins.value <= 100);
    CHECK(wins.low > 99);
    for (auto& o : outcomes) o.preference = 0;
    const Interval losses = lc_win_rate(outcomes, 3);
    CHECK(losses.value < 1);
    CHECK(losses.value >= 0);
    CHECK(losses.high < 1);
}
