// moa/ascii.hpp: ASCII only, whatever the locale, and UTF-8 bytes are left alone.
#include <catch2/catch.hpp>

#include <clocale>

#include "moa/ascii.hpp"

using namespace moa::ascii;

TEST_CASE("ascii lower-casing changes A-Z only and leaves UTF-8 bytes as they are") {
    CHECK(lower("Content-Type: X-RateLimit") == "content-type: x-ratelimit");
    CHECK(lower("\xC3\x84rger \xC3\xBC") == "\xC3\x84rger \xC3\xBC");  // "Ärger ü": bytes >= 0x80 untouched
    CHECK(lower("@[`{") == "@[`{");  // the neighbours of A-Z and a-z
    CHECK(to_lower('Z') == 'z');
    CHECK(iequals("Retry-After", "retry-after"));
    CHECK_FALSE(iequals("retry-after", "retry-afte"));
    CHECK_FALSE(iequals("@", "`"));  // '@' | 0x20 == '`', but they are not letters
}

TEST_CASE("ascii classes do not depend on the C locale and never treat UTF-8 bytes as spaces or letters") {
    std::setlocale(LC_ALL, "C.UTF-8");
    for (int b = 0x80; b <= 0xff; ++b) {
        char c = static_cast<char>(b);
        CHECK_FALSE((is_space(c) || is_alpha(c) || is_digit(c) || is_xdigit(c)));
    }
    std::setlocale(LC_ALL, "C");
    for (char c : std::string(" \t\n\r\v\f")) CHECK(is_space(c));
    CHECK_FALSE(is_space('\0'));
    CHECK(is_alnum('7'));
    CHECK(hex_value('F') == 15);
    CHECK(hex_value('a') == 10);
    CHECK(hex_value('g') == -1);
}

TEST_CASE("trim removes the given characters at both ends only") {
    CHECK(trim("  a b \r\n") == "a b");
    CHECK(trim(" \t ").empty());
    CHECK(trim_right("42 \n") == "42");
    CHECK(trim_left("\tx ") == "x ");
    CHECK(trim("  key  ", " ") == "key");
    CHECK(trim("\tkey ", " ") == "\tkey");  // only the set given
    CHECK(is_blank(" \t\r\n"));
    CHECK(is_blank(""));
    CHECK_FALSE(is_blank(" x "));
    CHECK(is_blank(" \t", " \t"));
    CHECK_FALSE(is_blank("\n", " \t"));
}
