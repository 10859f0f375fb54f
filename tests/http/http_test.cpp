// HTTP backends against a real loopback server (tests/http/fake_llm.py) with
// scripted faults: attempts, delays, fallback, quorum, error records, batches.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "../engine/engine_test_util.hpp"
#include "fake_server.hpp"
#include "shell.hpp"
#include "backends/wire.hpp"

using namespace moa;
using moa::test::FakeServer;

namespace {

FakeServer& server() {
    static FakeServer s;
    return s;
}

// A graph with one backend of each API on the fake server; `body` adds agents/layers.
GraphSpec graph(const std::string& body, const std::string& retry = "retry { attempts = 4  base_delay = 5ms  max_delay = 50ms }",
                const std::string& extra_backend_fields = "") {
    setenv("MOA_TEST_KEY", "sk-test-secret-0123456789", 1);
    std::string u = server().url();
    return test::load("template agg = \"{{responses}}\"\n"
                      "backend oa { kind = openai  base_url = \"" + u + "/v1\"  api_key_env = \"MOA_TEST_KEY\"  " + retry + " " + extra_backend_fields + " }\n"
                      "backend an { kind = anthropic  base_url = \"" + u + "\"  api_key_env = \"MOA_TEST_KEY\"  " + retry + " " + extra_backend_fields + " }\n"
                      "backend ol { kind = ollama  base_url = \"" + u + "\"  " + retry + " " + extra_backend_fields + " }\n" + body);
}

JobResult one(const std::string& backend, const std::string& model, bool stream = false,
              const std::string& extra = "", std::string* streamed = nullptr) {
    EngineOptions o;
    o.emit_all = true;
    Engine e(graph("agent x { backend = " + backend + "  model = \"" + model + "\" }\nlayer l = x\noutput o = l\n", 
                   "retry { attempts = 4  base_delay = 5ms  max_delay = 50ms }", extra),
             o);
    std::string chunks;
    auto r = e.run_one("what is up", stream ? ChunkFn([&](const StreamChunk& c) { chunks += c.text; })
                                           : nullptr);
    if (streamed) *streamed = chunks;
    return r;
}

}  // namespace

TEST_CASE("each API answers, whole and streamed, with token usage") {
    int n = 0;
    for (const char* b : {"oa", "an", "ol"}) {
        for (bool stream : {false, true}) {
            std::string model = "ok:api" + std::to_string(n++);
            std::string streamed;
            JobResult r = one(b, model, stream, "", &streamed);
            INFO(b << " stream=" << stream << " " << r.error);
            REQUIRE(r.ok);
            CHECK(r.output() == "answer from " + model + " to: what is up");
            if (stream) CHECK(streamed == r.output());
            CHECK(r.nodes[0].tokens_in == 11);
            CHECK(r.nodes[0].tokens_out == 7);
            auto log = server().log(model);
            REQUIRE(log.size() == 1);
        }
    }
}

TEST_CASE("engines destroyed right after their HTTP job finishes touch nothing freed") {
    // CI once crashed here: the reactor thread was still in the scheduler and in
    // libcurl's multi handle when the caller's engine went away. A race, so rounds.
    for (int round = 0; round < 60; ++round) {
        const char* b = round % 3 == 0 ? "oa" : round % 3 == 1 ? "an" : "ol";
        std::string model = "ok:teardown" + std::to_string(round);
        JobResult r = one(b, model, round % 2 == 0);
        INFO(b << " round " << round << " " << r.error);
        REQUIRE(r.ok);
    }
}

TEST_CASE("streams split at random byte boundaries parse like the whole answer") {
    // The server's own event format for each API, fed in 1-40 byte chunks.
    const std::string text = "answer from m to: a fairly long question with \"quotes\" and \\n escapes";
    std::map<BackendKind, std::string> wire = {
        {BackendKind::OpenAI, ""}, {BackendKind::Anthropic, ""}, {BackendKind::Ollama, ""}};
    std::string esc;
    for (char c : text) esc += c == '"' ? std::string("\\\"") : c == '\\' ? std::string("\\\\") : std::string(1, c);
    for (size_t i = 0; i < esc.size(); i += 7) {
        std::string piece = esc.substr(i, 7);
        if (!piece.empty() && piece.back() == '\\') {  // keep escapes whole
            piece += esc[i + 7];
            ++i;
        }
        wire[BackendKind::OpenAI] += "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + piece + "\"}}]}\n\n";
        wire[BackendKind::Anthropic] += "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"" + piece + "\"}}\n\n";
        wire[BackendKind::Ollama] += "{\"message\":{\"content\":\"" + piece + "\"},\"done\":false}\n";
    }
    wire[BackendKind::OpenAI] += "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\r\n\r\ndata: [DONE]\n\n";
    wire[BackendKind::Anthropic] += "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":4}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    wire[BackendKind::Ollama] += "{\"message\":{\"content\":\"\"},\"done\":true,\"prompt_eval_count\":3,\"eval_count\":4}\n";
    std::mt19937 rng(1);
    for (auto& [kind, bytes] : wire) {
        for (int round = 0; round < 200; ++round) {
            StreamParser p(kind);
            std::string seen;
            for (size_t i = 0; i < bytes.size();) {
                size_t n = 1 + rng() % 40;
                REQUIRE(p.feed(std::string_view(bytes).substr(i, n), [&](std::string_view s) { seen += s; }));
                i += n;
            }
            CHECK(p.complete());
            CHECK(p.text() == text);
            CHECK(seen == text);
            CHECK(p.tokens_out() == 4);
        }
    }
}

TEST_CASE("429 with Retry-After waits the given time, then succeeds") {
    JobResult r = one("oa", "retry-after-1-1:t429");
    REQUIRE(r.ok);
    auto log = server().log("retry-after-1-1:t429");
    REQUIRE(log.size() == 2);
    CHECK(log[0].status == 429);
    double delay = log[1].t - log[0].t;
    CHECK(delay >= 1.0);
    CHECK(delay <= 1.1);  // honoured within 10%
    CHECK(r.nodes[0].attempts == 2);
}

TEST_CASE("transient statuses are retried: 408, 500, 503, 529") {
    for (const char* st : {"408", "500", "503", "529"}) {
        std::string model = std::string("fail-") + st + "-2:tr";
        JobResult r = one("an", model);
        INFO(model << " " << r.error);
        CHECK(r.ok);
        CHECK(server().log(model).size() == 3);
    }
}

TEST_CASE("no request is retried on 400, 401, 403, 404, 422, and the provider's message is kept") {
    for (const char* st : {"400", "401", "403", "404", "422"}) {
        std::string model = std::string("fail-") + st + "-9:nr";
        JobResult r = one("oa", model);
        INFO(model);
        CHECK_FALSE(r.ok);
        CHECK(server().log(model).size() == 1);
        CHECK(r.error_node == "l.x");
        CHECK(r.error == std::string("http ") + st + ": scripted failure " + st);
    }
}

TEST_CASE("connection resets and cut streams are retried") {
    JobResult reset = one("ol", "reset-2:rs");
    CHECK(reset.ok);
    auto log = server().log("reset-2:rs");
    REQUIRE(log.size() == 3);
    CHECK(log[0].status == 0);  // reset
    CHECK(log[2].status == 200);
    std::string streamed;
    JobResult cut = one("oa", "cut-1:cs", true, "", &streamed);
    REQUIRE(cut.ok);
    CHECK(cut.nodes[0].attempts == 2);
    CHECK(server().log("cut-1:cs").size() == 2);
}

TEST_CASE("a slow first byte hits the first-token timeout and malformed and huge answers fail") {
    JobResult slow = one("oa", "slow-first-800:sf", false, "timeouts { first_token = 150ms }");
    CHECK_FALSE(slow.ok);
    CHECK(slow.error == "first_token timeout (150 ms): no answer from the server (after 4 attempts)");
    JobResult bad = one("oa", "malformed:mf");
    CHECK_FALSE(bad.ok);
    CHECK(bad.error == "malformed response from the provider: not a complete JSON object (cut short, or followed by "
                       "other text): 30 bytes starting \"{\"choices\": [ this is not json\"");
    CHECK(server().log("malformed:mf").size() == 1);  // not retried
    JobResult huge = one("oa", "huge:hg");
    CHECK_FALSE(huge.ok);
    CHECK(huge.error == "response larger than 32 MiB");
}

TEST_CASE("fallback takes over when retries are exhausted") {
    EngineOptions o;
    o.emit_all = true;
    Engine e(graph("agent y { backend = an  model = \"ok:fb-y\" }\n"
                   "agent x { backend = oa  model = \"fail-500-99:fb-x\"  fallback = y }\n"
                   "layer l = x\noutput o = l\n"),
             o);
    JobResult r = e.run_one("q");
    REQUIRE(r.ok);
    CHECK(r.output() == "answer from ok:fb-y to: q");
    CHECK(server().log("fail-500-99:fb-x").size() == 4);
    CHECK(r.nodes[0].fallback_from == "x: http 500: scripted failure 500 (after 4 attempts)");
    CHECK(r.nodes[0].agent == "y");   // who answered
    CHECK(r.nodes[0].attempts == 5);  // x's 4 and y's 1
}

TEST_CASE("at_least(k) proceeds without a failed proposer and the report says which failed and why") {
    EngineOptions o;
    o.emit_all = true;
    // a and b answer late, so c's 400 arrives first: were c still running when the
    // two answers were in, at_least(2) would rightly cancel it instead.
    Engine e(graph("agent a { backend = oa  model = \"delay-600:q-a\" }\n"
                   "agent b { backend = an  model = \"delay-600:q-b\" }\n"
                   "agent c { backend = ol  model = \"fail-400-9:q-c\" }\n"
                   "layer p = [a, b, c]\n"
                   "layer f = a { inputs = p  prompt = agg  fan_in = at_least(2) }\n"
                   "output o = f\n"),
             o);
    JobResult r = e.run_one("q");
    REQUIRE(r.ok);
    const NodeEvent& c = test::node(r, "p.c");
    CHECK(c.status == CallStatus::Error);
    CHECK(c.text == "http 400: scripted failure 400");
}

TEST_CASE("a 500-job batch with 20% injected faults loses and duplicates nothing") {
    EngineOptions o;
    o.max_jobs = 100;
    Engine e(graph("agent a { backend = oa  model = \"flaky-20:batch\" }\n"
                   "agent b { backend = an  model = \"flaky-20:batch\" }\n"
                   "layer p = [a, b]\nlayer f = a { inputs = p  prompt = agg }\noutput o = f\n",
                   "retry { attempts = 8  base_delay = 1ms  max_delay = 20ms }"),
             o);
    std::vector<std::string> prompts;
    for (int i = 0; i < 500; ++i) prompts.push_back("q" + std::to_string(i));
    test::VectorSource src(prompts);
    std::vector<std::string> ids;
    size_t ok = 0;
    RunStats s = e.run_batch(src, [&](JobResult&& r) {
        ids.push_back(r.id);
        ok += r.ok;
    });
    REQUIRE(ids.size() == 500);
    std::set<std::string> unique(ids.begin(), ids.end());
    CHECK(unique.size() == 500);
    for (size_t i = 0; i < ids.size(); ++i) CHECK(ids[i] == "q" + std::to_string(i));
    CHECK(ok == 500);  // with 8 attempts every call gets through
    CHECK(s.retries > 100);  // faults were really injected (~20% of 1500 calls)
    CHECK(s.jobs_ok + s.jobs_failed == 500);
}

namespace {
using Cli = test::Shell;
Cli moa_cli(const std::string& env, const std::string& args) { return test::shell(env + " NO_COLOR=1 " MOA_BIN " " + args); }
std::string write_graph(const std::string& name, const std::string& text) {
    std::string path = (std::filesystem::temp_directory_path() / name).string();
    std::ofstream(path) << text;
    return path;
}
}  // namespace

TEST_CASE("API keys never appear in any output, even when the provider echoes them") {
    const std::string key = "sk-live-SECRET-9f8e7d6c5b4a";
    std::string g = write_graph("moa-secret.moa",
                                "backend oa { kind = openai  base_url = \"" + server().url() +
                                    "/v1\"  api_key_env = \"MOA_SECRET_KEY\" }\n"
                                    "agent a { backend = oa  model = \"echo-key:sec\" }\nlayer l = a\noutput o = l\n");
    std::string out = (std::filesystem::temp_directory_path() / "moa-secret.jsonl").string();
    std::filesystem::remove(out);
    std::string in = write_graph("moa-secret-in.jsonl", "{\"prompt\":\"q\"}\n");
    auto r = moa_cli("MOA_SECRET_KEY=" + key, "-v run " + g + " --cache off --emit-all --input " + in + " --output " + out);
    auto single = moa_cli("MOA_SECRET_KEY=" + key, "-v run " + g + " --cache off q");
    auto dump = moa_cli("MOA_SECRET_KEY=" + key, "graph --format json " + g);
    std::ifstream f(out);
    std::string file((std::istreambuf_iterator<char>(f)), {});
    CHECK(r.code == 1);
    CHECK(file.find("Incorrect API key provided: ***") != std::string::npos);  // the provider's message, scrubbed
    for (const std::string* s : {&r.out, &single.out, &dump.out, &file}) CHECK(s->find(key) == std::string::npos);
    CHECK(server().log("echo-key:sec").size() == 2);
}

TEST_CASE("a missing key is a clear error naming the variable, before any call") {
    std::string g = write_graph("moa-nokey.moa",
                                "backend oa { kind = openai  base_url = \"" + server().url() +
                                    "/v1\"  api_key_env = \"MOA_UNSET_KEY\" }\n"
                                    "agent a { backend = oa  model = \"ok:nokey\" }\nlayer l = a\noutput o = l\n");
    auto r = moa_cli("env -u MOA_UNSET_KEY", "run " + g + " q");
    CHECK(r.code == 1);
    CHECK(r.out == "backend 'oa' needs its API key in the environment variable MOA_UNSET_KEY (api_key_env), which is not set\n");
    CHECK(server().log("ok:nokey").empty());
}

TEST_CASE("a fallback's answer shows in the JSONL nodes and the run summary with the original failure") {
    std::string g = write_graph("moa-fallback.moa",
                                "backend oa { kind = openai  base_url = \"" + server().url() +
                                    "/v1\"  api_key_env = \"MOA_TEST_KEY\"  retry { attempts = 2  base_delay = 1ms } }\n"
                                    "agent y { backend = oa  model = \"ok:fbc-y\" }\n"
                                    "agent x { backend = oa  model = \"fail-503-99:fbc-x\"  fallback = y }\n"
                                    "layer l = x\noutput o = l\n");
    std::string in = write_graph("moa-fallback-in.jsonl", "{\"id\":\"1\",\"prompt\":\"q\"}\n");
    auto r = moa_cli("MOA_TEST_KEY=sk-test-secret-0123456789", "run " + g + " --cache off --emit-all --input " + in);
    INFO(r.out);
    CHECK(r.code == 0);
    CHECK(r.out.find("\"node\":\"l.x\",\"layer\":\"l\",\"status\":\"ok\",\"text\":\"answer from ok:fbc-y to: q\","
                     "\"agent\":\"y\",\"fallback_from\":\"x: http 503: scripted failure 503 (after 2 attempts)\","
                     "\"attempts\":3") != std::string::npos);
    CHECK(r.out.find("fallbacks: 1 calls answered by their agent's fallback") != std::string::npos);
}
