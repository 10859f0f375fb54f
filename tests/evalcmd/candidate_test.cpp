// Graph candidates: run on the queries over the shared cache, answers journaled so an
// eval resumes or grows without paying twice.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "moa/dsl.hpp"
#include "moa/eval.hpp"

namespace fs = std::filesystem;
using namespace moa;
using namespace moa::eval;

namespace {

fs::path temp_dir(const std::string& name) {
    const char* t = std::getenv("TMPDIR");
    fs::path dir = fs::path(t && *t ? t : "/tmp") / ("moa-evalcmd-" + std::to_string(::getpid())) / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

GraphSpec graph(const std::string& body) {
    Diagnostics d;
    auto r = load_graph_text("cand.moa", "backend sim { kind = sim }\n" + body, {}, d);
    REQUIRE(r.ok);
    return r.graph;
}

std::vector<EvalQuery> n_queries(int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += "{\"prompt\": \"question " + std::to_string(i) + "\"}\n";
    std::istringstream in(s);
    return read_queries(in, "q.jsonl");
}

EngineOptions cached(const fs::path& dir) {
    EngineOptions o;
    o.threads = 2;
    o.cache_mode = CacheMode::ReadWrite;
    o.cache_path = (dir / "cache.db").string();
    return o;
}

size_t lines(const fs::path& p) {
    std::ifstream in(p);
    size_t n = 0;
    for (std::string l; std::getline(in, l);) ++n;
    return n;
}

const char* kTwoLayers = "agent a { backend = sim  model = \"m/a\" }\nagent b { backend = sim  model = \"m/b\" }\n"
                         "template agg = \"{{responses}}\"\nlayer p = [a, b]\nlayer f = a { inputs = p  prompt = agg }\n"
                         "output o = f\n";

}  // namespace

TEST_CASE("a graph candidate answers every query with its calls, tokens and latency", "[evalcmd][candidate]") {
    fs::path dir = temp_dir("measure");
    Stop stop;
    auto qs = n_queries(5);
    CandidateRun run = run_candidate(graph(kTwoLayers), qs, cached(dir), (dir / "j.jsonl").string(), stop);
    REQUIRE(run.answers.size() == 5);
    for (const auto& a : run.answers) {
        CHECK(a.ok);
        CHECK(a.measured);
        CHECK(a.calls == 3);  // two proposers and the aggregator
        CHECK(a.tokens_out > 0);
        CHECK(a.latency_ms >= 0);
    }
    CHECK(run.answers[0].text != run.answers[1].text);
    CHECK(run.stats.cache_misses == 15);
    CHECK(run.reused == 0);
    CHECK(lines(dir / "j.jsonl") == 5);
}

TEST_CASE("a rerun takes every answer from the journal with its measured latency and starts no engine call",
          "[evalcmd][candidate]") {
    fs::path dir = temp_dir("rerun");
    Stop stop;
    auto qs = n_queries(4);
    std::string j = (dir / "j.jsonl").string();
    CandidateRun first = run_candidate(graph(kTwoLayers), qs, cached(dir), j, stop);
    CandidateRun again = run_candidate(graph(kTwoLayers), qs, cached(dir), j, stop);
    CHECK(again.reused == 4);
    CHECK(again.stats.calls == 0);
    CHECK(again.stats.cache_hits + again.stats.cache_misses == 0);
    for (size_t i = 0; i < qs.size(); ++i) {
        CHECK(again.answers[i].text == first.answers[i].text);
        CHECK(again.answers[i].latency_ms == Approx(first.answers[i].latency_ms));
        CHECK(again.answers[i].calls == first.answers[i].calls);
        CHECK(again.answers[i].tokens_in == first.answers[i].tokens_in);
    }
    // One more query: only it runs.
    auto more = n_queries(5);
    CandidateRun grown = run_candidate(graph(kTwoLayers), more, cached(dir), j, stop);
    CHECK(grown.reused == 4);
    CHECK(grown.stats.cache_misses == 3);
    CHECK(lines(dir / "j.jsonl") == 5);
}

TEST_CASE("a torn last journal row is not trusted and is cut before the next append", "[evalcmd][candidate]") {
    fs::path dir = temp_dir("torn");
    Stop stop;
    auto qs = n_queries(3);
    std::string j = (dir / "j.jsonl").string();
    run_candidate(graph(kTwoLayers), qs, cached(dir), j, stop);
    {  // a crash mid-write: half a row without its newline
        std::ifstream in(j);
        std::string all((std::istreambuf_iterator<char>(in)), {});
        size_t last = all.rfind('\n', all.size() - 2);
        std::ofstream(j, std::ios::trunc) << all.substr(0, last + 1 + (all.size() - last) / 2);
    }
    CandidateRun again = run_candidate(graph(kTwoLayers), qs, cached(dir), j, stop);
    CHECK(again.reused == 2);
    CHECK(again.stats.cache_hits == 3);  // its calls had finished: the cache answers them
    CHECK(again.stats.cache_misses == 0);
    CHECK(lines(j) == 3);
    Stop s2;
    CHECK(run_candidate(graph(kTwoLayers), qs, cached(dir), j, s2).reused == 3);
}

TEST_CASE("failed answers are not journaled, so a rerun retries them", "[evalcmd][candidate]") {
    fs::path dir = temp_dir("failed");
    Stop stop;
    auto qs = n_queries(2);
    std::string j = (dir / "j.jsonl").string();
    std::string broken = "backend bad { kind = sim  faults { server_error = 1 }  retry { attempts = 1 } }\n"
                         "agent x { backend = bad  model = \"x\" }\nlayer p = x\noutput o = p\n";
    CandidateRun run = run_candidate(graph(broken), qs, cached(dir), j, stop);
    CHECK(!run.answers[0].ok);
    CHECK_THAT(run.answers[0].text, Catch::Contains("p"));
    CHECK(lines(j) == 0);
    CHECK(run_candidate(graph(broken), qs, cached(dir), j, stop).reused == 0);
}

TEST_CASE("a stop before the run starts no job and says which queries were not run", "[evalcmd][candidate]") {
    fs::path dir = temp_dir("stopped");
    Stop stop;
    stop.soft();
    auto qs = n_queries(3);
    CandidateRun run = run_candidate(graph(kTwoLayers), qs, cached(dir), (dir / "j.jsonl").string(), stop);
    CHECK(run.not_run == 3);
    CHECK(run.stats.calls == 0);
    CHECK(!run.answers[2].ok);
}

TEST_CASE("an answer's cost is its calls' at the graph's prices, the same when the cache answers them",
          "[evalcmd][candidate]") {
    fs::path dir = temp_dir("cost");
    Stop stop;
    auto qs = n_queries(3);
    std::string priced = std::string(kTwoLayers) + "price pa {\n  model = \"m/a\"\n  input = 1.0\n  output = 2.0\n}\n" +
                         "price pb {\n  model = \"m/b\"\n  input = 3.0\n  output = 4.0\n}\n";
    CandidateRun cold = run_candidate(graph(priced), qs, cached(dir), "", stop);
    for (const auto& a : cold.answers) {
        REQUIRE(a.cost_known);
        CHECK(a.cost_usd > 0);
        // Bounds from the two prices: every token at the cheapest and at the dearest rate.
        CHECK(a.cost_usd >= (a.tokens_in * 1.0 + a.tokens_out * 2.0) / 1e6 - 1e-12);
        CHECK(a.cost_usd <= (a.tokens_in * 3.0 + a.tokens_out * 4.0) / 1e6 + 1e-12);
    }
    CandidateRun warm = run_candidate(graph(priced), qs, cached(dir), "", stop);  // no journal: the cache answers
    CHECK(warm.stats.cache_hits == 9);
    for (size_t i = 0; i < qs.size(); ++i) {
        CHECK(warm.answers[i].calls == 3);
        CHECK(warm.answers[i].cost_usd == Approx(cold.answers[i].cost_usd));
        CHECK(warm.answers[i].tokens_out == cold.answers[i].tokens_out);
    }
    // A model without a price: the cost is unknown, never 0.
    CandidateRun unpriced = run_candidate(graph(kTwoLayers), qs, cached(dir), "", stop);
    CHECK(!unpriced.answers[0].cost_known);
}

TEST_CASE("a call the cache answers counts with the time it took when it was made", "[evalcmd][candidate]") {
    fs::path dir = temp_dir("times");
    Stop stop;
    auto qs = n_queries(4);
    std::string slow = "backend s { kind = sim  latency { first_token = 30ms } }\nagent a { backend = s  model = \"m/a\" }\n"
                       "layer p = a\noutput o = p\n";
    CallTimes times((dir / "times.tsv").string());
    CandidateRun cold = run_candidate(graph(slow), qs, cached(dir), "", stop, &times);
    for (const auto& a : cold.answers) CHECK(a.latency_ms >= 20);
    CallTimes reloaded((dir / "times.tsv").string());  // from the file, as a later eval reads it
    CandidateRun warm = run_candidate(graph(slow), qs, cached(dir), "", stop, &reloaded);
    CHECK(warm.stats.cache_hits == 4);
    for (size_t i = 0; i < qs.size(); ++i) CHECK(warm.answers[i].latency_ms == Approx(cold.answers[i].latency_ms).margin(0.01));
    CandidateRun unknown = run_candidate(graph(slow), qs, cached(dir), "", stop);  // no durations recorded
    CHECK(unknown.answers[0].latency_ms < 0);
}
