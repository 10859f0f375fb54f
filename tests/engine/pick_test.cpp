// `result = pick` (the paper's LLM-Ranker): the model's reply names one input
// response by its number and that response, unchanged, is the node's result.
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "moa/batch_io.hpp"
#include "runtime/prompt.hpp"
#include "engine_test_util.hpp"

using namespace moa;
using moa::test::cited;
using moa::test::node;
using moa::test::tag;

namespace {

// Proposer c answers with awkward bytes (tabs, quotes, UTF-8, template syntax, a
// trailing blank line) so "byte for byte" means something.
const char* kWeird = "  Tabs\there, \"quotes\", caf\u00e9 \U0001F600 {{query}} 3 of 4\n\n";

std::string graph(const std::string& judge_reply) {
    return R"(
backend sim { kind = sim }
backend weird {
  kind = sim
  reply = ")" + std::string("  Tabs\\there, \\\"quotes\\\", caf\\u{e9} \\u{1F600} {{query}} 3 of 4\\n\\n") + R"("
}
backend scripted {
  kind = sim
  reply = ")" + judge_reply + R"("
}
template agg = "Responses:\n{{responses}}"
agent a { backend = sim  model = "m/alpha" }
agent b { backend = sim  model = "m/beta" }
agent c { backend = weird  model = "m/gamma" }
agent d { backend = sim  model = "m/delta" }
agent judge { backend = scripted  model = "m/judge" }
layer propose = [a, b, c, d]
layer rank = judge { inputs = propose  prompt = agg  result = pick }
layer polish = a { inputs = rank  prompt = agg }
output answer = polish
output picked = rank
)";
}

EngineOptions all_events() {
    EngineOptions o;
    o.threads = 2;
    o.emit_all = true;
    return o;
}

std::string output(const JobResult& r, const std::string& name) {
    for (const auto& [n, text] : r.outputs)
        if (n == name) return text;
    FAIL("no output " << name);
    return "";
}

}  // namespace

TEST_CASE("a picking node's result is the input its reply names, byte for byte, and flows on") {
    Engine e(test::load(graph("The best is response 3.")), all_events());
    JobResult r = e.run_one("which?");
    REQUIRE(r.ok);
    REQUIRE(node(r, "propose.c").text == kWeird);
    const NodeEvent& rank = node(r, "rank.judge");
    CHECK(rank.text == kWeird);
    CHECK(rank.reply == "The best is response 3.");
    CHECK(rank.picked == "propose.c");
    CHECK(output(r, "picked") == kWeird);
    // The next layer was shown the picked text, not the ranker's reply.
    CHECK(e.graph().node("polish.a")->inputs == std::vector<std::string>{"rank.judge"});
    CHECK(node(r, "polish.a").status == CallStatus::Ok);
    CHECK(output(r, "answer") == node(r, "polish.a").text);
    CHECK(cited(node(r, "polish.a").text).empty());  // the picked text has no "[tag]" to cite...
    CHECK(node(r, "propose.a").reply.empty());       // ...and ordinary nodes report no reply
}

TEST_CASE("the number refers to the responses as shown, which a later layer cites") {
    std::string src = graph("2");
    Engine e(test::load(src), all_events());
    JobResult r = e.run_one("q");
    REQUIRE(r.ok);
    CHECK(node(r, "rank.judge").picked == "propose.b");
    CHECK(node(r, "rank.judge").text == node(r, "propose.b").text);
    CHECK(cited(node(r, "polish.a").text) == std::vector<std::string>{tag(node(r, "propose.b").text)});
}

TEST_CASE("a reply naming no response, two, or one out of range fails the node and the job, never a guess") {
    for (const char* reply : {"banana", "2 or 3", "7", "0", "response 12345678901234567890"}) {
        INFO(reply);
        Engine e(test::load(graph(reply)), all_events());
        JobResult r = e.run_one("q");
        CHECK_FALSE(r.ok);
        CHECK(r.error_node == "rank.judge");
        CHECK(r.error.find("result = pick: the reply names") != std::string::npos);
        CHECK(r.error.find(reply) != std::string::npos);  // the reply is quoted in the error
        const NodeEvent& rank = node(r, "rank.judge");
        CHECK(rank.status == CallStatus::Error);
        CHECK(rank.error_kind == "pick");
        CHECK(rank.reply == reply);
        CHECK(rank.picked.empty());
        CHECK(node(r, "polish.a").status == CallStatus::Error);  // nothing downstream got a guess
    }
}

TEST_CASE("parse_pick accepts one number, possibly repeated, within range") {
    std::string why;
    CHECK(parse_pick("3", 4, why) == 2);
    CHECK(parse_pick("**Response 3**\n\nResponse 3 is the most accurate.", 4, why) == 2);
    CHECK(parse_pick(" 03 ", 4, why) == 2);
    CHECK(parse_pick("1", 1, why) == 0);
    CHECK(parse_pick("4", 4, why) == 3);
    CHECK(parse_pick("5", 4, why) == -1);
    CHECK(why.find("names response 5, but there are 4 responses") != std::string::npos);
    CHECK(parse_pick("none", 4, why) == -1);
    CHECK(why.find("names no response number") != std::string::npos);
    CHECK(parse_pick("1 is good but 2 is better", 4, why) == -1);
    CHECK(why.find("more than one number") != std::string::npos);
    CHECK(parse_pick("", 4, why) == -1);
}

TEST_CASE("parse_pick reads signs, fractions, exponents and full-width digits as the number they write") {
    // docs/language.md: "one number from 1 to the count". A sign, fraction or exponent is
    // part of the number (never a second number, never dropped); full-width digits are digits.
    struct Case {
        const char* reply;
        int picked;         // 0-based, or -1
        const char* error;  // a part of `why` when picked == -1
    };
    const Case cases[] = {
        {"-1", -1, "names response -1, but there are 3 responses"},
        {"Response -2", -1, "names response -2, but there are 3 responses"},
        {"\xE2\x88\x92" "1", -1, "names response -1, but"},  // U+2212 minus sign
        {"+2", 1, ""},
        {"Response +2.", 1, ""},
        {"2.0", -1, "names 2.0, which is not a whole number"},
        {"1.5", -1, "names 1.5, which is not a whole number"},
        {"1e1", -1, "names 1e1, which is not a whole number"},
        {"2E0", -1, "names 2E0, which is not a whole number"},
        {"\xEF\xBC\x92", 1, ""},                 // U+FF12 full-width 2
        {"Response \xEF\xBC\x93", 2, ""},        // full-width 3
        {"\xEF\xBC\x91\xEF\xBC\x90", -1, "names response 10, but"},  // full-width 10
        {"Response #0", -1, "names response 0, but there are 3 responses"},
        {"Response 3.", 2, ""},
        {"3. It is best.", 2, ""},
        {"1-2", -1, "more than one number"},
        {"gpt-4 says 2", -1, "more than one number"},
        {"2 and 2.0", -1, "more than one number"},
        {"-1 or 1", -1, "more than one number"},
    };
    for (const Case& c : cases) {
        std::string why;
        INFO("reply: " << c.reply);
        CHECK(parse_pick(c.reply, 3, why) == c.picked);
        if (c.picked < 0) {
            CHECK(why.find(c.error) != std::string::npos);
            INFO("why: " << why);
        } else {
            CHECK(why.empty());
        }
    }
}

TEST_CASE("the stdlib ranker runs on the simulator: the ranker's number picks one proposal") {
    Engine e(test::load(std::string(test::kSimPrelude) + R"(
import "moa.moa"
agent judge { backend = sim  model = "m/judge" }
use ranker(proposers = [a, b, c], ranker = judge)
)"),
             all_events());
    std::set<std::string> picked;
    for (const char* q : {"q1", "q2", "q3", "q4", "q5", "q6"}) {
        JobResult r = e.run_one(q);
        REQUIRE(r.ok);
        const NodeEvent& rank = node(r, "rank.judge");
        REQUIRE(rank.reply.size() == 1);
        REQUIRE(!rank.picked.empty());
        CHECK(rank.picked == "propose." + std::string(1, "abc"[rank.reply[0] - '1']));
        CHECK(r.output() == node(r, rank.picked).text);
        picked.insert(rank.picked);
    }
    CHECK(picked.size() > 1);  // the simulated ranker does not always name the same one
}

TEST_CASE("a streamed picking output streams the picked text, not the reply") {
    std::string streamed;
    // The first output by name is "answer" (polish); make the picker the only output.
    Engine solo(test::load(graph("3").substr(0, graph("3").find("output answer")) + "output picked = rank\n"), all_events());
    JobResult r = solo.run_one("q", [&](const StreamChunk& c) { streamed += c.text; });
    REQUIRE(r.ok);
    CHECK(streamed == kWeird);
    CHECK(r.output() == kWeird);
}

TEST_CASE("the cache keeps the ranker's own reply and a rerun picks again from it") {
    auto db = (std::filesystem::temp_directory_path() / ("moa-pick-test-" + std::to_string(getpid()) + ".db")).string();
    std::filesystem::remove(db);
    for (int run = 0; run < 2; ++run) {
        EngineOptions o = all_events();
        o.cache_mode = CacheMode::ReadWrite;
        o.cache_path = db;
        Engine e(test::load(graph("Response 3")), o);
        JobResult r = e.run_one("q");
        REQUIRE(r.ok);
        CHECK(node(r, "rank.judge").reply == "Response 3");
        CHECK(node(r, "rank.judge").text == kWeird);
        if (run == 1) CHECK(node(r, "rank.judge").error_kind == "cache hit");
    }
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(h, "SELECT text FROM responses WHERE node = 'rank.judge'", -1, &st, nullptr) == SQLITE_OK);
    std::vector<std::string> stored;
    while (sqlite3_step(st) == SQLITE_ROW) stored.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    sqlite3_close(h);
    CHECK(stored == std::vector<std::string>{"Response 3"});
    std::filesystem::remove(db);
}

TEST_CASE("JSONL results show what a picking node replied and which input it picked") {
    Engine e(test::load(graph("3")), all_events());
    JobResult r = e.run_one("q");
    REQUIRE(r.ok);
    InputLine in;
    in.line = 1;
    in.query = "q";
    std::ostringstream out;
    out << format_row(r, in, RowOptions{OutputFormat::Jsonl, "g", true, "fp", false});
    CHECK(out.str().find(R"("node":"rank.judge","layer":"rank","status":"ok","text":"  Tabs\there)") != std::string::npos);
    CHECK(out.str().find(R"("reply":"3","picked":"propose.c")") != std::string::npos);
    CHECK(out.str().find(R"("node":"propose.a","layer":"propose","status":"ok","text":)") != std::string::npos);
    CHECK(out.str().find(R"("reply":"3","picked":"propose.c")") == out.str().rfind(R"("reply":)"));  // only there
}
