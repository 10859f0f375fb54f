// Usage from every path: whole and streamed answers of the three APIs report the
// provider's token counts (also through the cache), cached input tokens are kept apart,
// missing usage is estimated and marked, and a batch's cost is tokens x prices.
// Against tests/http/fake_llm.py, whose model names script the usage it reports.
#include <unistd.h>

#include <filesystem>

#include "../engine/engine_test_util.hpp"
#include "fake_server.hpp"
#include "moa/cost.hpp"

using namespace moa;
using moa::test::FakeServer;

namespace {

FakeServer& server() {
    static FakeServer s;
    return s;
}

std::string backends() {
    std::string u = server().url();
    return "backend oa { kind = openai  base_url = \"" + u + "/v1\"  api_key_env = \"MOA_TEST_KEY\" }\n"
           "backend an { kind = anthropic  base_url = \"" + u + "\"  api_key_env = \"MOA_TEST_KEY\" }\n"
           "backend ol { kind = ollama  base_url = \"" + u + "\" }\n";
}

std::string temp_db(const std::string& name) {
    auto p = std::filesystem::temp_directory_path() / ("moa-usage-test-" + name + "-" + std::to_string(getpid()) + ".db");
    for (const char* ext : {"", "-wal", "-shm"}) std::filesystem::remove(p.string() + ext);
    return p.string();
}

// One question to one agent; its node's event. `db` non-empty: through the cache.
NodeEvent ask(const std::string& backend, const std::string& model, bool stream, const std::string& db = "") {
    setenv("MOA_TEST_KEY", "sk-test-secret-0123456789", 1);
    EngineOptions o;
    o.emit_all = true;
    if (!db.empty()) {
        o.cache_mode = CacheMode::ReadWrite;
        o.cache_path = db;
    }
    Engine e(test::load(backends() + "agent x { backend = " + backend + "  model = \"" + model +
                        "\" }\nlayer l = x\noutput o = l\n"),
             o);
    std::string streamed;
    JobResult r = e.run_one("how many tokens?", stream ? ChunkFn([&](const StreamChunk& c) { streamed += c.text; })
                                                        : nullptr);
    INFO(r.error);
    REQUIRE(r.ok);
    if (stream) CHECK(streamed == r.output());
    return test::node(r, "l.x");
}

}  // namespace

TEST_CASE("whole and streamed answers of every API report the provider's usage, also through the cache") {
    for (const char* backend : {"oa", "an", "ol"}) {
        for (bool stream : {false, true}) {
            SECTION(std::string(backend) + (stream ? " streamed" : " whole")) {
                std::string model = std::string("usage-123-45:") + backend + (stream ? "-s" : "-w");
                std::string db = temp_db(model.substr(model.find(':') + 1));
                NodeEvent first = ask(backend, model, stream, db);
                CHECK(first.tokens_in == 123);
                CHECK(first.tokens_out == 45);
                CHECK_FALSE(first.tokens_estimated);
                CHECK_FALSE(first.cache_hit);
                NodeEvent again = ask(backend, model, stream, db);  // the cache stored the real counts
                CHECK(again.cache_hit);
                CHECK(again.tokens_in == 123);
                CHECK(again.tokens_out == 45);
            }
        }
    }
}

TEST_CASE("an OpenAI-style stream with its usage in the last chunk that has a choice counts it") {
    NodeEvent n = ask("oa", "usage-321-54+usage-with-choice:lc", true);
    CHECK(n.tokens_in == 321);
    CHECK(n.tokens_out == 54);
    CHECK_FALSE(n.tokens_estimated);
}

TEST_CASE("input tokens read from the provider's prompt cache are counted apart, whole and streamed") {
    for (bool stream : {false, true}) {
        for (const char* backend : {"oa", "an"}) {
            std::string model = std::string("usage-100-20+cached-40:c-") + backend + (stream ? "s" : "w");
            NodeEvent n = ask(backend, model, stream);
            INFO(model);
            CHECK(n.tokens_in == 100);  // Anthropic's input_tokens leave the cached ones out: added back
            CHECK(n.tokens_cached == 40);
            CHECK(n.tokens_out == 20);
        }
    }
}

TEST_CASE("an answer without usage gets estimated tokens, marked as estimates") {
    for (const char* backend : {"oa", "an", "ol"}) {
        for (bool stream : {false, true}) {
            std::string model = std::string("no-usage:e-") + backend + (stream ? "s" : "w");
            NodeEvent n = ask(backend, model, stream);
            INFO(model);
            CHECK(n.tokens_estimated);
            CHECK(n.tokens_in > 0);
            CHECK(n.tokens_out == (n.text.size() + 3) / 4);
        }
    }
}

TEST_CASE("the cost of a batch on the loopback server is exactly its tokens times the prices") {
    setenv("MOA_TEST_KEY", "sk-test-secret-0123456789", 1);
    // 1000 tokens in and 500 out per call; prices chosen so each call costs whole dollars.
    GraphSpec g = test::load(backends() + R"(
agent a { backend = oa  model = "usage-1000-500:batch-oa" }
agent b { backend = an  model = "usage-1000-500:batch-an" }
agent c { backend = ol  model = "usage-1000-500:batch-ol" }
price pa { model = "usage-1000-500:batch-oa"  input = 1000  output = 2000 }
price pb { model = "usage-1000-500:batch-an"  input = 500  output = 1000 }
price pc { model = "usage-1000-500:batch-ol"  input = 250  output = 500 }
layer l = [a, b, c]
output o = l.a
output p = l.b
output q = l.c
)");
    EngineOptions o;
    o.emit_all = true;
    Engine e(g, o);
    std::vector<std::string> qs;
    for (int i = 0; i < 8; ++i) qs.push_back("question " + std::to_string(i));
    test::VectorSource src(qs);
    size_t jobs = 0;
    RunStats s = e.run_batch(src, [&](JobResult&& r) {
        REQUIRE(r.ok);
        ++jobs;
        for (const auto& n : r.nodes) {
            CHECK(n.tokens_in == 1000);
            CHECK(n.tokens_out == 500);
            CHECK(n.cost_known);
        }
    });
    CHECK(jobs == 8);
    CHECK(s.calls == 24);
    CHECK(s.tokens_in == 24'000);
    CHECK(s.tokens_out == 12'000);
    CHECK(s.cost_usd == 8 * (2.0 + 1.0 + 0.5));  // exact: every call costs a binary fraction
    REQUIRE(s.node_costs.size() == 3);
    CHECK(s.node_costs[0].cost_usd == 16.0);
    CHECK(s.node_costs[1].cost_usd == 8.0);
    CHECK(s.node_costs[2].cost_usd == 4.0);
    REQUIRE(s.layer_costs.size() == 1);
    CHECK(s.layer_costs[0].cost_usd == 28.0);
    CHECK(s.layer_costs[0].tokens_in == 24'000);
}
