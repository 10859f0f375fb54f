// `moa plan` on a real backend: a run against the loopback server records each answer's
// latency in the cache; the plan then profiles that model from it.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>

#include "../engine/engine_test_util.hpp"
#include "fake_server.hpp"
#include "moa/plan.hpp"

using namespace moa;
namespace fs = std::filesystem;

TEST_CASE("latencies recorded by a run on a real backend profile its model in the plan", "[plan]") {
    static test::FakeServer server;
    setenv("MOA_PLAN_TEST_KEY", "sk-plan-0123456789", 1);
    fs::path dir = fs::temp_directory_path() / ("moa-plan-http-" + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::string db = (dir / "cache.db").string();
    // The server answers after 150 ms.
    GraphSpec g = test::load("backend oa { kind = openai  base_url = \"" + server.url() +
                             "/v1\"  api_key_env = \"MOA_PLAN_TEST_KEY\" }\n"
                             "agent x { backend = oa  model = \"ok+delay-150:plan\"  max_tokens = 50 }\n"
                             "layer l = x\noutput o = l\n");
    {
        EngineOptions o;
        o.cache_mode = CacheMode::ReadWrite;
        o.cache_path = db;
        Engine e(g, o);
        test::VectorSource src({"first question", "second question", "third question"});
        RunStats stats = e.run_batch(src, [](JobResult&& r) { REQUIRE(r.ok); });
        CHECK(stats.cache_misses == 3);
    }
    auto profiles = read_latency_profiles(db);
    REQUIRE(profiles.count("ok+delay-150:plan"));
    const LatencyProfile& p = profiles["ok+delay-150:plan"];
    REQUIRE(p.latency_ms.size() == 3);
    CHECK(p.median_latency_ms() >= 150);  // the server's delay, at least
    unsetenv("MOA_PLAN_TEST_KEY");  // the plan needs no key
    PlanOptions po;
    po.profiles = profiles;
    GraphPlan plan = plan_graph(g, po);
    REQUIRE(plan.nodes.size() == 1);
    CHECK(plan.nodes[0].profile == "cache (3 answers)");
    REQUIRE(plan.critical_path_ms);
    CHECK(*plan.critical_path_ms >= 150);
    REQUIRE(plan.nodes[0].tokens_out);
    // Only the price is unknown (the test loads no price table): no time or token figure.
    for (const auto& u : plan.unknowns) CHECK(u.find("no price") != std::string::npos);
    fs::remove_all(dir);
}
