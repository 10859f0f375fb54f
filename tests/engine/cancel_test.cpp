// Engine::cancel(): what SIGINT/SIGTERM and a failed write use to end a batch whose
// calls would otherwise run on.
#include <thread>

#include "engine_test_util.hpp"

using namespace moa;

namespace {
struct Many : QuerySource {
    int left;
    explicit Many(int n) : left(n) {}
    std::optional<Query> next() override {
        if (left-- <= 0) return std::nullopt;
        return Query{std::to_string(left), "question " + std::to_string(left), ""};
    }
};
}  // namespace

TEST_CASE("Engine::cancel ends a batch of hour-long calls: every job gets its one result, as cancelled") {
    EngineOptions o;
    o.max_jobs = 8;
    Engine e(test::load(R"(import "moa.moa"
backend slow {
  kind = sim
  max_concurrent = 4
  latency {
    first_token = 1h
  }
}
agent a {
  backend = slow
  model = "a"
}
agent b {
  backend = slow
  model = "b"
}
layer p = [a, b]
layer f = a {
  inputs = p
  prompt = aggregate
}
output o = f
)"),
             o);
    // The feeder stops after the first 8 jobs, as the CLI's does once a signal came.
    Many source(8);
    std::thread canceller([&] {
        while (e.progress().calls_running < 4) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        e.cancel();
    });
    size_t results = 0, cancelled = 0;
    RunStats s = e.run_batch(source, [&](JobResult&& r) {
        ++results;
        if (!r.ok && r.error.find("cancelled") != std::string::npos) ++cancelled;
    });
    canceller.join();
    CHECK(results == 8);
    CHECK(cancelled == 8);
    CHECK(s.jobs_failed == 8);
    auto p = e.progress();
    CHECK(p.calls_in_flight == 0);
    CHECK(p.calls_running == 0);
}
