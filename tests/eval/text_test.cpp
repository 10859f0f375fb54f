// Small helpers of eval_stats.hpp: code points, quantiles, swapped preferences.
#include <catch2/catch.hpp>

#include <cmath>

#include "moa/eval_stats.hpp"

using namespace moa::eval;

TEST_CASE("answer lengths count Unicode code points as Python's len does, not bytes") {
    CHECK(code_points("") == 0);
    CHECK(code_points("hello") == 5);
    CHECK(code_points("h\xc3\xa9llo") == 5);          // é: 2 bytes
    CHECK(code_points("\xe6\x97\xa5\xe6\x9c\xac") == 2);  // 日本: 3 bytes each
    CHECK(code_points("\xf0\x9f\x98\x80!") == 2);     // an emoji (4 bytes, 2 UTF-16 units) and '!'
}

TEST_CASE("an invalid UTF-8 byte counts as one code point instead of failing") {
    CHECK(code_points("a\xff" "b") == 3);
    CHECK(code_points("\xc3") == 1);           // truncated sequence at the end
    CHECK(code_points("\xe6\x97" "a") == 3);   // truncated sequence before ASCII
    CHECK(code_points("\xc0\xaf") == 2);       // overlong encoding
}

TEST_CASE("quantiles interpolate between order statistics like numpy's default") {
    CHECK(quantile({3, 1, 2, 4}, 0.5) == 2.5);
    CHECK(quantile({10, 20, 30, 40, 50}, 0.95) == Approx(48.0));
    CHECK(quantile({7}, 0.95) == 7);
    CHECK(std::isnan(quantile({}, 0.5)));
}

TEST_CASE("two position-swapped verdicts that disagree are a tie") {
    CHECK(swapped_preference(1, 0) == 0.5);
    CHECK(swapped_preference(0, 1) == 0.5);
    CHECK(swapped_preference(1, 1) == 1);
    CHECK(swapped_preference(0.5, 1) == 0.75);
}
