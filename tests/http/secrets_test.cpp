// API keys and URL passwords never appear in anything moa writes: the real `moa`
// binary against the loopback server (tests/http/fake_llm.py), whose scripted faults
// echo the request (headers, Basic auth decoded, body) in JSON and non-JSON error
// bodies and inside 200 streams. Every output, log, cache file and export is grepped.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "fake_server.hpp"
#include "shell.hpp"

namespace fs = std::filesystem;
using moa::test::FakeServer;

namespace {

FakeServer& server() {
    static FakeServer s;
    return s;
}

using Cli = moa::test::Shell;

Cli moa_cli(const std::string& args) { return moa::test::shell("NO_COLOR=1 " MOA_BIN " " + args); }

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), {});
}

fs::path dir() {
    fs::path d = fs::temp_directory_path() / "moa-secrets-test";
    fs::create_directories(d);
    return d;
}

std::string write(const std::string& name, const std::string& text) {
    fs::path p = dir() / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
}

// The first 10-character piece of `secret` found in `text` ("" if none).
std::string leaked_piece(const std::string& text, const std::string& secret) {
    for (size_t i = 0; i + 10 <= secret.size(); ++i)
        if (text.find(secret.substr(i, 10)) != std::string::npos) return secret.substr(i, 10);
    return "";
}

const std::string kPassword = "pw-HUNTER2-77aa";

// Proposers on both key-carrying APIs hit every echoing fault; `delay-400` answers so
// the aggregator succeeds and something is cached, and answers late: at_least(1)
// cancels the proposers still running once one answer is in, so the echoing faults
// must have replied by then. `host` varies to force replay misses.
std::string graph(const std::string& tag, const std::string& host) {
    std::string u = "http://moauser:" + kPassword + "@" + host + ":" + std::to_string(server().port());
    std::string retry = " retry { attempts = 2  base_delay = 1ms  max_delay = 2ms } ";
    std::string g = "template agg = \"{{responses}}\"\n"
                    "backend oa { kind = openai  base_url = \"" + u + "/v1\"  api_key_env = \"MOA_SECRET_KEY\"" + retry + "}\n"
                    "backend an { kind = anthropic  base_url = \"" + u + "\"  api_key_env = \"MOA_SECRET_KEY\"" + retry + "}\n";
    std::string layer;
    int n = 0;
    for (const char* b : {"oa", "an"})
        for (const char* m : {"echo-json-400", "echo-json-503", "echo-text-401", "echo-text-500", "echo-key", "delay-400"}) {
            std::string name = "p" + std::to_string(n++);
            g += "agent " + name + " { backend = " + b + "  model = \"" + m + ":" + tag + "\" }\n";
            layer += (layer.empty() ? "" : ", ") + name;
        }
    // Not streamed here, echo-stream answers at once: it too answers after 400 ms.
    g += "agent s1 { backend = oa  model = \"delay-400+echo-stream:" + tag + "\" }\n";
    g += "agent s2 { backend = an  model = \"delay-400+echo-stream:" + tag + "\" }\n";
    g += "layer p = [" + layer + ", s1, s2]\n";
    g += "layer f = p5 { inputs = p  prompt = agg  fan_in = at_least(1) }\noutput o = f\n";
    return g;
}

// A graph whose output streams (a single question prints as it arrives).
std::string stream_graph(const std::string& tag, const char* backend) {
    std::string u = "http://moauser:" + kPassword + "@127.0.0.1:" + std::to_string(server().port());
    return "backend oa { kind = openai  base_url = \"" + u + "/v1\"  api_key_env = \"MOA_SECRET_KEY\" }\n"
           "backend an { kind = anthropic  base_url = \"" + u + "\"  api_key_env = \"MOA_SECRET_KEY\" }\n"
           "agent s { backend = " + std::string(backend) + "  model = \"echo-stream:" + tag + "\" }\n"
           "layer l = s\noutput o = l\n";
}

}  // namespace

TEST_CASE("secrets: keys with or without a trailing space and URL passwords appear in no output or log or cache or export") {
    const std::string key = "sk-live-DISTINCT-4b3c2d1e0f";
    int variant = 0;
    for (const std::string& value : {key, key + " ", " " + key + "  "}) {
        std::string tag = "sec" + std::to_string(variant++);
        INFO("key variant " << variant);
        setenv("MOA_SECRET_KEY", value.c_str(), 1);
        fs::path d = dir() / tag;
        fs::remove_all(d);
        fs::create_directories(d);
        std::string g = write(tag + ".moa", graph(tag, "127.0.0.1"));
        std::string moved = write(tag + "-moved.moa", graph(tag, "localhost"));
        std::string in = write(tag + "-in.jsonl", "{\"id\":\"1\",\"prompt\":\"q1\"}\n{\"id\":\"2\",\"prompt\":\"q2\"}\n");
        std::string db = (d / "cache.db").string(), fresh = (d / "fresh.db").string();
        std::string out = (d / "out.jsonl").string(), alpaca = (d / "alpaca.json").string();
        std::string exported = (d / "export.jsonl").string();
        std::vector<Cli> runs;
        runs.push_back(moa_cli("-v run " + g + " --cache rw --cache-db " + db + " --emit-all --input " + in + " --output " + out));
        CHECK(runs.back().code == 0);
        runs.push_back(moa_cli("-v run " + g + " --cache rw --cache-db " + db + " --format alpaca-eval --input " + in +
                               " --output " + alpaca));
        runs.push_back(moa_cli("-v run " + g + " --cache off --emit-all --format jsonl q"));
        for (const char* b : {"oa", "an"}) {
            runs.push_back(moa_cli("-v run " + write(tag + b + "-s.moa", stream_graph(tag, b)) + " --cache off q"));
            CHECK(runs.back().code == 1);
        }
        runs.push_back(moa_cli("cache --cache-db " + db + " export " + exported));
        runs.push_back(moa_cli("cache --cache-db " + db + " stats"));
        runs.push_back(moa_cli("-v run " + g + " --cache replay --cache-db " + fresh + " --emit-all --input " + in));
        CHECK(runs.back().code == 1);
        runs.push_back(moa_cli("-v run " + moved + " --cache replay --cache-db " + db + " --emit-all --input " + in));
        CHECK(runs.back().code == 1);
        CHECK(runs.back().out.find("cache miss in replay mode") != std::string::npos);
        runs.push_back(moa_cli("graph --format json " + g));
        runs.push_back(moa_cli("graph --format text " + g));
        runs.push_back(moa_cli("check " + g));
        // The echoing faults really echoed (scrubbed), so the greps below mean something.
        std::string results = slurp(out);
        CHECK(results.find("key=***") != std::string::npos);
        CHECK(results.find("Basic ***") != std::string::npos);
        std::vector<std::string> texts = {results, slurp(alpaca), slurp(exported)};
        for (const auto& r : runs) texts.push_back(r.out);
        for (const auto& e : fs::recursive_directory_iterator(d)) texts.push_back(slurp(e.path()));  // .db, -wal, -shm
        // Not even a piece: an error body cut in the middle of the key leaked its head.
        size_t n = 0;
        for (const auto& t : texts) {
            INFO("text " << n++ << ": " << t.substr(0, 2000));
            CHECK(leaked_piece(t, key).empty());
            CHECK(leaked_piece(t, kPassword).empty());
        }
    }
}

TEST_CASE("secrets: a key holding CR or LF or another control character is refused before any call") {
    const std::string key = "sk-live-CTRL-99887766";
    int variant = 0;
    for (const std::string& value : {key + "\r\n", key + "\n", key + "\r\nX-Injected: yes", key + "\tx"}) {
        std::string tag = "ctl" + std::to_string(variant++);
        setenv("MOA_SECRET_KEY", value.c_str(), 1);
        Cli r = moa_cli("run " + write(tag + ".moa", stream_graph(tag, "oa")) + " --cache off q");
        INFO(r.out);
        CHECK(r.code == 1);
        CHECK(r.out.find("backend 'oa': the API key in MOA_SECRET_KEY contains a control character") != std::string::npos);
        CHECK(r.out.find(key) == std::string::npos);
        CHECK(server().log("echo-stream:" + tag).empty());
    }
}

TEST_CASE("a sim backend naming an unset api_key_env next to a real backend runs (it crashed)") {
    setenv("MOA_SECRET_KEY", "sk-live-sim-0000", 1);
    std::string g = write("simkey.moa", "backend sim { kind = sim  api_key_env = \"MOA_UNSET_SIM_KEY\" }\n"
                                        "backend oa { kind = openai  base_url = \"" + server().url() +
                                            "/v1\"  api_key_env = \"MOA_SECRET_KEY\" }\n"
                                            "template agg = \"{{responses}}\"\n"
                                            "agent a { backend = sim  model = \"m/a\" }\n"
                                            "agent b { backend = oa  model = \"ok:simkey\" }\n"
                                            "layer p = a\nlayer f = b { inputs = p  prompt = agg }\noutput o = f\n");
    Cli r = moa_cli("run " + g + " --cache off q");
    INFO(r.out);
    CHECK(r.code == 0);
    CHECK(r.out.find("answer from ok:simkey") != std::string::npos);
}

TEST_CASE("a long server-requested cooldown is announced on stderr") {
    setenv("MOA_SECRET_KEY", "sk-live-cool-0000", 1);
    std::string g = write("cooldown.moa", "backend oa { kind = openai  base_url = \"" + server().url() +
                                              "/v1\"  api_key_env = \"MOA_SECRET_KEY\" }\n"
                                              "agent a { backend = oa  model = \"retry-after-10-1:cool\" }\nlayer l = a\noutput o = l\n");
    Cli r = moa_cli("run " + g + " --cache off q");
    INFO(r.out);
    CHECK(r.code == 0);
    CHECK(r.out.find("moa: backend 'oa' is rate limited: waiting 10 s (the server's Retry-After)\n") != std::string::npos);
}

// CI replays a recorded cache on pull requests that get no secrets: a replay makes no
// call, so an unset key must not stop it; every other mode still needs the key.
TEST_CASE("a strict replay needs no API key and makes no call while other modes still refuse an unset key") {
    setenv("MOA_REPLAY_KEY", "sk-live-replay-0000", 1);
    std::string g = write("replaykey.moa", "backend oa { kind = openai  base_url = \"" + server().url() +
                                               "/v1\"  api_key_env = \"MOA_REPLAY_KEY\" }\n"
                                               "agent a { backend = oa  model = \"ok:replaykey\" }\n"
                                               "layer l = a\noutput o = l\n");
    std::string db = (dir() / "replaykey.db").string();
    fs::remove(db);
    Cli rec = moa_cli("run " + g + " --cache-db " + db + " --no-progress q");
    INFO(rec.out);
    REQUIRE(rec.code == 0);
    size_t calls = server().log("ok:replaykey").size();
    REQUIRE(calls == 1);
    unsetenv("MOA_REPLAY_KEY");
    Cli replay = moa_cli("run " + g + " --cache replay --cache-db " + db + " --no-progress q");
    INFO(replay.out);
    CHECK(replay.code == 0);
    CHECK(replay.out.find("answer from ok:replaykey") != std::string::npos);
    CHECK(server().log("ok:replaykey").size() == calls);
    for (const char* mode : {"rw", "read", "refresh", "off"}) {
        Cli r = moa_cli("run " + g + " --cache " + mode + " --cache-db " + db + " --no-progress q");
        INFO(mode << ": " << r.out);
        CHECK(r.code == 1);
        CHECK(r.out.find("MOA_REPLAY_KEY") != std::string::npos);
    }
    CHECK(server().log("ok:replaykey").size() == calls);
}
