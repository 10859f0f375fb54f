// What real OpenAI-compatible servers do that the spec does not promise, and every
// wait bounded: split surrogate pairs, in-stream errors, ignored "stream": true, SSE
// without its Content-Type, gzip, malformed bodies, named timeouts, total across
// retries, capped Retry-After. Against tests/http/fake_llm.py.
#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include "../engine/engine_test_util.hpp"
#include "fake_server.hpp"
#include "backends/http_transport.hpp"
#include "backends/wire.hpp"

using namespace moa;
using moa::test::FakeServer;

namespace {

FakeServer& server() {
    static FakeServer s;
    return s;
}

struct Run {
    JobResult r;
    std::string streamed;
};

Run one(const std::string& backend, const std::string& model, bool stream, const std::string& fields = "",
        const std::string& retry = "retry { attempts = 4  base_delay = 5ms  max_delay = 50ms }") {
    setenv("MOA_TEST_KEY", "sk-test-secret-0123456789", 1);
    std::string u = server().url();
    EngineOptions o;
    o.emit_all = true;
    Engine e(test::load("backend oa { kind = openai  base_url = \"" + u + "/v1\"  api_key_env = \"MOA_TEST_KEY\"  " + retry + " " + fields + " }\n"
                        "backend an { kind = anthropic  base_url = \"" + u + "\"  api_key_env = \"MOA_TEST_KEY\"  " + retry + " " + fields + " }\n"
                        "backend ol { kind = ollama  base_url = \"" + u + "\"  " + retry + " " + fields + " }\n"
                        "agent x { backend = " + backend + "  model = \"" + model + "\" }\nlayer l = x\noutput o = l\n"),
             o);
    Run run;
    run.r = e.run_one("what is up", stream ? ChunkFn([&](const StreamChunk& c) { run.streamed += c.text; })
                                           : nullptr);
    return run;
}

}  // namespace

TEST_CASE("a surrogate pair split across two stream events decodes to one code point") {
    Run run = one("oa", "split-emoji:se", true);
    REQUIRE(run.r.ok);
    CHECK(run.r.output() == "let us \xF0\x9F\x8E\x89 party");  // U+1F389
    CHECK(run.streamed == run.r.output());
}

TEST_CASE("an unpaired surrogate in a stream becomes U+FFFD and is never lost silently") {
    Run run = one("oa", "lone-surrogate:ls", true);
    REQUIRE(run.r.ok);
    CHECK(run.r.output() == "let us \xEF\xBF\xBD party");
    CHECK(run.streamed == run.r.output());
    // The decoder itself: pairs across calls, halves alone, broken escapes.
    std::string out;
    uint16_t high = 0;
    decode_json_string("a\\ud83c", out, high);
    decode_json_string("\\udf89b\\u00e9\\n\\\"", out, high);
    CHECK(out == "a\xF0\x9F\x8E\x89" "b\xC3\xA9\n\"");
    out.clear();
    decode_json_string("\\udf89x\\ud83cy\\ud83c\\ud83c\\u12", out, high);
    CHECK(out == "\xEF\xBF\xBDx\xEF\xBF\xBDy\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK(high == 0);
}

TEST_CASE("an error event inside a 200 stream fails the call with the provider's message and no retries") {
    Run run = one("oa", "stream-error:ee", true);
    CHECK_FALSE(run.r.ok);
    CHECK(run.r.error == "error in the stream: model not found: nope");
    CHECK(run.r.nodes[0].attempts == 1);
}

TEST_CASE("a server that ignores stream true and answers with one JSON body still answers") {
    for (const char* b : {"oa", "an", "ol"}) {
        std::string model = std::string("ignore-stream:is-") + b;
        Run run = one(b, model, true);
        INFO(b << " " << run.r.error);
        REQUIRE(run.r.ok);
        CHECK(run.r.output() == "answer from " + model + " to: what is up");
        CHECK(run.streamed == run.r.output());
        CHECK(run.r.nodes[0].tokens_out == 7);
    }
}

TEST_CASE("SSE sent as text/plain or with no Content-Type is parsed as SSE") {
    for (const char* ct : {"plain", "none"}) {
        std::string model = std::string("sse-ctype-") + ct + ":ct";
        Run run = one("oa", model, true);
        INFO(ct << " " << run.r.error);
        REQUIRE(run.r.ok);
        CHECK(run.r.output() == "answer from " + model + " to: what is up");
        CHECK(run.r.nodes[0].tokens_in == 11);  // usage read from the stream
    }
}

TEST_CASE("gzip-encoded responses are decoded") {
    Run run = one("oa", "gzip:gz", false);
    REQUIRE(run.r.ok);
    CHECK(run.r.output() == "answer from gzip:gz to: what is up");
}

TEST_CASE("a JSON object followed by junk is named as such and not as a missing field") {
    Run run = one("oa", "trailing-junk:tj", false);
    INFO(run.r.error);
    CHECK_FALSE(run.r.ok);
    CHECK(run.r.error.rfind("malformed response from the provider: not a complete JSON object (cut short, or followed by "
                            "other text): 219 bytes",
                            0) == 0);
}

TEST_CASE("timeouts are named with their value: idle and total") {
    Run idle = one("oa", "stall:idle", true, "timeouts { idle = 200ms }", "retry { attempts = 1 }");
    CHECK_FALSE(idle.r.ok);
    CHECK(idle.r.error == "idle timeout (200 ms): the server sent nothing more");
    Run total = one("oa", "delay-3000:total", false, "timeouts { total = 300ms }", "retry { attempts = 1 }");
    CHECK_FALSE(total.r.ok);
    CHECK(total.r.error == "total timeout (300 ms): the call did not finish in time");
}

TEST_CASE("total bounds the whole call with its retries") {
    // Each attempt dies at its 150 ms first-token timeout; 20 attempts would take 3 s.
    Run run = one("oa", "slow-first-400:tw", false, "timeouts { first_token = 150ms  total = 700ms }",
                  "retry { attempts = 20  base_delay = 5ms  max_delay = 10ms }");
    CHECK_FALSE(run.r.ok);
    size_t attempts = server().log("slow-first-400:tw").size();
    CHECK(attempts >= 2);
    CHECK(attempts <= 6);
    CHECK(run.r.error.find("total timeout (700 ms)") != std::string::npos);
}

TEST_CASE("a Retry-After longer than max_retry_wait fails the call at once and quotes the server's wait") {
    Run hour = one("oa", "retry-after-3600-1:ra", false);
    CHECK_FALSE(hour.r.ok);
    CHECK(hour.r.error ==
          "http 429: rate limited, slow down (the server asked to wait 3600 s, more than this backend's max_retry_wait of 60 s)");
    CHECK(server().log("retry-after-3600-1:ra").size() == 1);
    Run capped = one("an", "retry-after-2-1:rb", false, "max_retry_wait = 1s");
    CHECK_FALSE(capped.r.ok);
    CHECK(capped.r.error.find("asked to wait 2 s, more than this backend's max_retry_wait of 1 s") != std::string::npos);
    Run within = one("an", "retry-after-1-1:rc", false, "max_retry_wait = 2s");
    CHECK(within.r.ok);
}

TEST_CASE("every HTTP call has connect and first-token and idle and total timeouts by default") {
    BackendSpec b;
    AgentSpec a;
    Timeouts t = effective_timeouts(b, a);
    CHECK(t.connect_ms == 10'000);
    CHECK(t.first_token_ms == 120'000);
    CHECK(t.idle_ms == 60'000);
    CHECK(t.total_ms == 600'000);
    b.timeouts.idle_ms = 5;
    a.timeouts.idle_ms = 7;
    b.timeouts.total_ms = 9;
    t = effective_timeouts(b, a);
    CHECK(t.idle_ms == 7);
    CHECK(t.total_ms == 9);
    CHECK(t.connect_ms == 10'000);
}

TEST_CASE("a cut and retried stream starts over: chunks carry their attempt and the restart is flagged") {
    int n = 0;
    for (const char* b : {"oa", "an", "ol"}) {
        std::string model = "cut-1:restart" + std::to_string(n++);
        setenv("MOA_TEST_KEY", "sk-test-secret-0123456789", 1);
        std::string u = server().url();
        Engine e(test::load("backend oa { kind = openai  base_url = \"" + u + "/v1\"  api_key_env = \"MOA_TEST_KEY\" }\n"
                            "backend an { kind = anthropic  base_url = \"" + u + "\"  api_key_env = \"MOA_TEST_KEY\" }\n"
                            "backend ol { kind = ollama  base_url = \"" + u + "\" }\n"
                            "agent x { backend = " + std::string(b) + "  model = \"" + model + "\" }\nlayer l = x\noutput o = l\n"),
                 {});
        std::vector<StreamChunk> chunks;
        std::vector<std::string> texts;
        JobResult r = e.run_one("q", [&](const StreamChunk& c) {
            chunks.push_back(c);
            texts.emplace_back(c.text);
        });
        INFO(b << " " << r.error);
        REQUIRE(r.ok);
        std::string after_restart, everything;
        int restarts = 0;
        for (size_t i = 0; i < chunks.size(); ++i) {
            if (chunks[i].restart) {
                ++restarts;
                after_restart.clear();
                CHECK(chunks[i].attempt == 2);
            }
            after_restart += texts[i];
            everything += texts[i];
        }
        CHECK(restarts == 1);
        CHECK(chunks.front().attempt == 1);
        CHECK(after_restart == r.output());
        CHECK(everything != r.output());  // what a consumer ignoring restarts would have shown
    }
}

TEST_CASE("moa run: a cut and retried stream says on stderr that the partial text is discarded and reprints") {
    setenv("MOA_TEST_KEY", "sk-test-secret-0123456789", 1);
    std::string dir = std::filesystem::temp_directory_path().string();
    std::string g = dir + "/moa-restart.moa", err = dir + "/moa-restart.err";
    std::ofstream(g) << "backend oa { kind = openai  base_url = \"" + server().url() +
                            "/v1\"  api_key_env = \"MOA_TEST_KEY\"  retry { attempts = 3  base_delay = 5ms } }\n"
                            "agent x { backend = oa  model = \"cut-1:cli-restart\" }\nlayer l = x\noutput o = l\n";
    std::string cmd = "NO_COLOR=1 " MOA_BIN " run " + g + " --cache off 'what is up' 2>" + err;
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    int st = pclose(p);
    CHECK(WEXITSTATUS(st) == 0);
    // The server streams 5-character pieces and cuts the first attempt after half of them.
    const std::string answer = "answer from cut-1:cli-restart to: what is up";
    size_t pieces = (answer.size() + 4) / 5;
    std::string partial = answer.substr(0, std::max<size_t>(1, pieces / 2) * 5);
    CHECK(out == partial + "\n" + answer + "\n");
    std::ifstream e(err);
    std::string errors((std::istreambuf_iterator<char>(e)), {});
    // The notice, then the run summary (which counts the retry).
    CHECK(errors.rfind("moa: the answer's stream was cut; attempt 2 starts over (discard the partial answer above)\njobs: 1 ok", 0) == 0);
    CHECK(errors.find("calls: 1 (2 attempts, 1 retries, 0 failed)") != std::string::npos);
}

TEST_CASE("server-requested waits are read from Retry-After, retry-after-ms and the providers' reset headers") {
    using H = std::map<std::string, std::string>;
    CHECK(retry_after_ms(H{{"retry-after", "3"}}) == 3000);
    CHECK(retry_after_ms(H{{"retry-after-ms", "250"}}) == 250);
    // OpenAI's reset headers are Go durations ("6m0s", "1s", "20ms"), read by the one
    // duration parser of moa/duration.hpp.
    CHECK(retry_after_ms(H{{"x-ratelimit-reset-requests", "6m0s"}}) == 360000);
    CHECK(retry_after_ms(H{{"x-ratelimit-reset-tokens", "1h2m3.5s"}}) == 3723500);
    CHECK(retry_after_ms(H{{"x-ratelimit-reset-requests", "20ms"}}) == 20);
    CHECK(retry_after_ms(H{{"x-ratelimit-reset-requests", "soon"}}) == -1);
    CHECK(retry_after_ms(H{}) == -1);
}

TEST_CASE("a reply keeps the response headers its waits are read from and drops the rest") {
    using H = std::map<std::string, std::string>;
    // 429s as OpenAI and Anthropic send them, with the headers that say nothing of a wait.
    const H heads[] = {
        {{"date", "Thu, 26 Nov 2026 05:00:00 GMT"}, {"content-type", "application/json"}, {"content-length", "312"},
         {"x-request-id", "req_abc"}, {"openai-processing-ms", "12"}, {"x-ratelimit-limit-requests", "500"},
         {"x-ratelimit-remaining-requests", "0"}, {"x-ratelimit-reset-requests", "1.5s"},
         {"x-ratelimit-reset-tokens", "6m0s"}, {"cf-ray", "8a1b"}},
        {{"retry-after", "7"}, {"anthropic-ratelimit-requests-remaining", "0"},
         {"anthropic-ratelimit-requests-reset", "2026-11-26T05:00:30Z"}, {"request-id", "req_1"}},
        {{"retry-after-ms", "250"}, {"server", "uvicorn"}},
    };
    for (const H& all : heads) {
        H kept;
        for (const auto& [name, value] : all)
            if (kept_response_header(name)) kept[name] = value;
        CHECK(kept.size() < all.size());
        CHECK(retry_after_ms(kept) == retry_after_ms(all));
        CHECK(retry_after_ms(kept) != -1);
    }
    for (const char* name : {"retry-after", "retry-after-ms", "x-ratelimit-reset-requests", "x-ratelimit-reset-tokens",
                             "anthropic-ratelimit-requests-reset", "anthropic-ratelimit-tokens-reset", "content-type"})
        CHECK(kept_response_header(name));
    for (const char* name : {"date", "content-length", "x-ratelimit-remaining-requests", "server", "set-cookie"})
        CHECK_FALSE(kept_response_header(name));
}
