// `moa plan` against the engine: the plan of a sim graph predicts what a sim run of the
// same graph, with the same seed, measures.
#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>

#include "engine_test_util.hpp"
#include "moa/plan.hpp"

using namespace moa;

namespace {

GraphSpec load_file(const std::string& name) {
    Diagnostics d;
    LoadOptions opts;
    opts.import_paths.push_back(std::string(MOA_SOURCE_DIR) + "/stdlib");
    auto r = load_graph(std::string(MOA_SOURCE_DIR) + "/graphs/" + name, opts, d);
    REQUIRE(r.ok);
    return r.graph;
}

std::vector<std::string> questions(size_t n) {
    std::vector<std::string> q;
    for (size_t i = 0; i < n; ++i) q.push_back("Question " + std::to_string(i) + ": what are the trade-offs of design " + std::to_string(i * 7) + "?");
    return q;
}

// No figure of time or tokens is unknown (prices are: the tests load no price table).
bool only_prices_unknown(const GraphPlan& p) {
    for (const auto& u : p.unknowns)
        if (u.find("no price") == std::string::npos) return false;
    return true;
}

struct Measured {
    double calls_per_query = 0, mean_critical_path_ms = 0, wall_ms = 0;
};

Measured run_batch(const GraphSpec& g, const std::vector<std::string>& qs, uint64_t seed) {
    EngineOptions eo;
    eo.seed = seed;
    Engine engine(g, eo);
    test::VectorSource src(qs);
    std::vector<double> cps;
    RunStats stats = engine.run_batch(src, [&](JobResult&& r) {
        REQUIRE(r.ok);
        cps.push_back(r.critical_path_ms);
    });
    REQUIRE(cps.size() == qs.size());
    Measured m;
    m.calls_per_query = static_cast<double>(stats.calls) / static_cast<double>(qs.size());
    m.mean_critical_path_ms = std::accumulate(cps.begin(), cps.end(), 0.0) / static_cast<double>(cps.size());
    m.wall_ms = stats.wall_ms;
    return m;
}

// The plan's critical path is the expected value of one query's; a run measures one
// draw per query (a pure function of the seed and the query on sim, so the test is
// deterministic but for timer noise), so the test compares the plan with the mean over
// a batch of 64. One query's path varies by about 9 to 13% around the mean (the
// simulator's answer lengths and jitter), the mean of 64 by 1.1 to 1.6%: 5% is three
// to four and a half of those. The same batch of 64 checks the wall time: with 64 slots
// it is about the work divided by the slots plus the last jobs' tail, a sum of hundreds
// of calls that varies by a few percent around the mean of the plan's 20 drawn
// batches (measured: within 2.3% for MoA-Lite and 0.2% for the paper's MoA); 10%
// leaves room for timers and threads on a loaded machine.
void plan_agrees_with_run(const std::string& file) {
    GraphSpec g = load_file(file);
    auto qs = questions(64);
    PlanOptions po;
    po.seed = 7;
    po.queries = qs;
    GraphPlan p = plan_graph(g, po);
    REQUIRE(p.critical_path_ms);
    REQUIRE(p.batch_wall_ms);
    CHECK(only_prices_unknown(p));
    Measured m = run_batch(g, qs, 7);
    INFO(file << ": plan " << *p.critical_path_ms << " ms, run mean " << m.mean_critical_path_ms << " ms; batch plan "
              << *p.batch_wall_ms << " ms, run " << m.wall_ms << " ms");
    CHECK(p.calls_min == p.calls_max);
    CHECK(static_cast<double>(p.calls_max) == m.calls_per_query);
    CHECK(std::abs(*p.critical_path_ms - m.mean_critical_path_ms) <= 0.05 * m.mean_critical_path_ms);
    CHECK(std::abs(*p.batch_wall_ms - m.wall_ms) <= 0.10 * m.wall_ms);
}

}  // namespace

TEST_CASE("the plan of the paper's MoA on sim predicts a sim run: calls, critical path, batch wall time", "[plan]") {
    plan_agrees_with_run("paper-moa-sim.moa");
}

TEST_CASE("the plan of MoA-Lite on sim predicts a sim run: calls, critical path, batch wall time", "[plan]") {
    plan_agrees_with_run("paper-moa-lite-sim.moa");
}

TEST_CASE("the plan of Self-MoA on sim predicts a sim run: calls, critical path, batch wall time", "[plan]") {
    plan_agrees_with_run("self-moa-sim.moa");
}

TEST_CASE("the paper's MoA makes 13 calls per query: the plan counts them, their worst case and token bounds", "[plan]") {
    GraphPlan p = plan_graph(load_file("paper-moa-sim.moa"), {});
    CHECK(p.calls_max == 13);
    CHECK(p.nodes.size() == 13);
    CHECK(p.worst_attempts == 13 * 4);  // the default retry policy: 4 attempts, no fallback
    REQUIRE(p.tokens_in);
    REQUIRE(p.tokens_in_max);
    CHECK(*p.tokens_in <= *p.tokens_in_max);
    REQUIRE(p.tokens_out);
    REQUIRE(p.tokens_out_max);
    CHECK(*p.tokens_out <= *p.tokens_out_max);
    // A chain of three calls: one per layer.
    CHECK(std::count_if(p.nodes.begin(), p.nodes.end(), [](const NodePlan& n) { return n.critical; }) == 3);
}

TEST_CASE("the worst case counts every retry of a backend and the attempts of an agent's fallback", "[plan]") {
    GraphSpec g = test::load(R"(
backend flaky {
  kind = sim
  retry { attempts = 3 }
  faults { server_error = 1.0 }
}
backend steady {
  kind = sim
  retry { attempts = 2 }
}
template agg = "Responses:\n{{responses}}"
agent a { backend = flaky  model = "m/alpha"  fallback = b }
agent b { backend = steady  model = "m/beta" }
layer first = [a, b]
layer last = b { inputs = first  prompt = agg }
output answer = last
)");
    GraphPlan p = plan_graph(g, {});
    REQUIRE(p.nodes.size() == 3);
    CHECK(p.nodes[0].worst_attempts == 3 + 2);
    CHECK(p.nodes[0].fallback == "b");
    CHECK(p.nodes[1].worst_attempts == 2);
    CHECK(p.worst_attempts == 5 + 2 + 2);
    // A batch: every call and every fallback, but retries only up to the run's budget.
    PlanOptions big;
    big.queries = questions(100);
    GraphPlan b = plan_graph(g, big);
    CHECK(b.batch_worst_attempts == 300 + 100 + std::min<int64_t>(100 * (3 + 1 + 1), 20 + 300 / 2));
    // The flaky agent always fails: its expected latency holds three failed attempts
    // and two backoff waits before the fallback answers, so the run's node shows the
    // fallback with 3 + 1 attempts.
    Engine engine(g, [] {
        EngineOptions o;
        o.emit_all = true;
        return o;
    }());
    JobResult r = engine.run_one("q");
    REQUIRE(r.ok);
    CHECK(test::node(r, "first.a").attempts == 4);
    CHECK(test::node(r, "first.a").agent == "b");
    REQUIRE(p.nodes[0].latency_ms);
    CHECK(*p.nodes[0].latency_ms > 0);
}

TEST_CASE("a real model with no recorded latency is planned without its key, its latency shown as unknown", "[plan]") {
    GraphSpec g = test::load(R"(
backend remote { kind = openai  base_url = "https://api.example.com/v1"  api_key_env = "MOA_PLAN_TEST_UNSET_KEY" }
agent r { backend = remote  model = "remote-model" }
layer only = r
output answer = only
)");
    GraphPlan p = plan_graph(g, {});
    REQUIRE(p.nodes.size() == 1);
    CHECK(p.calls_max == 1);
    CHECK(p.nodes[0].profile == "none");
    CHECK_FALSE(p.nodes[0].latency_ms);
    CHECK_FALSE(p.nodes[0].tokens_out);
    CHECK_FALSE(p.nodes[0].tokens_out_max);  // no max_tokens
    CHECK(p.nodes[0].tokens_in);             // the query alone: known
    CHECK_FALSE(p.critical_path_ms);
    CHECK_FALSE(p.batch_wall_ms);
    std::string text = plan_text(p);
    CHECK(text.find("critical path (one query, * above): unknown") != std::string::npos);
    CHECK(text.find("no latency profile for model \"remote-model\"") != std::string::npos);
    std::string json = plan_json(p);
    CHECK(json.find("\"critical_path_ms\": null") != std::string::npos);
    CHECK(json.find("\"latency_ms\":null") != std::string::npos);
}

TEST_CASE("recorded latencies profile a real model: its median, and the critical path they add up to", "[plan]") {
    GraphSpec g = test::load(R"(
backend remote { kind = openai  base_url = "https://api.example.com/v1"  api_key_env = "MOA_PLAN_TEST_UNSET_KEY" }
template agg = "Responses:\n{{responses}}"
agent r { backend = remote  model = "remote-model"  max_tokens = 300 }
layer first = r
layer last = r { inputs = first  prompt = agg }
output answer = last
)");
    PlanOptions o;
    LatencyProfile& prof = o.profiles["remote-model"];
    for (double ms : {900.0, 1000.0, 1100.0}) {
        prof.latency_ms.push_back(ms);
        prof.tokens_out.push_back(100);
        prof.chars.push_back(400);
    }
    CHECK(prof.median_latency_ms() == 1000.0);
    GraphPlan p = plan_graph(g, o);
    REQUIRE(p.nodes[0].latency_ms);
    CHECK(p.nodes[0].profile == "cache (3 answers)");
    CHECK(*p.nodes[0].latency_ms == Approx(1000).epsilon(0.02));
    REQUIRE(p.critical_path_ms);
    CHECK(*p.critical_path_ms == Approx(2000).epsilon(0.02));
    REQUIRE(p.nodes[1].tokens_in);
    // The aggregator's prompt holds the first answer: 400 characters, 100 tokens more.
    CHECK(*p.nodes[1].tokens_in >= *p.nodes[0].tokens_in + 100);
    CHECK(only_prices_unknown(p));
}

namespace {

// Three proposers and an aggregator, every call exactly 100 ms, on one backend with
// `limits` (max_concurrent, requests).
GraphSpec fixed_latency(const std::string& limits) {
    return test::load("backend sim {\n  kind = sim\n  " + limits +
                      "\n  latency {\n    first_token = 100ms\n  }\n}\n"
                      "template agg = \"Responses:\\n{{responses}}\"\n"
                      "agent a { backend = sim  model = \"m/a\" }\n"
                      "layer p = [a * 3]\n"
                      "layer f = a { inputs = p  prompt = agg }\n"
                      "output o = f\n");
}

}  // namespace

TEST_CASE("a batch's wall time follows the layers under max_concurrent, not work divided by slots", "[plan]") {
    // Two slots, two jobs of 3 + 1 calls: 8 calls of 100 ms. The whole input is read at
    // once, so the engine starts the longest chain still ahead first
    // (Scheduler::order_by_height): 0-100 j0p1 j0p2, 100-200 j0p3 j1p1, 200-300 j1p2
    // j1p3, 300-400 j0f j1f: work / slots here (earliest job first took 500 ms:
    // 200-300 j0f j1p2, 300-400 j1p3, 400-500 j1f).
    PlanOptions o;
    o.queries = {"first", "second"};
    GraphPlan p = plan_graph(fixed_latency("max_concurrent = 2"), o);
    REQUIRE(p.critical_path_ms);
    CHECK(*p.critical_path_ms == Approx(200));
    REQUIRE(p.batch_wall_ms);
    CHECK(*p.batch_wall_ms == Approx(400));
    // One job at a time (--max-jobs 1): each job alone takes 100 + 100 ms (two slots
    // for three proposers) + 100 ms.
    o.max_jobs = 1;
    CHECK(*plan_graph(fixed_latency("max_concurrent = 2"), o).batch_wall_ms == Approx(600));
    // The global --concurrency cap of 1: eight calls one after another.
    o.max_jobs = 0;
    o.max_calls = 1;
    CHECK(*plan_graph(fixed_latency("max_concurrent = 2"), o).batch_wall_ms == Approx(800));
}

TEST_CASE("a batch's wall time waits for the backend's request rate as the scheduler does", "[plan]") {
    // 60 requests a minute with a burst of one: a call starts every second; the eighth
    // at 7 s ends at 7.1 s.
    PlanOptions o;
    o.queries = {"first", "second"};
    GraphPlan p = plan_graph(fixed_latency("requests = 60/min"), o);
    REQUIRE(p.batch_wall_ms);
    CHECK(*p.batch_wall_ms == Approx(7100));
}

TEST_CASE("the plan's cost is its tokens at the graph's prices; the worst case bills every attempt at the longest", "[plan]") {
    GraphSpec g = test::load(R"(
backend sim {
  kind = sim
  retry { attempts = 3 }
}
price alpha { model = "m/alpha"  input = 2.00  output = 10.00 }
template agg = "Responses:\n{{responses}}"
agent a { backend = sim  model = "m/alpha"  max_tokens = 80 }
agent b { backend = sim  model = "m/unpriced" }
layer p = [a, b]
layer f = a { inputs = p  prompt = agg }
output o = f
)");
    GraphPlan p = plan_graph(g, {});
    REQUIRE(p.nodes.size() == 3);
    const NodePlan& a = p.nodes[0];
    REQUIRE(a.cost_usd);
    REQUIRE(a.cost_max_usd);
    auto usd = [](double in, double out) { return (std::llround(in) * 2.00 + std::llround(out) * 10.00) / 1e6; };
    CHECK(*a.cost_usd == Approx(usd(*a.tokens_in, *a.tokens_out)));
    CHECK(*a.cost_max_usd == Approx(3 * usd(*a.tokens_in_max, *a.tokens_out_max)));
    // A model without a price: its cost is unknown, said so, and so is the total.
    CHECK_FALSE(p.nodes[1].cost_usd);
    CHECK_FALSE(p.cost_usd);
    bool said = false;
    for (const auto& u : p.unknowns) said = said || u.find("no price for model \"m/unpriced\"") != std::string::npos;
    CHECK(said);
    CHECK(plan_text(p).find("cost per query: unknown") != std::string::npos);
}
