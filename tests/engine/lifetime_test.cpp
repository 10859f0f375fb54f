// Engines destroyed in the windows where a thread may still be finishing work: right
// after run_one returns (calls no longer needed cancelled, the reactor still running),
// after cancel(), with a read-write cache whose thread has just committed, and after a
// batch whose source throws. Each round checks what was delivered and that the
// destruction completes; run under ASan/UBSan (build-asan) these are the teardown
// order's tests (Engine::Impl::shutdown in engine/runtime/engine.cpp).
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>

#include "engine_test_util.hpp"

using namespace moa;
using moa::test::node;

namespace {

constexpr int kRounds = 50;

// Fails loudly (instead of hanging the suite until ctest's timeout) when what it
// guards does not complete. 60 s means "never" here, not a performance bound.
class Watchdog {
public:
    explicit Watchdog(std::string what) : thread_([f = done_.get_future(), what = std::move(what)] {
        if (f.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
            std::fprintf(stderr, "lifetime_test: %s did not complete\n", what.c_str());
            std::abort();
        }
    }) {}
    ~Watchdog() {
        done_.set_value();
        thread_.join();
    }

private:
    std::promise<void> done_;
    std::thread thread_;
};

void destroy(std::unique_ptr<Engine>& e, int round) {
    Watchdog dog("the destruction of the engine of round " + std::to_string(round));
    e.reset();
}

EngineOptions events(int threads = 2) {
    EngineOptions o;
    o.threads = threads;
    o.emit_all = true;
    return o;
}

std::string temp_db(const std::string& name) {
    auto p = std::filesystem::temp_directory_path() / ("moa-lifetime-" + name + "-" + std::to_string(getpid()) + ".db");
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(p.string() + suffix);
    return p.string();
}

int64_t query_int(const std::string& db, const char* sql) {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(h, sql, -1, &st, nullptr) == SQLITE_OK);
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

struct Counted : QuerySource {
    int n, next_ = 0;
    std::string prefix;
    Counted(int count, std::string p) : n(count), prefix(std::move(p)) {}
    std::optional<Query> next() override {
        if (next_ >= n) return std::nullopt;
        ++next_;
        return Query{"", prefix + " " + std::to_string(next_), ""};
    }
};

}  // namespace

TEST_CASE("an engine destroyed right after run_one, its unneeded hour-long calls just cancelled, stops at once") {
    GraphSpec g = test::load(std::string(test::kSimPrelude) + R"(
backend slow { kind = sim  latency { first_token = 1h } }
agent s { backend = slow  model = "m/slow" }
layer p = [a, s * 3, b]
layer f = d { inputs = p  prompt = agg  fan_in = at_least(2) }
output o = f
)");
    for (int round = 0; round < kRounds; ++round) {
        INFO("round " << round);
        auto e = std::make_unique<Engine>(g, events());
        JobResult r = e->run_one("q" + std::to_string(round));
        REQUIRE(r.ok);
        CHECK(r.output() == node(r, "f.d").text);
        for (const char* s : {"p.s#1", "p.s#2", "p.s#3"}) CHECK(node(r, s).status == CallStatus::Cancelled);
        destroy(e, round);
    }
}

TEST_CASE("an engine cancelled in the middle of a job delivers the job's result and is then destroyed cleanly") {
    GraphSpec g = test::load(std::string(test::kSimPrelude) + R"(
backend slow { kind = sim  latency { first_token = 1h } }
agent s { backend = slow  model = "m/slow" }
layer p = [a, s]
layer f = d { inputs = p  prompt = agg }
output o = f
)");
    for (int round = 0; round < kRounds; ++round) {
        INFO("round " << round);
        auto e = std::make_unique<Engine>(g, events());
        Engine* raw = e.get();
        // The quick proposer's answer is the moment: the slow one is in flight.
        e->on_event([raw](const NodeEvent& ev) {
            if (ev.node == "p.a") raw->cancel();
        });
        JobResult r = e->run_one("q" + std::to_string(round));
        CHECK_FALSE(r.ok);
        CHECK(node(r, "p.a").status == CallStatus::Ok);
        CHECK(node(r, "p.s").status == CallStatus::Cancelled);
        CHECK(node(r, "f.d").status == CallStatus::Error);
        CHECK(e->progress().calls_in_flight == 0);
        destroy(e, round);
    }
}

TEST_CASE("an engine cancelled before it ran anything fails its job as cancelled and is destroyed cleanly") {
    GraphSpec g = test::load(std::string(test::kSimPrelude) + "layer p = [a, b]\nlayer f = d { inputs = p  prompt = agg }\noutput o = f\n");
    for (int round = 0; round < kRounds; ++round) {
        INFO("round " << round);
        auto e = std::make_unique<Engine>(g, events());
        e->cancel();
        JobResult r = e->run_one("q");
        CHECK_FALSE(r.ok);
        CHECK(node(r, "p.a").status == CallStatus::Cancelled);
        CHECK(r.error.find("cancelled") != std::string::npos);
        destroy(e, round);
    }
}

TEST_CASE("an engine with a read-write cache, destroyed right after its batch, has stored every answer and its counters") {
    std::string db = temp_db("rw");
    GraphSpec g = test::load(std::string(test::kSimPrelude) +
                             "layer p = [a, b, c]\nlayer f = d { inputs = p  prompt = agg }\noutput o = f\n");
    const int jobs = 4, calls = 4 * jobs;  // each job: three proposers and an aggregator
    for (int round = 0; round < kRounds; ++round) {
        INFO("round " << round);
        EngineOptions o = events(4);
        o.cache_mode = CacheMode::ReadWrite;
        o.cache_path = db;
        auto e = std::make_unique<Engine>(g, o);
        Counted source(jobs, "round " + std::to_string(round));  // new questions: every call misses
        size_t ok = 0;
        RunStats s = e->run_batch(source, [&](JobResult&& r) { ok += r.ok; });
        CHECK(ok == jobs);
        CHECK(s.cache_misses == calls);
        destroy(e, round);
        // The cache thread committed every answer and flushed its counters on the way out.
        CHECK(query_int(db, "SELECT count(*) FROM responses") == calls * (round + 1));
        CHECK(query_int(db, "SELECT value FROM counters WHERE name = 'misses'") == calls * (round + 1));
    }
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db + suffix);
}

TEST_CASE("a batch whose source throws returns only after its jobs in flight have finished") {
    // run_batch's jobs call back into its own frame when they finish: an exception that
    // left it with jobs in flight had them write into a dead stack frame.
    GraphSpec g = test::load(std::string(test::kSimPrelude) + R"(
backend slowish { kind = sim  latency { first_token = 50ms } }
agent s { backend = slowish  model = "m/s" }
layer p = [a, s]
layer f = d { inputs = p  prompt = agg }
output o = f
)");
    struct Throwing : QuerySource {
        int given = 0;
        std::optional<Query> next() override {
            if (given == 4) throw std::runtime_error("input went away");
            ++given;
            return Query{"", "q" + std::to_string(given), ""};
        }
    };
    for (int round = 0; round < 10; ++round) {
        INFO("round " << round);
        auto e = std::make_unique<Engine>(g, events());
        Throwing source;
        size_t delivered = 0;
        CHECK_THROWS_WITH(e->run_batch(source, [&](JobResult&&) { ++delivered; }), "input went away");
        Engine::Progress p = e->progress();
        CHECK(p.started == 4);
        CHECK(p.done == 4);  // not merely started: finished before the exception arrived
        CHECK(p.calls_in_flight == 0);
        destroy(e, round);
    }
}

TEST_CASE("a batch whose sink throws returns only after its other jobs have finished") {
    GraphSpec g = test::load(std::string(test::kSimPrelude) + R"(
backend slowish { kind = sim  latency { first_token = 20ms  jitter = 1 } }
agent s { backend = slowish  model = "m/s" }
layer p = [a, s]
layer f = d { inputs = p  prompt = agg }
output o = f
)");
    auto e = std::make_unique<Engine>(g, events());
    Counted source(16, "q");
    size_t delivered = 0;
    CHECK_THROWS_WITH(e->run_batch(source,
                                   [&](JobResult&&) {
                                       ++delivered;
                                       throw std::runtime_error("disk full");
                                   }),
                      "disk full");
    CHECK(delivered == 1);
    Engine::Progress p = e->progress();
    CHECK(p.started >= 1);
    CHECK(p.done == p.started);
    destroy(e, 0);
}
