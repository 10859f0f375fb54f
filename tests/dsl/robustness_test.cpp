// Hostile input: binary, a 10 MB single line, deep nesting, many errors. Each must
// end in diagnostics, not a crash, a stack overflow or exponential time (ctest's
// timeout is the guard; no timing assertions here).
#include <catch2/catch.hpp>

#include <random>

#include "moa/dsl.hpp"
#include "parser.hpp"
#include "source.hpp"

namespace {

moa::Diagnostics check(const std::string& text) {
    moa::Diagnostics d;
    moa::LoadOptions opts;
    auto r = moa::load_graph_text("hostile.moa", text, opts, d);
    CHECK_FALSE(r.ok);
    return d;
}

std::string first_message(const moa::Diagnostics& d) {
    REQUIRE_FALSE(d.all().empty());
    return d.all().front().message;
}

}  // namespace

TEST_CASE("binary input is rejected as not UTF-8 text") {
    std::mt19937 rng(42);
    std::string bin(1 << 20, '\0');
    for (auto& c : bin) c = static_cast<char>(rng());
    auto d = check(bin);
    CHECK(d.error_count() == 1);
    std::string m = first_message(d);
    CHECK((m == "invalid UTF-8 byte; a .moa file is UTF-8 text" || m == "NUL byte in source; a .moa file is UTF-8 text"));
}

TEST_CASE("a 10 MB single line of nonsense gives a bounded number of errors") {
    std::string line;
    while (line.size() < (10u << 20)) line += "agent x { model = = } ";
    auto d = check(line);
    CHECK(d.error_count() >= 1);
    CHECK(d.error_count() <= moa::kMaxErrorsPerFile + 1);
    // the caret line of a huge line is not printed
    CHECK(moa::render_text(d.all().front()).size() < 1000);
}

TEST_CASE("a 10 MB valid-looking list on one line parses in linear time") {
    std::string text = "backend s { kind = sim }\nagent a { backend = s  model = \"m\"  stop = [";
    while (text.size() < (10u << 20)) text += "\"x\", ";
    text += "] }\n";
    moa::Diagnostics d;
    moa::LoadOptions opts;
    moa::load_graph_text("big.moa", text, opts, d);
    CHECK(d.error_count() == 0);
}

TEST_CASE("deep nesting is an error, not a stack overflow") {
    for (char open : {'[', '(', '{'}) {
        std::string text = "layer l = ";
        text += std::string(100000, open);
        auto d = check(text);
        CHECK(first_message(d) == "nesting deeper than 64 levels");
    }
}

TEST_CASE("nesting within the limit is fine") {
    std::string text = "backend s { kind = sim }\nagent a { backend = s  model = \"m\"  stop = ";
    text += std::string(60, '[') + "\"x\"" + std::string(60, ']') + " }\n";
    moa::Diagnostics d;
    moa::load_graph_text("ok.moa", text, {}, d);
    // nested lists are not strings: a type error, but no syntax error
    REQUIRE(d.error_count() == 1);
    for (const auto& x : d.all())
        if (x.severity == moa::Severity::Error) CHECK(x.message == "'stop' items must be strings");
}

TEST_CASE("long chains of operators and unterminated constructs end") {
    std::string chain = "layer l = a";
    for (int i = 0; i < 200000; ++i) chain += " + a";
    check(chain);
    check(std::string("template t = \"\"\"") + std::string(1 << 20, 'x'));
    check(std::string("template t = \"") + std::string(1 << 20, 'x'));
    check(std::string(1 << 20, '{'));
    check(std::string(1 << 20, '}'));
    moa::Diagnostics d;
    CHECK(moa::load_graph_text("comment.moa", std::string(1 << 20, '#'), {}, d).ok);  // one long comment
}
