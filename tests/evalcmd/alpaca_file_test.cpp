// AlpacaEval outputs files as candidates: read strictly, matched to the queries by exact
// instruction text, written back whole.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "moa/eval.hpp"

namespace fs = std::filesystem;
using namespace moa::eval;

namespace {

std::string temp_path(const std::string& name) {
    const char* t = std::getenv("TMPDIR");
    fs::path dir = fs::path(t && *t ? t : "/tmp") / ("moa-evalcmd-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    return (dir / name).string();
}

std::string write(const std::string& name, const std::string& text) {
    std::string p = temp_path(name);
    std::ofstream(p, std::ios::binary) << text;
    return p;
}

std::vector<EvalQuery> queries(const std::string& jsonl) {
    std::istringstream in(jsonl);
    return read_queries(in, "q.jsonl");
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const moa::Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("an AlpacaEval outputs file answers each query by its exact instruction text", "[evalcmd][alpaca]") {
    auto qs = queries("{\"prompt\": \"b?\"}\n{\"prompt\": \"a?\", \"id\": 7}\n{\"prompt\": \"b?\"}\n");
    std::string p = write("ok.json", R"([{"instruction": "a?", "output": "A", "generator": "ref", "dataset": "x", "extra": 1},
        {"instruction": "b?", "output": "B \u00e9", "generator": "ref"},
        {"instruction": "c?", "output": "C", "generator": "ref"}])");
    auto entries = read_alpaca_outputs(p);
    REQUIRE(entries.size() == 3);
    CHECK(entries[0].dataset == "x");
    MatchReport rep;
    auto answers = match_alpaca_outputs(entries, qs, p, rep);
    REQUIRE(answers.size() == 3);
    CHECK(answers[0].text == "B \xc3\xa9");
    CHECK(answers[1].text == "A");
    CHECK(answers[2].text == "B \xc3\xa9");  // a repeated query gets its text's one entry
    CHECK(!answers[0].measured);
    CHECK(rep.generator == "ref");
    CHECK(rep.unmatched_entries == 1);  // "c?": counted, ignored
    CHECK(looks_like_alpaca_outputs(p));
}

TEST_CASE("a query the outputs file does not answer stops the eval, naming its line", "[evalcmd][alpaca]") {
    auto qs = queries("{\"prompt\": \"a?\"}\n{\"prompt\": \"a? \"}\n");
    std::string p = write("missing.json", R"([{"instruction": "a?", "output": "A", "generator": "ref"}])");
    MatchReport rep;
    std::string e = error_of([&] { match_alpaca_outputs(read_alpaca_outputs(p), qs, p, rep); });
    CHECK_THAT(e, Catch::Contains("has no answer for 1 of the 2 input queries"));
    CHECK_THAT(e, Catch::Contains("input line 2"));  // a trailing space is another text
}

TEST_CASE("two entries with one instruction are ambiguous and refused", "[evalcmd][alpaca]") {
    auto qs = queries("{\"prompt\": \"a?\"}\n");
    std::string p = write("dup.json", R"([{"instruction": "a?", "output": "A", "generator": "ref"},
        {"instruction": "a?", "output": "A2", "generator": "ref"}])");
    MatchReport rep;
    std::string e = error_of([&] { match_alpaca_outputs(read_alpaca_outputs(p), qs, p, rep); });
    CHECK_THAT(e, Catch::Contains("duplicate instruction"));
    CHECK_THAT(e, Catch::Contains("entry 1 (0-based) repeats entry 0"));
}

TEST_CASE("a malformed outputs file names the entry and the field", "[evalcmd][alpaca]") {
    CHECK_THAT(error_of([&] { read_alpaca_outputs(write("b1.json", R"([{"instruction": "a", "generator": "g"}])")); }),
               Catch::Contains("entry 0 (0-based) has no \"output\""));
    CHECK_THAT(error_of([&] {
                   read_alpaca_outputs(write("b2.json", R"([{"instruction": "a", "output": null, "generator": "g"}])"));
               }),
               Catch::Contains("\"output\" must be a string"));
    CHECK_THAT(error_of([&] {
                   read_alpaca_outputs(write("b3.json", R"([{"instruction": "a", "output": "x", "generator": "g"},
                       {"instruction": "b", "output": "y", "generator": "h"}])"));
               }),
               Catch::Contains("one outputs file must hold one system's answers"));
    CHECK_THAT(error_of([&] { read_alpaca_outputs(write("b4.json", R"({"instruction": "a"})")); }),
               Catch::Contains("not an AlpacaEval outputs file"));
    CHECK_THAT(error_of([&] { read_alpaca_outputs(write("b5.json", "[]")); }), Catch::Contains("holds no entries"));
    CHECK_THAT(error_of([&] { read_alpaca_outputs(temp_path("absent.json")); }), Catch::Contains("cannot open"));
}

TEST_CASE("written outputs read back as the same answers, failures left out", "[evalcmd][alpaca]") {
    auto qs = queries("{\"prompt\": \"q \\\"1\\\"\", \"dataset\": \"d\"}\n{\"prompt\": \"q2\"}\n{\"prompt\": \"q3\"}\n");
    std::vector<Answer> answers(3);
    answers[0] = Answer{true, "line1\nline2", true};
    answers[1] = Answer{false, "node: timed out", true};
    answers[2] = Answer{true, "three", true};
    std::string p = temp_path("written.json");
    CHECK(write_alpaca_outputs(p, qs, answers, "moa:g") == 2);
    auto back = read_alpaca_outputs(p);
    REQUIRE(back.size() == 2);
    CHECK(back[0].instruction == "q \"1\"");
    CHECK(back[0].output == "line1\nline2");
    CHECK(back[0].dataset == "d");
    CHECK(back[1].dataset == "moa");
    CHECK(back[1].generator == "moa:g");
    CHECK(!fs::exists(p + ".tmp"));
}

TEST_CASE("an eval input with a malformed line or no query is refused", "[evalcmd][alpaca]") {
    CHECK_THAT(error_of([] { queries("{\"prompt\": \"a\"}\nnot json\n"); }), Catch::Contains("q.jsonl: input line 2"));
    CHECK_THAT(error_of([] { queries("\n\n"); }), Catch::Contains("no queries"));
}
