// The JSONL reader (JsonlSource) line by line: what becomes a job, and the message a
// malformed line gets. A table of {input line, expected prompt or error}.
#include <catch2/catch.hpp>

#include <sstream>

#include "moa/batch_io.hpp"

using namespace moa;

namespace {

struct Row {
    const char* line;
    const char* prompt;  // expected prompt, or nullptr when an error is expected
    const char* error;   // expected substring of the error
};

Query read_one(const std::string& line) {
    std::istringstream in(line + "\n");
    JsonlSource src(in);
    auto q = src.next();
    REQUIRE(q);
    return *q;
}

}  // namespace

TEST_CASE("JSONL input lines: prompts read, malformed lines named by what is wrong") {
    const Row rows[] = {
        {R"({"prompt":"hi"})", "hi", ""},
        {R"({"instruction":"hi","id":7})", "hi", ""},
        {R"({"prompt":"\ud83c\udf89 party"})", "\xF0\x9F\x8E\x89 party", ""},
        // A lone surrogate is a broken string, not a prompt of the wrong type.
        {R"({"prompt":"cut \ud83c"})", nullptr, "\"prompt\" holds an invalid escape (a lone UTF-16 surrogate"},
        {R"({"prompt":"bad \x"})", nullptr, "\"prompt\" holds an invalid escape"},
        {R"({"prompt":42})", nullptr, "\"prompt\" must be a string"},
        {R"({"prompt":"hi","dataset":7})", nullptr, "\"dataset\" must be a string"},
        {R"({"prompt":"hi","id":[1]})", nullptr, "\"id\" must be a string or a number"},
        {R"({"prompt":"hi"} trailing junk)", nullptr, "unexpected text after the JSON object"},
        {R"({"prompt":"hi"}{"prompt":"again"})", nullptr, "unexpected text after the JSON object"},
        {R"(["prompt","hi"])", nullptr, "expected a JSON object {\"prompt\": ...}, found an array"},
        {"this is not json", nullptr, "not valid JSON"},
        {"true", nullptr, "found a scalar"},
        {R"({"prompt":"hi")", nullptr, "not valid JSON"},
        {"{\"prompt\":\"\xff\xfe\"}", nullptr, "not valid UTF-8"},
        {R"({"id":"x"})", nullptr, "no \"prompt\" (or \"instruction\") field"},
        {R"({"prompt":"   "})", nullptr, "empty prompt"},
    };
    for (const Row& row : rows) {
        INFO(row.line);
        Query q = read_one(row.line);
        if (row.prompt) {
            CHECK(q.error.empty());
            CHECK(q.prompt == row.prompt);
        } else {
            CHECK(q.prompt.empty());
            CHECK(q.error.rfind("input line 1: ", 0) == 0);
            CHECK(q.error.find(row.error) != std::string::npos);
        }
    }
}

TEST_CASE("JSONL input: blank lines are skipped but counted, so errors name the physical line") {
    std::istringstream in("\n  \n{\"prompt\":\"a\"}\r\n\n{\"prompt\":1}\n");
    JsonlSource src(in);
    auto a = src.next();
    REQUIRE(a);
    CHECK(a->prompt == "a");
    CHECK(src.last().line == 3);
    auto b = src.next();
    REQUIRE(b);
    CHECK(b->error.rfind("input line 5: ", 0) == 0);
    CHECK_FALSE(src.next());
}
