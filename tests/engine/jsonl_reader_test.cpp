// The JSONL reader (JsonlSource) line by line: what becomes a job, and the message a
// malformed line gets. A table of {input line, expected prompt or error}.
#include <catch2/catch.hpp>

#include <algorithm>
#include <istream>
#include <sstream>
#include <streambuf>
#include <string>
#include <vector>

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

namespace {

// Hands its text out a few bytes per read, as a pipe or a terminal does: a line spans
// many refills of the stream's buffer.
class Trickle : public std::streambuf {
public:
    Trickle(std::string text, size_t chunk) : text_(std::move(text)), chunk_(chunk) {}

protected:
    int_type underflow() override {
        if (pos_ >= text_.size()) return traits_type::eof();
        size_t n = std::min(chunk_, text_.size() - pos_);
        char* p = &text_[pos_];
        setg(p, p, p + n);
        pos_ += n;
        return traits_type::to_int_type(*p);
    }

private:
    std::string text_;
    size_t chunk_;
    size_t pos_ = 0;
};

// Every query of `text`, with the line each came from.
struct Read {
    Query q;
    InputLine line;
};
std::vector<Read> read_all(const std::string& text, size_t chunk = 4096) {
    Trickle buf(text, chunk);
    std::istream in(&buf);
    JsonlSource src(in);
    std::vector<Read> out;
    while (auto q = src.next()) out.push_back({std::move(*q), src.last()});
    return out;
}

}  // namespace

TEST_CASE("JSONL input: an id may be a string or a number, kept as written; without one the row's id is null") {
    auto rows = read_all(R"({"prompt":"a","id":"abc"}
{"prompt":"b","id":7}
{"prompt":"c","id":-3.50 }
{"prompt":"d"}
{"prompt":"e","id":"7"}
{"prompt":"f","id":null}
)");
    REQUIRE(rows.size() == 6);
    CHECK(rows[0].q.id == "abc");
    CHECK(rows[0].line.has_id);
    CHECK(rows[0].line.id == "abc");
    CHECK(rows[1].q.id == "7");
    CHECK(rows[2].q.id == "-3.50");  // the number's text, not a re-formatted double
    CHECK(rows[3].q.id.empty());
    CHECK_FALSE(rows[3].line.has_id);
    CHECK(rows[3].q.error.empty());
    CHECK(rows[4].line.id == "7");  // 7 and "7" read alike
    CHECK(rows[5].q.error == "input line 6: \"id\" must be a string or a number");
}

TEST_CASE("JSONL input: \"prompt\" wins over \"instruction\" in either order; \"instruction\" alone is the prompt") {
    auto rows = read_all(R"({"instruction":"i","prompt":"p"}
{"prompt":"p","instruction":"i"}
{"instruction":"only"}
)");
    REQUIRE(rows.size() == 3);
    CHECK(rows[0].q.prompt == "p");
    CHECK(rows[1].q.prompt == "p");
    CHECK(rows[2].q.prompt == "only");
    CHECK(rows[2].line.query == "only");  // kept for AlpacaEval's "instruction"
}

TEST_CASE("JSONL input: \"dataset\" is copied through; null or absent means none") {
    auto rows = read_all(R"({"prompt":"a","dataset":"helpful_base"}
{"prompt":"b","dataset":null}
{"prompt":"c"}
)");
    REQUIRE(rows.size() == 3);
    CHECK(rows[0].line.has_dataset);
    CHECK(rows[0].line.dataset == "helpful_base");
    CHECK_FALSE(rows[1].line.has_dataset);
    CHECK_FALSE(rows[2].line.has_dataset);
    CHECK(rows[1].q.error.empty());
}

TEST_CASE("JSONL input: a malformed line is a query with an error, and the lines after it are still read") {
    auto rows = read_all("{\"prompt\":\"a\"}\n{\"prompt\":\n\t \n{\"prompt\":\"\"}\n{\"prompt\":\"d\",\"dataset\":\"x\"}\n");
    REQUIRE(rows.size() == 4);
    CHECK(rows[0].q.prompt == "a");
    CHECK(rows[1].q.error.rfind("input line 2: not valid JSON", 0) == 0);
    CHECK(rows[1].line.line == 2);
    CHECK(rows[1].line.query.empty());
    CHECK(rows[2].q.error == "input line 4: empty prompt");  // line 3 was blank (a tab and a space)
    CHECK(rows[3].q.prompt == "d");
    CHECK(rows[3].line.line == 5);
    CHECK(rows[3].line.dataset == "x");
}

TEST_CASE("JSONL input: CRLF line endings everywhere, blank CRLF lines included, read as LF") {
    auto rows = read_all("{\"prompt\":\"a\"}\r\n\r\n  \r\n{\"prompt\":\"b\\r\\n\",\"id\":2}\r\n{\"prompt\":1}\r\n");
    REQUIRE(rows.size() == 3);
    CHECK(rows[0].q.prompt == "a");
    CHECK(rows[1].q.prompt == "b\r\n");  // an escaped CR LF inside the string is the prompt's own
    CHECK(rows[1].q.id == "2");
    CHECK(rows[1].line.line == 4);
    CHECK(rows[2].q.error == "input line 5: \"prompt\" must be a string");
}

TEST_CASE("JSONL input: a UTF-8 BOM before the first line is skipped; one on a later line is an error") {
    // As docs/cli.md says (editors on Windows write one); a BOM inside the file is not
    // JSON and is reported on its line.
    auto rows = read_all("\xEF\xBB\xBF{\"prompt\":\"a\"}\n\xEF\xBB\xBF{\"prompt\":\"b\"}\n");
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].q.prompt == "a");
    CHECK(rows[0].q.error.empty());
    CHECK(rows[1].q.prompt.empty());
    CHECK(rows[1].q.error.rfind("input line 2: ", 0) == 0);
    // A BOM before a blank first line is skipped too; the line still counts.
    rows = read_all("\xEF\xBB\xBF\n{\"prompt\":\"a\"}\n");
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].line.line == 2);
}

TEST_CASE("JSONL input: lines far longer than the stream's buffer are read whole") {
    std::string big(3 << 20, 'x');  // 3 MiB, handed out 4 KiB at a time
    for (size_t i = 0; i < big.size(); i += 1000) big[i] = static_cast<char>('a' + i / 1000 % 26);
    std::string text = "{\"prompt\":\"" + big + "\",\"id\":1}\n{\"prompt\":\"after\"}\n";
    for (size_t chunk : {size_t(1), size_t(7), size_t(4096)}) {
        INFO("chunk " << chunk);
        auto rows = read_all(chunk == 1 ? "{\"prompt\":\"" + big.substr(0, 70000) + "\"}\n{\"prompt\":\"after\"}\n" : text,
                             chunk);
        REQUIRE(rows.size() == 2);
        CHECK(rows[0].q.prompt == (chunk == 1 ? big.substr(0, 70000) : big));
        CHECK(rows[1].q.prompt == "after");
        CHECK(rows[1].line.line == 2);
    }
}

TEST_CASE("JSONL input: the last line counts without a newline, and one cut inside its object says so") {
    auto rows = read_all("{\"prompt\":\"a\"}\n{\"prompt\":\"b\"}");
    REQUIRE(rows.size() == 2);
    CHECK(rows[1].q.prompt == "b");
    CHECK(rows[1].q.error.empty());
    rows = read_all("{\"prompt\":\"a\"}\r\n{\"prompt\":\"b\"}\r");
    REQUIRE(rows.size() == 2);
    CHECK(rows[1].q.prompt == "b");
    rows = read_all("{\"prompt\":\"a\"}\n{\"prompt\":\"cut sh");
    REQUIRE(rows.size() == 2);
    CHECK(rows[1].q.error.rfind("input line 2: not valid JSON", 0) == 0);
    CHECK(read_all("").empty());
    CHECK(read_all("\n\n").empty());
}
