// Behaviours both HTTP clients (native and libcurl, EngineOptions::http_client) must
// share beyond what the other HTTP tests cover: a dead kept-alive connection, proxies,
// running out of file descriptors.
#include <sys/resource.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../engine/engine_test_util.hpp"
#include "fake_server.hpp"
#include "shell.hpp"

using namespace moa;

namespace {

test::FakeServer& server() {
    static test::FakeServer s;
    return s;
}

GraphSpec one_agent(const std::string& base, const std::string& model) {
    setenv("MOA_TEST_KEY", "sk-test-secret-0123456789", 1);
    return test::load("backend oa { kind = openai  base_url = \"" + base + "/v1\"  api_key_env = \"MOA_TEST_KEY\"  "
                      "retry { attempts = 3  base_delay = 1ms  max_delay = 2ms } }\n"
                      "agent x { backend = oa  model = \"" + model + "\" }\nlayer l = x\noutput o = l\n");
}

EngineOptions client(HttpClient c) {
    EngineOptions o;
    o.http_client = c;
    o.io_threads = 1;  // one connection pool: the second call reuses the first one's connection
    return o;
}

}  // namespace

TEST_CASE("a kept-alive connection the server closes instead of answering is reopened once, not retried as a call") {
    for (HttpClient c : {HttpClient::Native, HttpClient::Curl}) {
        INFO("client " << to_string(c));
        std::string model = std::string("close-reused-1:") + to_string(c);
        Engine e(one_agent(server().url(), model), client(c));
        RunStats first, second;
        REQUIRE(e.run_one("q1", nullptr, first).ok);
        JobResult r = e.run_one("q2", nullptr, second);
        INFO(r.error);
        REQUIRE(r.ok);
        CHECK(r.output() == "answer from " + model + " to: q2");
        CHECK(second.attempts == 1);  // the reconnect is the client's, not a scheduler retry
        CHECK(second.retries == 0);
    }
}

TEST_CASE("a proxy variable sends plain http calls through it unless no_proxy exempts the host") {
    // The fake server plays the proxy: it answers an absolute-URI request line with
    // "no route <URL>", so the error says the call went through it. The target
    // 127.0.0.2:1 refuses connections, so a direct call fails to connect.
    std::string proxy = server().url();
    for (HttpClient c : {HttpClient::Native, HttpClient::Curl}) {
        INFO("client " << to_string(c));
        setenv("http_proxy", proxy.c_str(), 1);
        unsetenv("no_proxy");
        unsetenv("NO_PROXY");
        JobResult via;
        {
            Engine e(one_agent("http://127.0.0.2:1", "ok:proxy"), client(c));
            via = e.run_one("q");
        }
        setenv("no_proxy", "localhost,127.0.0.2", 1);
        JobResult direct;
        {
            Engine e(one_agent("http://127.0.0.2:1", "ok:proxy"), client(c));
            direct = e.run_one("q");
        }
        unsetenv("http_proxy");
        unsetenv("no_proxy");
        CHECK(via.error == "http 404: no route http://127.0.0.2:1/v1/chat/completions");
        CHECK(direct.error.rfind("connection error: Couldn't connect to server", 0) == 0);
    }
}

namespace {

int open_files() {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) n += e.is_symlink() ? 1 : 0;
    return n;
}

}  // namespace

TEST_CASE("out of file descriptors, a failed call says the system's reason and the process's limit") {
    // The native client only: libcurl reports "Couldn't connect to server" alone.
    GraphSpec g = test::load("backend oa { kind = openai  base_url = \"" + server().url() +
                             "/v1\"  api_key_env = \"MOA_TEST_KEY\"  max_concurrent = 40 "
                             "retry { attempts = 2  base_delay = 1ms  max_delay = 2ms } }\n"
                             "agent x { backend = oa  model = \"delay-300:nofile\" }\nlayer l = x\noutput o = l\n");
    setenv("MOA_TEST_KEY", "sk-test-secret-0123456789", 1);
    EngineOptions o = client(HttpClient::Native);
    o.max_jobs = 40;
    Engine e(g, o);
    rlimit before{};
    REQUIRE(getrlimit(RLIMIT_NOFILE, &before) == 0);
    rlimit tight = before;
    tight.rlim_cur = static_cast<rlim_t>(open_files() + 8);  // room for a few sockets, not 40
    REQUIRE(setrlimit(RLIMIT_NOFILE, &tight) == 0);
    std::vector<std::string> prompts;
    for (int i = 0; i < 40; ++i) prompts.push_back("q" + std::to_string(i));
    test::VectorSource src(prompts);
    size_t ok = 0, named = 0, failed = 0;
    std::string first_error;
    RunStats s = e.run_batch(src, [&](JobResult&& r) {
        ok += r.ok;
        if (r.ok) return;
        ++failed;
        if (first_error.empty()) first_error = r.error;
        named += r.error.find("socket(): Too many open files") != std::string::npos &&
                 r.error.find("RLIMIT_NOFILE") != std::string::npos && r.error.find("max_concurrent") != std::string::npos;
    });
    setrlimit(RLIMIT_NOFILE, &before);
    INFO(first_error);
    CHECK(ok + failed == 40);
    CHECK(ok >= 1);       // the sockets there were served their calls
    CHECK(failed >= 1);   // the others could not open one
    CHECK(named == failed);
}

TEST_CASE("moa raises its soft limit on open files to the hard one, so a batch wider than the soft limit completes") {
    rlimit lim{};
    REQUIRE(getrlimit(RLIMIT_NOFILE, &lim) == 0);
    if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < 1024) {
        WARN("the hard limit on open files is " << lim.rlim_max << ": too low to show this here");
        return;
    }
    std::string dir = std::filesystem::temp_directory_path().string();
    std::string g = dir + "/moa-nofile.moa", in = dir + "/moa-nofile.jsonl", out = dir + "/moa-nofile-out.jsonl";
    std::ofstream(g) << "backend oa { kind = openai  base_url = \"" + server().url() +
                            "/v1\"  api_key_env = \"MOA_TEST_KEY\"  max_concurrent = 150 }\n"
                            "agent x { backend = oa  model = \"delay-300:wide\" }\nlayer l = x\noutput o = l\n";
    std::filesystem::remove(out);  // a file of an earlier run (another server port) would be resumed
    {
        std::ofstream q(in);
        for (int i = 0; i < 150; ++i) q << "{\"id\":\"" << i << "\",\"prompt\":\"q" << i << "\"}\n";
    }
    // 150 calls at once need 150 sockets; the shell's soft limit is 64.
    test::Shell r = test::shell("ulimit -S -n 64 && MOA_TEST_KEY=k NO_COLOR=1 " MOA_BIN " run " + g + " --input " + in + " --output " +
                    out + " --cache off --max-jobs 150");
    INFO(r.out);
    CHECK(r.code == 0);
    CHECK(r.out.find("jobs: 150 ok, 0 failed") != std::string::npos);
}
