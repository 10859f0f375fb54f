// The scheduler on its own, with a fake backend and no sockets (ninja's dry-run
// habit): the test decides when each attempt ends and how. The reactor is real; the
// test runs code on its thread with on_reactor() and waits for attempts to start with
// FakeBackend::wait_started(), so nothing depends on timing.
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <type_traits>

#include "backends/backend.hpp"
#include "engine_test_util.hpp"
#include "runtime/plan.hpp"
#include "runtime/scheduler.hpp"

using namespace moa;

namespace {

// Runs `fn` on the reactor thread and returns what it returned, once it ran. (Catch's
// assertions stay on the test thread: they are not thread-safe.)
template <typename F>
auto on_reactor(Reactor& r, F fn) -> decltype(fn()) {
    std::promise<decltype(fn())> ran;
    r.post([&] {
        if constexpr (std::is_void_v<decltype(fn())>) {
            fn();
            ran.set_value();
        } else {
            ran.set_value(fn());
        }
    });
    return ran.get_future().get();
}

class FakeBackend : public Backend {
public:
    struct Attempt {
        CallPtr call;
        std::string backend, agent;
        AttemptDone done;
        bool ended = false;
    };

    void prepare(Call&) override {
        std::lock_guard lock(mu_);
        ++prepared;
    }
    void start(const CallPtr& c, AttemptDone done) override {
        std::lock_guard lock(mu_);
        int& n = running_[c->backend->name];
        ++n;
        if (c->backend->max_concurrent > 0 && n > c->backend->max_concurrent) ++over_limit;
        attempts_.push_back({c, c->backend->name, c->agent->name, std::move(done)});
        cv_.notify_all();
    }
    void cancel(const CallPtr& c) override {
        std::lock_guard lock(mu_);
        for (auto& a : attempts_)
            if (a.call == c && !a.ended) end(a);
        cancelled.push_back(c.get());
    }

    // Test thread: waits until `n` attempts have started (false after a minute: a hang).
    bool wait_started(size_t n) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, std::chrono::minutes(1), [&] { return attempts_.size() >= n; });
    }
    Attempt attempt(size_t i) {
        std::lock_guard lock(mu_);
        return attempts_.at(i);
    }
    size_t started() {
        std::lock_guard lock(mu_);
        return attempts_.size();
    }
    // Ends attempt `i` with `r`, on the reactor thread (where backends complete);
    // false if that attempt had already ended.
    bool finish(Reactor& reactor, size_t i, Reply r) {
        return on_reactor(reactor, [&] {
            AttemptDone done;
            {
                std::lock_guard lock(mu_);
                Attempt& a = attempts_.at(i);
                if (a.ended) return false;
                done = std::move(a.done);
                end(a);
            }
            done(std::move(r));  // may start the next attempt: not under the lock
            return true;
        });
    }

    int prepared = 0;
    int over_limit = 0;  // starts beyond the backend's max_concurrent
    std::vector<const Call*> cancelled;

private:
    void end(Attempt& a) {
        a.ended = true;
        a.done = nullptr;
        --running_[a.backend];
    }
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Attempt> attempts_;
    std::map<std::string, int> running_;
};

Reply ok(const std::string& text = "fine") {
    Reply r;
    r.text = text;
    return r;
}

Reply http_error(int status, bool transient, int64_t retry_after_ms = -1) {
    Reply r;
    r.status = CallStatus::Error;
    r.error_kind = ErrorKind::Http;
    r.http_status = status;
    r.transient = transient;
    r.retry_after_ms = retry_after_ms;
    r.text = "http " + std::to_string(status) + ": scripted";
    return r;
}

struct Notices : CallObserver {
    std::vector<Notice> seen;  // reactor thread only
    void notice(const Notice& n) override { seen.push_back(n); }
};

// Every call's completions, by call.
struct Completions {
    std::mutex mu;
    std::map<const Call*, std::vector<Reply>> by_call;
    size_t count(const CallPtr& c) {
        std::lock_guard lock(mu);
        return by_call[c.get()].size();
    }
    Reply only(const CallPtr& c) {
        std::lock_guard lock(mu);
        auto& v = by_call[c.get()];
        REQUIRE(v.size() == 1);
        return v.front();
    }
};

const char* kGraph = R"(
backend one { kind = sim  max_concurrent = 1  retry { attempts = 3  base_delay = 1ms  max_delay = 1ms } }
backend two { kind = sim  max_concurrent = 2  retry { attempts = 3  base_delay = 1ms  max_delay = 1ms } }
template agg = "{{responses}}"
agent a { backend = one  model = "a"  fallback = f }
agent b { backend = two  model = "b" }
agent f { backend = two  model = "f" }
layer l = [a, b]
layer m = b { inputs = l  prompt = agg }
output o = m
)";

// A scheduler over kGraph whose every backend is one FakeBackend.
struct Rig {
    FakeBackend fake;
    Notices notices;
    Completions completions;
    GraphSpec graph = test::load(kGraph);
    Reactor reactor;
    Scheduler sched{reactor, graph, 0, [this](const BackendSpec&) -> Backend& { return fake; }};
    Rig() { sched.set_observer(&notices); }
    ~Rig() { reactor.stop(); }  // before the scheduler its callbacks use

    CallPtr call(const std::string& agent, uint64_t priority = 0) {
        auto c = std::make_shared<Call>();
        c->agent = graph.agent(agent);
        c->backend = graph.backend(c->agent->backend);
        c->messages = {{Role::User, "q"}};
        c->priority = priority;
        Completions* done = &completions;
        c->done = [done](Call& call, Reply&& r) {
            std::lock_guard lock(done->mu);
            done->by_call[&call].push_back(std::move(r));
        };
        return c;
    }
    CallPtr submit(const std::string& agent, uint64_t priority = 0) {
        CallPtr c = call(agent, priority);
        sched.submit(c);
        return c;
    }
    Call::State state(const CallPtr& c) {
        Call::State s{};
        on_reactor(reactor, [&] { s = c->state; });
        return s;
    }
};

}  // namespace

TEST_CASE("queued calls start in priority order and a backend never runs more than max_concurrent") {
    Rig rig;
    CallPtr first = rig.submit("a", 0);
    REQUIRE(rig.fake.wait_started(1));
    CallPtr late = rig.submit("a", 3), early = rig.submit("a", 1), middle = rig.submit("a", 2);
    CHECK(rig.state(middle) == Call::State::Queued);  // after the three submits ran
    CHECK(rig.fake.started() == 1);
    for (size_t i = 0; i < 4; ++i) {
        REQUIRE(rig.fake.wait_started(i + 1));
        CHECK(rig.fake.finish(rig.reactor, i, ok()));
    }
    std::vector<CallPtr> order;
    for (size_t i = 0; i < 4; ++i) order.push_back(rig.fake.attempt(i).call);
    CHECK(order == std::vector<CallPtr>{first, early, middle, late});
    // Six calls on a backend of two: two at a time.
    std::vector<CallPtr> wide;
    for (int i = 0; i < 6; ++i) wide.push_back(rig.submit("b", static_cast<uint64_t>(i)));
    for (size_t i = 4; i < 10; ++i) {
        REQUIRE(rig.fake.wait_started(std::min<size_t>(i + 2, 10)));
        CHECK(rig.fake.finish(rig.reactor, i, ok()));
    }
    CHECK(rig.fake.over_limit == 0);
    for (const auto& c : order) CHECK(rig.completions.only(c).status == CallStatus::Ok);
    for (const auto& c : wide) CHECK(rig.completions.only(c).status == CallStatus::Ok);
}

TEST_CASE("transient errors are retried up to the policy's attempts and permanent ones are not") {
    Rig rig;
    CallPtr c = rig.submit("b");
    for (size_t i = 0; i < 3; ++i) {
        REQUIRE(rig.fake.wait_started(i + 1));
        CHECK(rig.fake.finish(rig.reactor, i, http_error(503, true)));
    }
    Reply r = rig.completions.only(c);
    CHECK(r.status == CallStatus::Error);
    CHECK(to_string(r.error_kind, r.http_status) == "http 503");
    CHECK(r.text == "http 503: scripted (after 3 attempts)");
    CHECK(c->attempts == 3);

    CallPtr bad = rig.submit("b");
    REQUIRE(rig.fake.wait_started(4));
    CHECK(rig.fake.finish(rig.reactor, 3, http_error(400, false)));
    Reply r2 = rig.completions.only(bad);
    CHECK(r2.text == "http 400: scripted");
    CHECK(bad->attempts == 1);
    CHECK(rig.state(bad) == Call::State::Done);
    CHECK(rig.fake.started() == 4);  // no retry of the 400
}

TEST_CASE("a 429 with Retry-After holds the whole backend and a long wait is a notice, not a print") {
    Rig rig;
    CallPtr c = rig.submit("b");
    REQUIRE(rig.fake.wait_started(1));
    CHECK(rig.fake.finish(rig.reactor, 0, http_error(429, true, 30'000)));
    CHECK(rig.state(c) == Call::State::Backoff);
    CallPtr other = rig.submit("b");  // same backend, free slots, but the backend cools down
    CHECK(rig.state(other) == Call::State::Queued);
    CHECK(rig.fake.started() == 1);
    std::vector<Notice> seen = on_reactor(rig.reactor, [&] { return rig.notices.seen; });
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].kind == Notice::Kind::RateLimitCooldown);
    CHECK(seen[0].backend == "two");
    CHECK(seen[0].wait_ms == 30'000);
    CHECK(seen[0].text == "backend 'two' is rate limited: waiting 30 s (the server's Retry-After)");
    // A short Retry-After is obeyed without a notice: the call is retried after it.
    rig.sched.cancel(c);
    rig.sched.cancel(other);
    CallPtr quick = rig.submit("a");
    REQUIRE(rig.fake.wait_started(2));
    CHECK(rig.fake.finish(rig.reactor, 1, http_error(429, true, 5)));
    REQUIRE(rig.fake.wait_started(3));
    CHECK(rig.fake.attempt(2).call == quick);
    CHECK(rig.fake.finish(rig.reactor, 2, ok()));
    CHECK(rig.completions.only(quick).status == CallStatus::Ok);
    CHECK(on_reactor(rig.reactor, [&] { return rig.notices.seen.size(); }) == 1);
}

TEST_CASE("cancelling a queued, backing-off or running call completes it once, as cancelled") {
    Rig rig;
    CallPtr running = rig.submit("a", 0);
    REQUIRE(rig.fake.wait_started(1));
    CallPtr queued = rig.submit("a", 1);
    CHECK(rig.state(queued) == Call::State::Queued);
    rig.sched.cancel(queued);
    CHECK(rig.state(queued) == Call::State::Done);
    CHECK(rig.completions.only(queued).status == CallStatus::Cancelled);

    rig.sched.cancel(running);
    CHECK(rig.state(running) == Call::State::Done);
    Reply r = rig.completions.only(running);
    CHECK(r.status == CallStatus::Cancelled);
    CHECK(to_string(r.error_kind) == "cancelled");
    CHECK(on_reactor(rig.reactor, [&] { return rig.fake.cancelled; }) == std::vector<const Call*>{running.get()});

    CallPtr backing_off = rig.submit("b");
    REQUIRE(rig.fake.wait_started(2));
    CHECK(rig.fake.finish(rig.reactor, 1, http_error(429, true, 30'000)));
    CHECK(rig.state(backing_off) == Call::State::Backoff);
    rig.sched.cancel(backing_off);
    CHECK(rig.state(backing_off) == Call::State::Done);
    CHECK(rig.completions.only(backing_off).status == CallStatus::Cancelled);
    // Cancelling again, or a call already done, changes nothing.
    rig.sched.cancel(backing_off);
    rig.sched.cancel(running);
    on_reactor(rig.reactor, [] {});
    for (const auto& c : {running, queued, backing_off}) CHECK(rig.completions.count(c) == 1);
    CHECK(rig.fake.started() == 2);  // the queued call never started
    // Only a running attempt is the backend's to cancel.
    CHECK(on_reactor(rig.reactor, [&] { return rig.fake.cancelled.size(); }) == 1);
}

TEST_CASE("the fallback agent takes the call after the agent's retries are exhausted") {
    Rig rig;
    CallPtr c = rig.submit("a");
    for (size_t i = 0; i < 3; ++i) {
        REQUIRE(rig.fake.wait_started(i + 1));
        CHECK(rig.fake.attempt(i).agent == "a");
        CHECK(rig.fake.finish(rig.reactor, i, http_error(503, true)));
    }
    REQUIRE(rig.fake.wait_started(4));
    FakeBackend::Attempt fb = rig.fake.attempt(3);
    CHECK(fb.call == c);
    CHECK(fb.agent == "f");
    CHECK(fb.backend == "two");
    CHECK(on_reactor(rig.reactor, [&] { return rig.fake.prepared; }) == 1);  // the new backend prepared the call
    CHECK(rig.fake.finish(rig.reactor, 3, ok("from f")));
    Reply r = rig.completions.only(c);
    CHECK(r.status == CallStatus::Ok);
    CHECK(r.text == "from f");
    CHECK(c->fallback_from == "a: http 503: scripted (after 3 attempts)");
    CHECK(c->attempts_before_fallback == 3);
    CHECK(c->attempts == 1);
}

TEST_CASE("once a batch's input is exhausted, queued calls with the longest chain still ahead start first") {
    Rig rig;
    CallPtr first = rig.submit("a", 0);  // holds backend one's single slot
    REQUIRE(rig.fake.wait_started(1));
    auto with_height = [&](uint64_t job, uint32_t height) {
        CallPtr c = rig.call("a", job);
        c->height = height;
        rig.sched.submit(c);
        return c;
    };
    // Earlier jobs first while jobs may still start...
    CallPtr j1_last = with_height(1, 1), j2_first = with_height(2, 3);
    REQUIRE(rig.state(j2_first) == Call::State::Queued);
    REQUIRE(rig.fake.finish(rig.reactor, 0, ok()));
    REQUIRE(rig.fake.wait_started(2));
    CHECK(rig.fake.attempt(1).call == j1_last);
    // ...then, with no job left to start, the longest remaining chain first.
    CallPtr j3_mid = with_height(3, 2), j4_first = with_height(4, 3);
    rig.sched.order_by_height();
    CallPtr j5_first = with_height(5, 3);
    REQUIRE(rig.state(j5_first) == Call::State::Queued);
    for (size_t i = 1; i < 5; ++i) {
        REQUIRE(rig.fake.finish(rig.reactor, i, ok()));
        REQUIRE(rig.fake.wait_started(i + 2));
    }
    REQUIRE(rig.fake.finish(rig.reactor, 5, ok()));
    std::vector<CallPtr> order;
    for (size_t i = 2; i < 6; ++i) order.push_back(rig.fake.attempt(i).call);
    CHECK(order == std::vector<CallPtr>{j2_first, j4_first, j5_first, j3_mid});
    for (const auto& c : {first, j1_last, j2_first, j3_mid, j4_first, j5_first}) CHECK(rig.completions.only(c).status == CallStatus::Ok);
}

TEST_CASE("a node's height counts the calls on the longest chain from it to the end of the graph") {
    GraphSpec g = test::load(R"(
backend b { kind = sim }
template agg = "{{responses}}"
agent x { backend = b  model = "x" }
agent y { backend = b  model = "y" }
layer p = [x, y]
layer q = x { inputs = p  prompt = agg }
layer r = x { inputs = [p, q]  prompt = agg }
layer s = x { inputs = p  prompt = agg }
output o = r
output t = s
)");
    Plan plan = make_plan(g);
    std::map<int, uint32_t> by_layer;
    for (const auto& n : plan.nodes) by_layer[n.layer] = std::max(by_layer[n.layer], n.height);
    CHECK(by_layer == std::map<int, uint32_t>{{0, 3}, {1, 2}, {2, 1}, {3, 1}});
}
