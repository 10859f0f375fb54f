// moa/duration.hpp is the one duration parser: the language's literals, flags that take
// seconds or a duration, and Go's compound form of rate-limit reset headers.
#include <catch2/catch.hpp>

#include "moa/duration.hpp"

using moa::DurationForm;
using moa::parse_duration_ms;

TEST_CASE("a duration literal is a number glued to one unit") {
    CHECK(parse_duration_ms("250ms") == 250);
    CHECK(parse_duration_ms("1.5h") == 5400000);
    CHECK(parse_duration_ms("2w") == 1209600000);
    CHECK(parse_duration_ms("1e3ms") == 1000);
    std::string why;
    CHECK_FALSE(parse_duration_ms("5", &why));
    CHECK(why.find("has no unit") != std::string::npos);
    CHECK_FALSE(parse_duration_ms("5days", &why));
    CHECK(why.find("unknown unit 'days'") != std::string::npos);
    CHECK_FALSE(parse_duration_ms("1m30s"));  // compound is Go's form, not the language's
}

TEST_CASE("a flag taking seconds also takes a bare number of seconds, and nothing looser") {
    CHECK(parse_duration_ms("5", DurationForm::LiteralOrSeconds) == 5000);
    CHECK(parse_duration_ms("2.5", DurationForm::LiteralOrSeconds) == 2500);
    CHECK(parse_duration_ms("500ms", DurationForm::LiteralOrSeconds) == 500);
    CHECK(parse_duration_ms("2min", DurationForm::LiteralOrSeconds) == 120000);
    CHECK(parse_duration_ms("-1", DurationForm::LiteralOrSeconds) == -1000);
    for (const char* bad : {"", "nan", "inf", "0x10", "1e300", "5 s", "s", "1.2.3"}) {
        INFO(bad);
        CHECK_FALSE(parse_duration_ms(bad, DurationForm::LiteralOrSeconds));
    }
}

TEST_CASE("Go's compound durations of rate-limit reset headers parse part by part") {
    CHECK(parse_duration_ms("1s", DurationForm::Go) == 1000);
    CHECK(parse_duration_ms("6m0s", DurationForm::Go) == 360000);
    CHECK(parse_duration_ms("20ms", DurationForm::Go) == 20);
    CHECK(parse_duration_ms("1h2m3.5s", DurationForm::Go) == 3723500);
    CHECK(parse_duration_ms("1.5", DurationForm::Go) == 1500);      // a bare number is seconds
    CHECK(parse_duration_ms("1m30", DurationForm::Go) == 90000);
    CHECK(parse_duration_ms("1500us", DurationForm::Go) == 1);       // truncated to whole ms
    CHECK(parse_duration_ms("2500\xC2\xB5s", DurationForm::Go) == 2);  // µs
    CHECK(parse_duration_ms("999999ns", DurationForm::Go) == 0);
    std::string why;
    for (const char* bad : {"", "-1s", "1d", "abc", "1 s", "s", "1.2.3s", "1min"}) {
        INFO(bad);
        CHECK_FALSE(parse_duration_ms(bad, DurationForm::Go, &why));
    }
    CHECK(why.find("is not a Go duration") != std::string::npos);
}
