// Budgets (--max-calls, --max-tokens, --max-cost): each attempt reserves its worst case
// where the scheduler starts it, so 32 calls in flight never overshoot together; once a
// budget is reached no call starts and the jobs that could not run name it. Calls are
// counted at the backend (the observer sees every attempt the scheduler hands to it).
#include <algorithm>
#include <atomic>
#include <sstream>

#include "engine_test_util.hpp"
#include "moa/cost.hpp"
#include "moa/error.hpp"

using namespace moa;

namespace {

struct AttemptCounter : CallObserver {
    std::atomic<int> started{0};
    int peak = 0;  // reactor thread only
    void attempt_started(const std::string&, int running, TimePoint) override {
        ++started;
        peak = std::max(peak, running);
    }
};

// Four proposers and an aggregator per query, 32 calls in flight at most.
std::string graph(const std::string& faults = "", const std::string& max_tokens = "max_tokens = 64") {
    return R"(
backend sim {
  kind = sim
  max_concurrent = 32
  latency { first_token = 5ms }
  retry { attempts = 4  base_delay = 1ms  max_delay = 2ms }
  )" + faults + R"(
}
template agg = "Responses:\n{{responses}}"
agent a { backend = sim  model = "m/a"  )" + max_tokens + R"( }
agent b { backend = sim  model = "m/b"  )" + max_tokens + R"( }
agent c { backend = sim  model = "m/c"  )" + max_tokens + R"( }
agent d { backend = sim  model = "m/d"  )" + max_tokens + R"( }
price all { model = "m/*"  input = 2  output = 8 }
layer propose = [a, b, c, d]
layer final = a { inputs = propose  prompt = agg }
output answer = final
)";
}

struct Outcome {
    RunStats stats;
    int attempts = 0, peak = 0;
    size_t failed_naming_budget = 0, failed = 0;
    std::string summary;
};

Outcome run(const std::string& src, BudgetLimits budget, int queries = 100, int max_jobs = 0) {
    AttemptCounter counter;
    EngineOptions o;
    o.observer = &counter;
    o.budget = budget;
    o.max_jobs = max_jobs;
    Outcome out;
    {
        Engine e(test::load(src), o);
        std::vector<std::string> qs;
        for (int i = 0; i < queries; ++i) qs.push_back("query number " + std::to_string(i));
        test::VectorSource source(qs);
        out.stats = e.run_batch(source, [&](JobResult&& r) {
            if (r.ok) return;
            ++out.failed;
            if (r.error.find("budget --max-") != std::string::npos) ++out.failed_naming_budget;
        });
        CHECK(e.budget_reached() == out.stats.budget_reached);
    }
    out.attempts = counter.started.load();
    out.peak = counter.peak;
    std::ostringstream s;
    out.stats.print(s);
    out.summary = s.str();
    return out;
}

}  // namespace

TEST_CASE("with 32 calls in flight and a budget of 100 calls, no more than 100 calls are ever made") {
    Outcome o = run(graph(), {.calls = 100}, 100, 16);  // 16 jobs: 64 proposer calls ready at once
    INFO(o.summary);
    CHECK(o.attempts == 100);  // exactly: the calls budget reserves one call per attempt
    CHECK(o.peak <= 32);
    CHECK(o.stats.budget_reached == "--max-calls 100");
    CHECK(o.stats.budget_stopped_jobs > 0);
    CHECK(o.stats.budget_refused_calls > 0);
    CHECK(o.failed_naming_budget == o.failed);  // every failure says which budget
    CHECK(o.summary.find("budget --max-calls 100 reached: ") != std::string::npos);
    // A batch starts no job after the budget is reached: fewer jobs than queries.
    CHECK(o.stats.jobs_ok + o.stats.jobs_failed < 100);
    CHECK(o.stats.jobs_ok + o.stats.budget_stopped_jobs == o.stats.jobs_ok + o.stats.jobs_failed);
}

TEST_CASE("retries count against --max-calls") {
    Outcome o = run(graph("faults { server_error = 0.5 }"), {.calls = 60});
    INFO(o.summary);
    CHECK(o.attempts <= 60);
    CHECK(o.stats.retries > 0);
    CHECK(o.stats.attempts == static_cast<size_t>(o.attempts));
    CHECK(o.stats.budget_reached == "--max-calls 60");
}

TEST_CASE("a token budget is never overshot by concurrent calls: each reserves prompt plus max_tokens") {
    Outcome o = run(graph(), {.tokens = 20'000});
    INFO(o.summary);
    CHECK(o.stats.tokens_in + o.stats.tokens_out <= 20'000);
    CHECK(o.stats.tokens_in + o.stats.tokens_out > 0);
    CHECK(o.stats.budget_reached == "--max-tokens 20000");
    CHECK(o.failed_naming_budget == o.failed);
    CHECK(o.summary.find("budget --max-tokens 20000 reached") != std::string::npos);
}

TEST_CASE("a cost budget is never overshot by concurrent calls") {
    Outcome o = run(graph(), {.cost_usd = 0.05});
    INFO(o.summary);
    CHECK(o.stats.cost_usd <= 0.05);
    CHECK(o.stats.cost_usd > 0);
    CHECK(o.stats.budget_reached == "--max-cost 0.05");
    CHECK(o.summary.find("budget --max-cost 0.05 reached") != std::string::npos);
}

TEST_CASE("a budget the run stays under stops nothing") {
    Outcome o = run(graph(), {.calls = 1000, .tokens = 10'000'000, .cost_usd = 100}, 20);
    CHECK(o.stats.budget_reached.empty());
    CHECK(o.stats.jobs_ok == 20);
    CHECK(o.attempts == 100);
    CHECK(o.summary.find("budget") == std::string::npos);
}

TEST_CASE("a cost budget with a model that has no price refuses to start, naming the model") {
    EngineOptions o;
    o.budget.cost_usd = 1;
    std::string src = graph();
    src.replace(src.find("price all"), std::string("price all").size(), "price some");
    src.replace(src.find("\"m/*\""), 5, "\"m/a\"");
    try {
        Engine e(test::load(src), o);
        FAIL("the engine started");
    } catch (const Error& e) {
        std::string what = e.what();
        CHECK(what.find("--max-cost") != std::string::npos);
        CHECK(what.find("'m/b' on backend 'sim'") != std::string::npos);
    }
}
