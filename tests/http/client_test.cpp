// Behaviours both HTTP clients (native and libcurl, EngineOptions::http_client) must
// share beyond what the other HTTP tests cover: a dead kept-alive connection, proxies.
#include <cstdlib>
#include <string>

#include "../engine/engine_test_util.hpp"
#include "fake_server.hpp"

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
