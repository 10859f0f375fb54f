// A candidate's table row from its answers: what is measured and what is not.
#include <catch2/catch.hpp>

#include "moa/eval.hpp"

using namespace moa::eval;

TEST_CASE("a row counts lengths in code points and takes calls, tokens and latency from measured answers only",
          "[evalcmd][rows]") {
    std::vector<Answer> answers(4);
    answers[0] = Answer{true, "h\xc3\xa9llo", true, 100, 3, 10, 20, 0, false};  // 5 code points, 6 bytes
    answers[1] = Answer{true, "abc", true, 300, 5, 30, 40, 0, false};
    answers[2] = Answer{false, "node: timed out", true, 9999, 1, 1, 1, 0, false};
    answers[3] = Answer{true, "x", false};  // from a file: no calls, no latency
    CandidateRow r = candidate_row("g", answers, nullptr, 1, 1000);
    CHECK(r.queries == 4);
    CHECK(r.failures == 1);
    CHECK(r.mean_length == Approx((5 + 3 + 1) / 3.0));
    CHECK(r.calls_per_query == Approx(4));
    CHECK(r.tokens_per_query == Approx(50));
    CHECK(r.latency_p50_ms == Approx(200));
    CHECK(!r.cost_per_query);  // a file's answers have no cost: unknown, never 0
    CHECK(!r.win_rate);
}

TEST_CASE("a row's cost is known only when every measured answer's cost is", "[evalcmd][rows]") {
    std::vector<Answer> answers = {Answer{true, "a", true, 1, 1, 1, 1, 0.002, true},
                                   Answer{true, "b", true, 1, 1, 1, 1, 0.004, true}};
    CHECK(*candidate_row("g", answers, nullptr, 1, 1000).cost_per_query == Approx(0.003));
    answers[1].cost_known = false;
    CHECK(!candidate_row("g", answers, nullptr, 1, 1000).cost_per_query);
}

TEST_CASE("a row's win rate comes from the judged outcomes, the unparsable verdicts are carried", "[evalcmd][rows]") {
    Judgements j;
    for (int i = 0; i < 100; ++i) j.outcomes.push_back(PairOutcome{std::to_string(i), i < 70 ? 1.0 : 0.0, 10, 10});
    j.unparsable = 3;
    std::vector<Answer> answers(100, Answer{true, "0123456789", true, 1, 1, 1, 1, 0, false});
    CandidateRow r = candidate_row("g", answers, &j, 7, 1000);
    REQUIRE(r.win_rate);
    CHECK(r.win_rate->value == Approx(70));
    CHECK(r.win_rate->low < 70);
    CHECK(r.win_rate->high > 70);
    REQUIRE(r.lc_win_rate);
    CHECK(r.unparsable_verdicts == 3);
}
