// Win rate and its bootstrap interval on synthetic judges (synthetic.hpp).
#include <catch2/catch.hpp>

#include <stdexcept>

#include "moa/eval_stats.hpp"
#include "synthetic.hpp"

using namespace moa::eval;

TEST_CASE("a judge preferring the candidate 70% of the time over 2,000 queries gives a 95% CI containing 70%") {
    const auto outcomes = eval_test::content_judge(2000, 0.7, 1);
    const Interval wr = win_rate(outcomes, 42);
    CHECK(wr.low < 70.0);
    CHECK(wr.high > 70.0);
    CHECK(wr.value == Approx(70).margin(2.5));
    CHECK(wr.high - wr.low < 5.0);  // about 2 x 1.96 x sqrt(0.7 * 0.3 / 2000 / 2) x 100 = 2.8
}

TEST_CASE("over 200 seeds the 95% CI of the win rate covers the true 70% between 93% and 97% of the time") {
    int covered = 0;
    for (uint64_t seed = 1; seed <= 200; ++seed) {
        const Interval wr = win_rate(eval_test::content_judge(2000, 0.7, seed), seed * 7919);
        covered += wr.low <= 70.0 && 70.0 <= wr.high;
    }
    INFO(covered << " of 200 intervals cover 70%");
    CHECK(covered >= 186);
    CHECK(covered <= 194);
}

TEST_CASE("a judge that always picks the first position gives 50% with position swapping") {
    std::vector<PairOutcome> outcomes;
    for (int i = 0; i < 2000; ++i)  // candidate first: it wins; candidate second: it loses
        outcomes.push_back({"q", swapped_preference(1.0, 0.0), 400, 700});
    const Interval wr = win_rate(outcomes, 3);
    CHECK(wr.value == Approx(50).margin(2));
    CHECK(wr.low >= 48);
    CHECK(wr.high <= 52);
    // Without the swap (the candidate always shown first) the same judge would say 100%.
    for (auto& o : outcomes) o.preference = 1.0;
    CHECK(win_rate(outcomes, 3).value == 100);
}

TEST_CASE("a judge biased to the first position still gives the content's win rate with position swapping") {
    // 60% of verdicts pick the first position whatever it holds; the rest judge content,
    // where candidate and baseline are equally good.
    moa::eval::Rng rng(11);
    std::vector<PairOutcome> outcomes;
    for (int i = 0; i < 2000; ++i) {
        auto verdict = [&](bool candidate_first) {
            if (rng.uniform() < 0.6) return candidate_first ? 1.0 : 0.0;
            return eval_test::bernoulli(rng, 0.5);
        };
        const double a = verdict(true), b = verdict(false);
        outcomes.push_back({"q", swapped_preference(a, b), 500, 500});
    }
    CHECK(win_rate(outcomes, 5).value == Approx(50).margin(2));
}

TEST_CASE("the bootstrap interval is a function of the data and the seed") {
    const auto outcomes = eval_test::content_judge(300, 0.6, 9);
    const Interval a = win_rate(outcomes, 77), b = win_rate(outcomes, 77), c = win_rate(outcomes, 78);
    CHECK(a.low == b.low);
    CHECK(a.high == b.high);
    CHECK((a.low != c.low || a.high != c.high));
    // Golden values: the same on every platform (own PRNG, no <random> distributions).
    CHECK(a.value == Approx(59.8333333333).margin(1e-9));
    CHECK(a.low == Approx(55.8333333333).margin(1e-9));
    CHECK(a.high == Approx(64.3333333333).margin(1e-9));
}

TEST_CASE("the default bootstrap draws at least 1,000 resamples and refuses fewer than one") {
    CHECK(kDefaultResamples >= 1000);
    const auto outcomes = eval_test::content_judge(10, 0.5, 1);
    CHECK_THROWS_AS(win_rate(outcomes, 1, 0), std::invalid_argument);
    CHECK_THROWS_AS(score_mean({1.0, 2.0}, 1, -3), std::invalid_argument);
}

TEST_CASE("a preference outside [0, 1] is refused, naming the query") {
    std::vector<PairOutcome> outcomes{{"q-7", 1.5, 1, 1}};
    CHECK_THROWS_WITH(win_rate(outcomes, 1), Catch::Contains("q-7") && Catch::Contains("outside [0, 1]"));
    outcomes[0].preference = std::nan("");
    CHECK_THROWS_AS(win_rate(outcomes, 1), std::invalid_argument);
    CHECK_THROWS_AS(lc_win_rate(outcomes, 1), std::invalid_argument);
}

TEST_CASE("no outcomes give NaN, not a number that looks measured") {
    const Interval wr = win_rate({}, 1);
    CHECK(std::isnan(wr.value));
    CHECK(std::isnan(wr.low));
    CHECK(std::isnan(lc_win_rate({}, 1).value));
    CHECK(std::isnan(score_mean({}, 1).high));
}

TEST_CASE("the score mean's interval contains the mean of a 1-10 judge's scores") {
    moa::eval::Rng rng(4);
    std::vector<double> scores;
    for (int i = 0; i < 500; ++i) scores.push_back(1 + rng.below(10));  // uniform 1..10, mean 5.5
    const Interval s = score_mean(scores, 8);
    CHECK(s.low < 5.5);
    CHECK(s.high > 5.5);
    CHECK(s.low < s.value);
    CHECK(s.value < s.high);
    CHECK_THROWS_AS(score_mean({1.0, INFINITY}, 1), std::invalid_argument);
}
