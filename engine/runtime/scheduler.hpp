// Backpressure and retry for model calls, on the reactor thread.
//
// Each backend is a Pool (like ninja's pools): at most max_concurrent calls running,
// token buckets for requests/min and tokens/min, and a shared cooldown after a 429,
// all shared by every agent on that backend. Queued calls start in priority order
// (earlier jobs first). Transient failures are retried here, with exponential
// backoff and full jitter, honouring Retry-After. Every call gets exactly one
// completion. Backends are known only through the Backend interface: the scheduler
// starts and cancels attempts; each attempt reports back once, to attempt_done().
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "backends/backend.hpp"
#include "moa/engine.hpp"
#include "moa/observer.hpp"
#include "runtime/budget.hpp"
#include "runtime/call.hpp"
#include "runtime/reactor.hpp"

namespace moa {

class Scheduler {
public:
    // `backend_of` gives the Backend of each of the graph's backends (asked once each).
    using BackendOf = std::function<Backend&(const BackendSpec&)>;
    Scheduler(Reactor& reactor, const GraphSpec& graph, int max_calls, const BackendOf& backend_of);
    ~Scheduler();
    void submit(CallPtr call);  // any thread
    void cancel(CallPtr call);  // any thread; completes the call with Cancelled if not done
    // Any thread: from now on, queued calls start longest remaining chain (Call::height)
    // first, then earlier jobs first. Called when a batch's input is exhausted: with
    // no job left to start, the only way to end sooner is to shorten the tail, and
    // calls with more calls still behind them are what makes it long (earliest-job-first
    // to the end left the last jobs' layers to run one after another at the end).
    void order_by_height();
    void set_observer(CallObserver* o) {
        observer_ = o;
        events_ = o && o->wants_call_events() ? o : nullptr;
    }
    void set_budget(Budget* b) { budget_ = b; }  // before the first submit; null = none

    std::atomic<size_t> in_flight{0};   // submitted, not completed
    std::atomic<size_t> running{0};     // attempts talking to a backend now (not queued)
    std::atomic<size_t> completed{0};
    std::atomic<size_t> attempts{0};
    std::atomic<size_t> retries{0};

private:
    struct Bucket {
        bool enabled = false;
        double per_us = 0;    // refill rate
        double capacity = 0;  // burst
        double tokens = 0;
        TimePoint last{};
        void init(double per_minute, double burst);
        void refill(TimePoint now);
        int64_t wait_us(double n) const;  // 0 if available now
    };
    struct ByPriority {
        bool by_height = false;
        bool operator()(const CallPtr& a, const CallPtr& b) const {
            if (by_height && a->height != b->height) return a->height > b->height;
            return a->priority != b->priority ? a->priority < b->priority : a->seq < b->seq;
        }
    };
    struct Pool {
        const BackendSpec* spec = nullptr;
        Backend* backend = nullptr;
        int running = 0;
        Bucket requests, tokens;
        TimePoint cooldown_until{};
        std::set<CallPtr, ByPriority> queue;
        uint64_t wake_timer = 0;
    };

    void enqueue(const CallPtr& c);
    void pump(Pool& p);
    void pump_all();
    void start(Pool& p, const CallPtr& c);
    void attempt_done(Pool& p, const CallPtr& c, Reply&& r);
    void complete(const CallPtr& c, Reply&& r);
    int64_t backoff_ms(const Call& c, const Reply& r) const;
    bool too_long_to_wait(const Pool& p, const Call& c, Reply& r, TimePoint now) const;
    void cool_down(Pool& p, const Reply& r, TimePoint now);
    void refuse_all();  // a budget is reached: every queued call fails, naming it
    static constexpr int64_t kLongCooldownMs = 10'000;  // a cooldown this long is a Notice

    Reactor& reactor_;
    std::map<std::string, Pool> pools_;
    int max_calls_;
    int running_total_ = 0;
    uint64_t seq_ = 0;
    CallObserver* observer_ = nullptr;
    CallObserver* events_ = nullptr;  // observer_, if it wants call events
    Budget* budget_ = nullptr;
    const GraphSpec& graph_;
    size_t submitted_ = 0;      // reactor thread: calls seen, for the retry budget
    size_t retries_used_ = 0;
    bool by_height_ = false;  // reactor thread
};

}  // namespace moa
