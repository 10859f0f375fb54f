// The HTTP transport over several I/O threads, driven the way the engine drives it
// (scheduler on the reactor thread), against the loopback server: every call
// completes exactly once, with its own answer, even when cancels race the replies.
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <algorithm>
#include <random>
#include <thread>

#include "../engine/engine_test_util.hpp"
#include "fake_server.hpp"
#include "backends/backend.hpp"
#include "runtime/scheduler.hpp"

using namespace moa;

namespace {

struct Seen {
    int completions = 0;  // reactor thread, read after the run
    CallStatus status = CallStatus::Ok;
    std::string text, chunks;
    int restarts = 0;
};

}  // namespace

TEST_CASE("calls over 4 I/O threads, some cancelled midway, each complete exactly once with their own answer") {
    test::FakeServer server;
    setenv("MOA_TEST_KEY", "sk-test-secret-0123456789", 1);
    std::string u = server.url();
    GraphSpec g = test::load("backend oa { kind = openai  base_url = \"" + u + "/v1\"  api_key_env = \"MOA_TEST_KEY\"  retry { attempts = 1 }  max_concurrent = 1000 }\n"
                             "backend an { kind = anthropic  base_url = \"" + u + "\"  api_key_env = \"MOA_TEST_KEY\"  retry { attempts = 1 }  max_concurrent = 1000 }\n"
                             "agent a { backend = oa  model = \"delay-40:io\" }\n"
                             "agent s { backend = an  model = \"delay-40:ios\" }\n"
                             "layer l = a\nlayer m = s\noutput o = l\noutput p = m\n");
    const int n = 1200;  // 300 per I/O thread: more than one multi handle each (io_loop.hpp)
    std::vector<Seen> seen(n);
    std::vector<CallPtr> calls;
    std::mutex mu;
    std::condition_variable cv;
    int remaining = n;
    {
        Reactor reactor;
        BackendSet backends(g, reactor, {{"oa", "sk-test-secret-0123456789"}, {"an", "sk-test-secret-0123456789"}}, {}, 4);
        REQUIRE(backends.io_threads() == 4);
        Scheduler sched(reactor, g, 0, [&](const BackendSpec& b) -> Backend& { return backends.at(b); });
        for (int i = 0; i < n; ++i) {
            auto c = std::make_shared<Call>();
            bool anthropic = i % 2 == 1;
            c->agent = g.agent(anthropic ? "s" : "a");
            c->backend = g.backend(c->agent->backend);
            c->messages.push_back({Role::User, "question " + std::to_string(i)});
            if (i % 3 == 0)  // streamed: the chunks must add up to the answer, in order
                c->on_chunk = [&seen, i](const StreamChunk& ch) {
                    seen[static_cast<size_t>(i)].chunks += ch.text;
                    seen[static_cast<size_t>(i)].restarts += ch.restart;
                };
            c->done = [&, i](Call&, Reply&& r) {
                Seen& s = seen[static_cast<size_t>(i)];
                s.status = r.status;
                s.text = r.text;
                if (++s.completions == 1) {
                    std::lock_guard lock(mu);
                    if (--remaining == 0) cv.notify_all();
                }
            };
            calls.push_back(c);
            sched.submit(c);
        }
        // Every fourth call is cancelled from this thread, in slices spread over the
        // run: before it starts, while its transfer runs, or as its reply arrives.
        // Before each slice the reactor is held busy for a moment, so replies that
        // arrive meanwhile queue up behind the cancels: the cancel wins, and the
        // reply already on its way must be dropped, not delivered a second time.
        std::vector<int> order;
        for (int i = 1; i < n; i += 4) order.push_back(i);
        std::shuffle(order.begin(), order.end(), std::mt19937(12));
        auto t0 = std::chrono::steady_clock::now();
        const size_t slices = 10;
        for (size_t k = 0; k < slices; ++k) {
            std::this_thread::sleep_until(t0 + std::chrono::milliseconds(15 * k));
            reactor.post([] { std::this_thread::sleep_for(std::chrono::milliseconds(30)); });
            for (size_t j = k; j < order.size(); j += slices) sched.cancel(calls[static_cast<size_t>(order[j])]);
        }
        {
            std::unique_lock lock(mu);
            REQUIRE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return remaining == 0; }));
        }
        // A reply delivered after its cancel would arrive within the server's delay:
        // give any such stray reply the time to show, then stop every thread.
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        reactor.stop();
        backends.stop_io();
    }
    int cancelled = 0;
    for (int i = 0; i < n; ++i) {
        const Seen& s = seen[static_cast<size_t>(i)];
        INFO("call " << i << ": " << s.text);
        CHECK(s.completions == 1);
        std::string model = i % 2 == 1 ? "delay-40:ios" : "delay-40:io";
        std::string answer = "answer from " + model + " to: question " + std::to_string(i);
        if (s.status == CallStatus::Cancelled) {
            CHECK(i % 4 == 1);
            ++cancelled;
            continue;
        }
        CHECK(s.status == CallStatus::Ok);
        CHECK(s.text == answer);
        if (i % 3 == 0) {
            CHECK(s.chunks == answer);
            CHECK(s.restarts == 0);
        }
    }
    CHECK(cancelled > 0);  // the cancels did land mid-run
}
