// CallObserver::call_event: every call reports its life in order — queued, started,
// first token, attempt ended, retry wait, queued again (on a fallback's backend too) —
// and ends with exactly one Done; the counts are the run's.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <mutex>

#include "engine_test_util.hpp"

namespace {

using K = moa::CallEvent::Kind;

struct Recorder : moa::CallObserver {
    struct Ev {
        K kind;
        moa::CallEvent::TimePoint at, made;
        int attempt;
        std::string node, agent, backend, job;
        bool cache_hit;
        moa::CallStatus status;
    };
    std::mutex mu;
    std::map<uint64_t, std::vector<Ev>> calls;
    void call_event(const moa::CallEvent& e) override {
        std::lock_guard lock(mu);
        calls[e.call].push_back({e.kind, e.at, e.made, e.attempt, std::string(e.node), std::string(e.agent),
                                 std::string(e.backend), std::string(e.job), e.cache_hit, e.status});
    }
    bool wants_call_events() const override { return true; }
};

// What may follow each event of a call (Done ends it).
bool may_follow(K prev, K next) {
    switch (prev) {
        case K::Queued: return next == K::Started || next == K::Done;
        case K::Started: return next == K::FirstToken || next == K::AttemptEnded;
        case K::FirstToken: return next == K::AttemptEnded;
        case K::AttemptEnded: return next == K::RetryWait || next == K::Queued || next == K::Done;
        case K::RetryWait: return next == K::Queued || next == K::Done;
        case K::Done: return false;
    }
    return false;
}

const char* kFlaky = R"(
backend flaky { kind = sim  max_concurrent = 2  faults { server_error = 0.4 }
                retry { attempts = 2  base_delay = 1ms  max_delay = 2ms } }
backend good { kind = sim  latency { first_token = 2ms } }
template agg = "{{responses}}"
agent a { backend = flaky  model = "m-a"  fallback = f }
agent b { backend = flaky  model = "m-b"  fallback = f }
agent c { backend = flaky  model = "m-c"  fallback = f }
agent f { backend = good  model = "m-f" }
layer p = [a, b, c]
layer z = a { inputs = p  prompt = agg }
output o = z
)";

}  // namespace

TEST_CASE("every call reports its phases in order and ends with one Done; the events count the run's calls and attempts") {
    Recorder rec;
    moa::EngineOptions o;
    o.observer = &rec;
    moa::Engine engine(moa::test::load(kFlaky), o);
    std::vector<std::string> prompts;
    for (int i = 0; i < 12; ++i) prompts.push_back("question " + std::to_string(i));
    moa::test::VectorSource src(prompts);
    size_t jobs = 0;
    moa::RunStats stats = engine.run_batch(src, [&](moa::JobResult&&) { ++jobs; });
    REQUIRE(jobs == 12);
    CHECK(rec.calls.size() == 12 * 4);
    size_t started = 0, retry_waits = 0, fell_back = 0;
    for (const auto& [id, evs] : rec.calls) {
        INFO("call " << id << " of node " << evs.front().node << " in job " << evs.front().job);
        CHECK(id > 0);
        REQUIRE(!evs.empty());
        CHECK(evs.front().kind == K::Queued);
        CHECK(evs.back().kind == K::Done);
        int attempt = 0;
        for (size_t i = 0; i < evs.size(); ++i) {
            const auto& e = evs[i];
            CHECK(e.made <= e.at);
            if (i == 0) continue;
            CHECK(may_follow(evs[i - 1].kind, e.kind));
            // Time never runs back, but a first token is reported with its attempt's end.
            if (e.kind != K::FirstToken) CHECK(evs[i - 1].at <= e.at);
            if (e.kind == K::Started) {
                CHECK(e.attempt == ++attempt);  // counts on across a fallback
                ++started;
            }
            if (e.kind == K::RetryWait) ++retry_waits;
            if (e.kind == K::Queued && evs[i - 1].kind == K::AttemptEnded) {  // the fallback took over
                CHECK(e.agent == "f");
                CHECK(e.backend == "good");
                ++fell_back;
            }
        }
    }
    CHECK(started == stats.attempts);
    CHECK(retry_waits == stats.retries);
    CHECK(fell_back == stats.fallbacks);
    CHECK(stats.fallbacks > 0);  // the graph's faults were met
    CHECK(stats.retries > 0);
}

TEST_CASE("a call answered by the cache reports a single Done marked as a cache hit") {
    auto db = std::filesystem::temp_directory_path() / "moa-call-events-cache.db";
    std::filesystem::remove(db);
    const char* graph = R"(
backend sim { kind = sim }
agent a { backend = sim  model = "m-a" }
layer l = a
output o = l
)";
    for (int round = 0; round < 2; ++round) {
        Recorder rec;
        moa::EngineOptions o;
        o.observer = &rec;
        o.cache_mode = moa::CacheMode::ReadWrite;
        o.cache_path = db.string();
        moa::Engine engine(moa::test::load(graph), o);
        REQUIRE(engine.run_one("q").ok);
        REQUIRE(rec.calls.size() == 1);
        const auto& evs = rec.calls.begin()->second;
        INFO("round " << round);
        if (round == 0) {
            CHECK(evs.size() >= 4);  // queued, started, (first token,) ended, done
            CHECK_FALSE(evs.back().cache_hit);
        } else {
            REQUIRE(evs.size() == 1);
            CHECK(evs.front().kind == K::Done);
            CHECK(evs.front().cache_hit);
            CHECK(evs.front().node == "l.a");
        }
    }
    std::filesystem::remove(db);
}
