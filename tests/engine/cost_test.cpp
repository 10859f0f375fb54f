// Prices and money: the price each agent resolves to, the cost of each node's call,
// the run's rows per node and per layer, unknown prices and what cache hits saved.
#include <unistd.h>

#include <filesystem>
#include <map>

#include "engine_test_util.hpp"
#include "moa/batch_io.hpp"
#include "moa/cost.hpp"

using namespace moa;

namespace {

GraphSpec load_priced(const std::string& text) {
    Diagnostics d;
    LoadOptions opts;
    opts.import_paths.push_back(std::string(MOA_SOURCE_DIR) + "/stdlib");
    opts.price_table = std::string(MOA_SOURCE_DIR) + "/stdlib/prices.moa";
    auto r = load_graph_text("test.moa", text, opts, d);
    std::string errors;
    for (const auto& x : d.all()) errors += render_text(x);
    INFO(errors);
    REQUIRE(r.ok);
    return r.graph;
}

const char* kPriced = R"(
backend sim { kind = sim }
template agg = "Responses:\n{{responses}}"
agent a { backend = sim  model = "m/alpha" }
agent b { backend = sim  model = "m/beta" }
agent c { backend = sim  model = "m/gamma" }
price alpha { model = "m/alpha"  input = 3  output = 15 }
price beta { model = "m/beta"  input = 0.5  output = 1.5  cached_input = 0.25 }
price gamma { model = "m/gamma"  input = 10  output = 30 }
layer propose = [a, b]
layer final = c { inputs = propose  prompt = agg }
output answer = final
)";

std::string temp_db(const std::string& name) {
    auto p = std::filesystem::temp_directory_path() / ("moa-cost-test-" + name + "-" + std::to_string(getpid()) + ".db");
    for (const char* ext : {"", "-wal", "-shm"}) std::filesystem::remove(p.string() + ext);
    return p.string();
}

}  // namespace

TEST_CASE("a graph's price overrides the stdlib table and the most specific price wins") {
    GraphSpec g = load_priced(R"(
backend oa { kind = openai  base_url = "http://127.0.0.1:9/v1" }
backend local { kind = ollama  base_url = "http://127.0.0.1:9" }
backend sim { kind = sim }
agent big { backend = oa  model = "gpt-4o" }
agent mini { backend = oa  model = "gpt-4o-mini-2024-07-18" }
agent fake { backend = sim  model = "gpt-4o" }
agent sonnet { backend = sim  model = "claude-sonnet-4-20250514" }
agent llama { backend = local  model = "llama3.1:8b" }
agent helper { backend = sim  model = "sim-helper" }
agent odd { backend = sim  model = "no-such-model" }
price cheap_gpt4o { model = "gpt-4o"  backend = oa  input = 1  output = 2 }
layer l = [big, mini, fake, sonnet, llama, helper, odd]
output o = l.big
)");
    auto big = find_price(g, "oa", "gpt-4o");
    REQUIRE(big);
    CHECK(big->input == 1);  // the graph's own price, for that backend
    CHECK(big->origin == "test.moa:12");
    auto fake = find_price(g, "sim", "gpt-4o");  // a simulated agent costs what the model costs
    REQUIRE(fake);
    CHECK(fake->input == 2.50);
    CHECK(fake->output == 10.00);
    CHECK(fake->cached_input == 1.25);
    CHECK(fake->origin.rfind("stdlib ", 0) == 0);
    auto mini = find_price(g, "oa", "gpt-4o-mini-2024-07-18");  // a prefix
    REQUIRE(mini);
    CHECK(mini->input == 0.15);
    auto sonnet = find_price(g, "sim", "claude-sonnet-4-20250514");
    REQUIRE(sonnet);
    CHECK(sonnet->output == 15.00);
    auto llama = find_price(g, "local", "llama3.1:8b");  // any model on Ollama runs locally
    REQUIRE(llama);
    CHECK(llama->input == 0);
    CHECK(find_price(g, "sim", "sim-helper"));
    CHECK_FALSE(find_price(g, "sim", "no-such-model"));
    CHECK_FALSE(find_price(g, "sim", "llama3.1:8b"));  // the Ollama price is for Ollama backends
}

TEST_CASE("cost_usd prices input, cached input and output per million tokens") {
    Price p;
    p.input = 2.50;
    p.output = 10.00;
    CHECK(cost_usd(p, 1'000'000, 0) == 2.50);
    CHECK(cost_usd(p, 0, 1'000'000) == 10.00);
    CHECK(cost_usd(p, 1000, 500) == Approx(0.0075).epsilon(1e-12));
    CHECK(cost_usd(p, 1000, 0, 400) == cost_usd(p, 1000, 0));  // no cached price: input's
    p.cached_input = 1.25;
    CHECK(cost_usd(p, 1000, 0, 400) == Approx((600 * 2.50 + 400 * 1.25) / 1e6).epsilon(1e-12));
    CHECK(cost_usd(p, 100, 0, 400) == Approx(100 * 1.25 / 1e6).epsilon(1e-12));  // cached <= tokens in
    CHECK(format_usd(0.0075) == "$0.0075");
    CHECK(format_usd(0.000042) == "$0.000042");
}

TEST_CASE("every node's event carries its cost and the run adds it up per node, per layer and in total") {
    GraphSpec g = test::load(kPriced);
    EngineOptions o;
    o.emit_all = true;
    Engine e(g, o);
    test::VectorSource qs({"first question", "second, longer question about prices"});
    std::vector<JobResult> results;
    RunStats s = e.run_batch(qs, [&](JobResult&& r) { results.push_back(std::move(r)); });
    REQUIRE(results.size() == 2);
    std::map<std::string, double> node_cost;
    std::map<std::string, uint64_t> layer_in;
    double total = 0;
    for (const auto& r : results) {
        REQUIRE(r.ok);
        for (const auto& n : r.nodes) {
            auto price = find_price(g, "sim", g.agent(n.agent)->model);
            REQUIRE(price);
            CHECK(n.cost_known);
            CHECK_FALSE(n.cache_hit);
            CHECK_FALSE(n.tokens_estimated);  // the simulator counts its tokens
            CHECK(n.tokens_in > 0);
            CHECK(n.cost_usd == cost_usd(*price, n.tokens_in, n.tokens_out));
            node_cost[n.node] += n.cost_usd;
            layer_in[n.layer] += n.tokens_in;
            total += n.cost_usd;
        }
    }
    CHECK(s.cost_usd == Approx(total).epsilon(1e-12));
    CHECK(s.unknown_cost_calls == 0);
    REQUIRE(s.node_costs.size() == 3);
    for (const auto& row : s.node_costs) {
        CHECK(row.calls == 2);
        CHECK(row.cost_usd == Approx(node_cost.at(row.name)).epsilon(1e-12));
    }
    REQUIRE(s.layer_costs.size() == 2);
    CHECK(s.layer_costs[0].name == "propose");
    CHECK(s.layer_costs[0].calls == 4);
    CHECK(s.layer_costs[0].tokens_in == layer_in["propose"]);
    CHECK(s.layer_costs[1].calls == 2);
    CHECK(s.layer_costs[0].cost_usd + s.layer_costs[1].cost_usd == Approx(total).epsilon(1e-12));
}

// Two proposers, one of them on a model with no price.
const char* const kOnePriced = R"(
backend sim { kind = sim }
agent a { backend = sim  model = "m/alpha" }
agent b { backend = sim  model = "m/unpriced" }
price alpha { model = "m/alpha"  input = 3  output = 15 }
template agg = "{{responses}}"
layer l = [a, b]
layer final = a { inputs = l  prompt = agg }
output o = final
)";

TEST_CASE("a model without a price has an unknown cost, never a silent zero") {
    GraphSpec g = test::load(kOnePriced);
    EngineOptions o;
    o.emit_all = true;
    Engine e(g, o);
    RunStats s;
    JobResult r = e.run_one("hello", {}, s);
    REQUIRE(r.ok);
    CHECK(test::node(r, "l.a").cost_known);
    CHECK(test::node(r, "l.b").attempts == 1);
    CHECK_FALSE(test::node(r, "l.b").cost_known);
    CHECK(test::node(r, "l.b").cost_usd == 0);
    CHECK(s.unknown_cost_calls == 1);
    CHECK(s.cost_usd == test::node(r, "l.a").cost_usd + test::node(r, "final.a").cost_usd);
    REQUIRE(s.unknown_prices.size() == 1);
    CHECK(s.unknown_prices[0] == "sim/m/unpriced");
    std::ostringstream out;
    s.print(out);
    INFO(out.str());
    CHECK(out.str().find("+ unknown (1 call of models with no price)") != std::string::npos);
    CHECK(out.str().find("no price for: sim/m/unpriced") != std::string::npos);
}

TEST_CASE("cache hits cost nothing and the summary shows the money they saved") {
    std::string db = temp_db("saved");
    double first_cost = 0;
    for (int run = 0; run < 2; ++run) {
        EngineOptions o;
        o.emit_all = true;
        o.cache_mode = CacheMode::ReadWrite;
        o.cache_path = db;
        Engine e(test::load(kPriced), o);
        RunStats s;
        JobResult r = e.run_one("what does it cost?", {}, s);
        REQUIRE(r.ok);
        if (run == 0) {
            first_cost = s.cost_usd;
            CHECK(first_cost > 0);
            CHECK(s.saved_usd == 0);
            continue;
        }
        for (const auto& n : r.nodes) {
            CHECK(n.cache_hit);
            CHECK(n.cost_usd == 0);
            CHECK(n.saved_usd > 0);
        }
        CHECK(s.cost_usd == 0);
        CHECK(s.saved_usd == Approx(first_cost).epsilon(1e-12));
        REQUIRE(s.node_costs.size() == 3);
        CHECK(s.node_costs[0].cache_hits == 1);
        CHECK(s.node_costs[0].calls == 0);
        std::ostringstream out;
        s.print(out);
        INFO(out.str());
        CHECK(out.str().find("cache hits saved " + format_usd(first_cost)) != std::string::npos);
    }
}

TEST_CASE("every model of the shipped graphs has a price in the stdlib table") {
    size_t graphs = 0;
    for (const auto& f : std::filesystem::directory_iterator(std::string(MOA_SOURCE_DIR) + "/graphs")) {
        if (f.path().extension() != ".moa") continue;
        Diagnostics d;
        LoadOptions opts;
        opts.import_paths.push_back(std::string(MOA_SOURCE_DIR) + "/stdlib");
        opts.price_table = std::string(MOA_SOURCE_DIR) + "/stdlib/prices.moa";
        auto r = load_graph(f.path().string(), opts, d);
        INFO(f.path().string());
        REQUIRE(r.ok);
        for (const auto& a : r.graph.agents) {
            INFO(a.backend + "/" + a.model);
            CHECK(find_price(r.graph, a.backend, a.model));
        }
        ++graphs;
    }
    CHECK(graphs >= 5);
}

TEST_CASE("a result row with every node carries each node's cost, null for a model without a price") {
    GraphSpec g = test::load(kOnePriced);
    EngineOptions o;
    o.emit_all = true;
    Engine e(g, o);
    JobResult r = e.run_one("hello");
    REQUIRE(r.ok);
    InputLine in;
    in.line = 1;
    in.query = "hello";
    RowOptions ro;
    ro.emit_all = true;
    std::string row = format_row(r, in, ro);
    INFO(row);
    CHECK(row.find("\"node\":\"l.b\"") != std::string::npos);
    CHECK(row.find("\"cost_usd\":null") != std::string::npos);  // l.b: no price
    std::ostringstream a_cost;
    a_cost << "\"cost_usd\":";
    CHECK(row.find(a_cost.str() + "0.") != std::string::npos);  // l.a and final.a: priced
}
