// The I/O reactor on its own: posts, timers, cancel, stop and an installed Poller.
// Deterministic: the test synchronises with promises; time is only checked as "a
// timer never fires before its time".
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/reactor.hpp"

using namespace moa;
using namespace std::chrono_literals;

namespace {

// Runs `fn` on the reactor thread and returns what it returns.
template <typename Fn>
auto on_reactor(Reactor& r, Fn fn) {
    std::promise<decltype(fn())> p;
    auto f = p.get_future();
    r.post([&] { p.set_value(fn()); });
    return f.get();
}

// Collects what timers saw; used on the reactor thread only, handed over by a promise.
struct Log {
    std::vector<std::string> fired;
    bool early = false;       // a timer ran before its time
    bool off_thread = false;  // a callback ran on another thread
    std::promise<void> done;
};

}  // namespace

TEST_CASE("reactor: posts run on the reactor thread, in the order they were posted") {
    Reactor r;
    CHECK_FALSE(r.on_reactor_thread());
    std::vector<int> seen;  // reactor thread only until `done` is set
    bool off_thread = false;
    std::promise<void> done;
    std::thread other([&] {  // posting from another thread works the same
        for (int i = 0; i < 500; ++i)
            r.post([&, i] {
                off_thread |= !r.on_reactor_thread();
                seen.push_back(i);
            });
        r.post([&] { done.set_value(); });
    });
    other.join();
    done.get_future().get();
    CHECK_FALSE(off_thread);
    REQUIRE(seen.size() == 500);
    for (int i = 0; i < 500; ++i) REQUIRE(seen[static_cast<size_t>(i)] == i);
}

TEST_CASE("reactor: timers fire in time order, equal times in the order they were armed, never early") {
    Reactor r;
    Log log;
    r.post([&] {
        TimePoint t0 = Clock::now();
        auto arm = [&](const char* name, std::chrono::milliseconds ms) {
            TimePoint when = t0 + ms;
            r.at(when, [&, name, when] {
                log.early |= Clock::now() < when;
                log.off_thread |= !r.on_reactor_thread();
                log.fired.push_back(name);
                if (log.fired.size() == 7) log.done.set_value();
            });
        };
        arm("c", 30ms);
        arm("a1", 10ms);
        arm("b1", 20ms);
        arm("a2", 10ms);
        arm("b2", 20ms);
        arm("a3", 10ms);
        arm("d", 33ms);  // just after c: woken for c, the reactor must not run d yet
    });
    log.done.get_future().get();
    CHECK(log.fired == std::vector<std::string>{"a1", "a2", "a3", "b1", "b2", "c", "d"});
    CHECK_FALSE(log.early);
    CHECK_FALSE(log.off_thread);
    CHECK(on_reactor(r, [&] { return r.timers(); }) == 0);
}

TEST_CASE("reactor: a cancelled timer never fires; cancelling a fired or unknown timer is harmless") {
    Reactor r;
    Log log;
    r.post([&] {
        TimePoint t0 = Clock::now();
        uint64_t doomed = r.at(t0 + 10ms, [&] { log.fired.push_back("doomed"); });
        uint64_t first = r.at(t0 + 5ms, [&] { log.fired.push_back("first"); });
        r.at(t0 + 20ms, [&, first] {
            r.cancel(first);  // already fired
            log.fired.push_back("last");
            // A timer armed after the cancels still fires: they broke nothing.
            r.at(Clock::now(), [&] {
                log.fired.push_back("after");
                log.done.set_value();
            });
        });
        r.cancel(doomed);
        r.cancel(doomed);  // twice
        r.cancel(0);       // never armed
        r.cancel(9999);
        if (r.timers() != 2) log.fired.push_back("timers() counted a cancelled timer");
    });
    log.done.get_future().get();
    CHECK(log.fired == std::vector<std::string>{"first", "last", "after"});
    CHECK(on_reactor(r, [&] { return r.timers(); }) == 0);
}

TEST_CASE("reactor: a timer armed from inside a timer fires, due at once or later") {
    Reactor r;
    Log log;
    r.post([&] {
        r.at(Clock::now(), [&] {
            log.fired.push_back("outer");
            TimePoint later = Clock::now() + 15ms;
            r.at(later, [&, later] {
                log.early |= Clock::now() < later;
                log.fired.push_back("later");
                log.done.set_value();
            });
            r.at(Clock::now(), [&] { log.fired.push_back("now"); });
        });
    });
    log.done.get_future().get();
    CHECK(log.fired == std::vector<std::string>{"outer", "now", "later"});
    CHECK_FALSE(log.early);
}

TEST_CASE("reactor: stop() drops pending posts and timers without running them, and is idempotent") {
    auto witness = std::make_shared<int>(0);  // captured by the dropped work: freed, not leaked
    bool ran_post = false, ran_timer = false, ran_after_stop = false;
    {
        Reactor r;
        std::promise<void> started, gate;
        auto gate_f = gate.get_future();
        r.post([&, witness] { r.at(Clock::now() + 1h, [&, witness] { ran_timer = true; }); });
        r.post([&] {
            started.set_value();
            gate_f.wait();
            r.stop();  // from the reactor thread: no join, the loop ends after this post
        });
        started.get_future().wait();
        r.post([&, witness] { ran_post = true; });  // queued behind the running post
        gate.set_value();
        r.stop();  // joins
        r.stop();
        r.post([&, witness] { ran_after_stop = true; });
        CHECK_FALSE(r.on_reactor_thread());
    }  // ~Reactor stops again
    CHECK_FALSE(ran_post);
    CHECK_FALSE(ran_timer);
    CHECK_FALSE(ran_after_stop);
    CHECK(witness.use_count() == 1);
}

TEST_CASE("reactor: an idle reactor stops at once from another thread") {
    Reactor r;
    CHECK(on_reactor(r, [] { return 42; }) == 42);
    r.stop();
    r.stop();
}

namespace {

// A Poller that records how the reactor uses it. wait() sleeps until wakeup() or the
// timeout, as curl_multi_poll does.
class FakePoller : public Poller {
public:
    explicit FakePoller(Reactor& r) : r_(r) {}
    void wait(int timeout_ms) override {
        std::unique_lock lock(mu_);
        ++waits;
        off_thread |= !r_.on_reactor_thread();
        timeouts.push_back(timeout_ms);
        waiting = timeout_ms > 0;  // a look (timeout 0) is not a sleep
        cv_.notify_all();
        cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return woken; });
        woken = false;
        waiting = false;
    }
    void wakeup() override {
        std::lock_guard lock(mu_);
        ++wakeups;
        woken = true;
        cv_.notify_all();
    }
    void process() override {
        std::lock_guard lock(mu_);
        ++processed;
        off_thread |= !r_.on_reactor_thread();
    }
    // Blocks until the reactor sleeps in wait().
    void until_waiting() {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return waiting; });
    }

    std::mutex mu_;
    int waits = 0, wakeups = 0, processed = 0;
    std::vector<int> timeouts;
    bool off_thread = false, waiting = false, woken = false;

private:
    Reactor& r_;
    std::condition_variable cv_;
};

// Installs a new FakePoller in `r` and returns once the reactor sleeps in it. The
// caller declares the pointer before the reactor: the poller must outlive it (the
// reactor's stop() wakes it).
std::unique_ptr<FakePoller> install_poller(Reactor& r) {
    auto poller = std::make_unique<FakePoller>(r);
    on_reactor(r, [&] {
        r.set_poller(poller.get());
        return 0;
    });
    poller->until_waiting();
    return poller;
}

}  // namespace

TEST_CASE("reactor: with a Poller installed it sleeps in wait(), a post wakes it, process() runs after each wait") {
    std::unique_ptr<FakePoller> poller;  // outlives the reactor (its stop() wakes the poller)
    Reactor r;
    poller = install_poller(r);
    int wakeups_before;
    {
        std::lock_guard lock(poller->mu_);
        wakeups_before = poller->wakeups;
    }
    // Posted while the reactor sleeps in the poller: only the poller's wakeup() can
    // wake it (a 1 s timeout would too, later: the count tells which one did).
    CHECK(on_reactor(r, [] { return 7; }) == 7);
    {
        std::lock_guard lock(poller->mu_);
        CHECK(poller->wakeups > wakeups_before);
        CHECK(poller->processed >= poller->waits);
        CHECK_FALSE(poller->off_thread);
    }
    // The wait is bounded by the next timer, and the timer fires while the poller sleeps.
    std::promise<std::vector<int>> fired;  // the timeouts of the waits before it fired
    TimePoint when;
    on_reactor(r, [&] {
        when = Clock::now() + 20ms;
        r.at(when, [&] {
            std::lock_guard lock(poller->mu_);
            fired.set_value(poller->timeouts);
        });
        std::lock_guard lock(poller->mu_);
        poller->timeouts.clear();
        return 0;
    });
    std::vector<int> timeouts = fired.get_future().get();
    CHECK(Clock::now() >= when);
    REQUIRE_FALSE(timeouts.empty());
    for (int t : timeouts) CHECK(t <= 20);
}

TEST_CASE("reactor: timers armed and cancelled by the thousand are not kept until their time, and the live ones still fire in order") {
    Reactor r;
    Log log;
    size_t held = 0;
    r.post([&] {
        TimePoint t0 = Clock::now();
        r.at(t0 + 30ms, [&] { log.fired.push_back("second"); });
        r.at(t0 + 20ms, [&] { log.fired.push_back("first"); });
        // What an I/O thread does per call: a first-token timeout of minutes, cancelled
        // when the answer arrives.
        for (int i = 0; i < 5000; ++i) r.cancel(r.at(t0 + std::chrono::minutes(2), [&] { log.fired.push_back("cancelled"); }));
        held = r.held();
        r.at(t0 + 40ms, [&] { log.done.set_value(); });
    });
    log.done.get_future().get();
    CHECK(held < 2048);  // was 5,002: every cancelled timer stayed for its two minutes
    CHECK(log.fired == std::vector<std::string>{"first", "second"});
    CHECK(on_reactor(r, [&] { return r.timers(); }) == 0);
}

TEST_CASE("reactor: a post that keeps posting does not starve the Poller, which is asked for ready sockets every turn") {
    std::unique_ptr<FakePoller> poller;
    Reactor r;
    poller = install_poller(r);
    int waits_before;
    {
        std::lock_guard lock(poller->mu_);
        waits_before = poller->waits;
    }
    // Each turn posts the next one, as replies that start new calls do under load:
    // the queue is never empty when the loop looks at it, so it never sleeps.
    std::promise<int> finished;
    std::function<void(int)> step = [&](int left) {
        if (left == 0) {
            std::lock_guard lock(poller->mu_);
            finished.set_value(poller->waits - waits_before);
            return;
        }
        r.post([&step, left] { step(left - 1); });
    };
    r.post([&step] { step(1000); });
    int waits = finished.get_future().get();
    // One non-blocking look (timeout 0) per turn, not one sleep after the stream ends.
    CHECK(waits >= 900);
    std::lock_guard lock(poller->mu_);
    CHECK(std::count(poller->timeouts.begin(), poller->timeouts.end(), 0) >= 900);
    CHECK_FALSE(poller->off_thread);
}
