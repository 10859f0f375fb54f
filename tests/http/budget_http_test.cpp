// Budgets against a real HTTP server: with 32 calls in flight and --max-calls 100, the
// server sees no more than 100 requests (counted in its own log), and `moa run` names
// the budget in its summary and exits 3.
#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include "../engine/engine_test_util.hpp"
#include "fake_server.hpp"

using namespace moa;
using moa::test::FakeServer;

namespace {

FakeServer& server() {
    static FakeServer s;
    return s;
}

// Four proposers (each answering after 20 ms) and an aggregator on one backend that
// allows 32 calls at once.
std::string graph(const std::string& model) {
    return "backend oa { kind = openai  base_url = \"" + server().url() +
           "/v1\"  api_key_env = \"MOA_TEST_KEY\"  max_concurrent = 32 }\n"
           "template agg = \"{{responses}}\"\n"
           "agent a { backend = oa  model = \"" + model + "\"  max_tokens = 50 }\n"
           "price p { model = \"" + model + "\"  input = 1  output = 2 }\n"
           "layer propose = a * 4\n"
           "layer final = a { inputs = propose  prompt = agg }\n"
           "output o = final\n";
}

}  // namespace

TEST_CASE("with 32 calls in flight and a budget of 100 calls, the server sees no more than 100 requests") {
    setenv("MOA_TEST_KEY", "sk-test-secret-0123456789", 1);
    const std::string model = "delay-20:budget-engine";
    EngineOptions o;
    o.budget.calls = 100;
    o.max_jobs = 16;  // 64 proposer calls ready at once, 32 in flight
    Engine e(test::load(graph(model)), o);
    std::vector<std::string> qs;
    for (int i = 0; i < 100; ++i) qs.push_back("question " + std::to_string(i));
    test::VectorSource src(qs);
    size_t stopped = 0;
    RunStats s = e.run_batch(src, [&](JobResult&& r) {
        if (!r.ok && r.error.find("budget --max-calls 100 reached") != std::string::npos) ++stopped;
    });
    CHECK(server().log(model).size() == 100);
    CHECK(s.attempts == 100);
    CHECK(s.budget_reached == "--max-calls 100");
    CHECK(stopped == s.budget_stopped_jobs);
    CHECK(stopped > 0);
}

TEST_CASE("moa run: a batch stopped by --max-calls names the budget in its summary and exits 3") {
    setenv("MOA_TEST_KEY", "sk-test-secret-0123456789", 1);
    const std::string model = "delay-20:budget-cli";
    auto dir = std::filesystem::temp_directory_path() / ("moa-budget-cli-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "g.moa") << graph(model);
    {
        std::ofstream in(dir / "q.jsonl");
        for (int i = 0; i < 40; ++i) in << "{\"prompt\": \"question " << i << "\"}\n";
    }
    std::string cmd = "cd " + dir.string() + " && " MOA_BIN " run g.moa --cache off --no-progress --max-jobs 8 --max-calls 30 "
                      "--input q.jsonl --output out.jsonl 2> err.txt";
    int st = std::system(cmd.c_str());
    CHECK(WEXITSTATUS(st) == 3);
    std::ifstream e(dir / "err.txt");
    std::string err((std::istreambuf_iterator<char>(e)), {});
    INFO(err);
    CHECK(err.find("budget --max-calls 30 reached: ") != std::string::npos);
    CHECK(err.find("jobs stopped") != std::string::npos);
    CHECK(server().log(model).size() == 30);
    std::filesystem::remove_all(dir);
}
