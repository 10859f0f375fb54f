// Instrumentation of a running engine (EngineOptions::observer): every call attempt's
// start and end, and the notices a person running the engine should see. The library
// never prints; a program shows notices its own way (the moa CLI on stderr).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace moa {

enum class CallStatus { Ok, Error, Skipped, Cancelled };
const char* to_string(CallStatus s);

struct Notice {
    enum class Kind {
        // A server asked a backend to wait (429 + Retry-After) long enough that a batch
        // would look stuck: every agent on that backend waits `wait_ms`.
        RateLimitCooldown,
    };
    Kind kind = Kind::RateLimitCooldown;
    std::string backend;
    int64_t wait_ms = 0;
    // One line, ready to show: "backend 'oa' is rate limited: waiting 10 s (the
    // server's Retry-After)".
    std::string text;
};

// The life of one model call, event by event (CallObserver::call_event). A call is
// made when its node fires, for one job; it is answered by the cache or goes to its
// backend's queue; each attempt holds one of the backend's slots from Started to
// AttemptEnded; a transient failure waits (RetryWait) and queues again; the agent's
// fallback queues it on the fallback's backend. Every call ends with exactly one Done.
struct CallEvent {
    using TimePoint = std::chrono::steady_clock::time_point;
    enum class Kind {
        Queued,        // entered `backend`'s queue (again after a retry wait or a fallback)
        Started,       // got a slot on `backend` (concurrency and rate limits): attempt `attempt` runs
        FirstToken,    // the attempt's first byte of answer arrived (reported with AttemptEnded, `at` is when)
        AttemptEnded,  // the attempt is over: `status`, `error_kind`, `error`
        RetryWait,     // the call waits `wait_ms` before it queues again
        Done,          // the call's result: status, tokens, cache_hit, error
    };
    Kind kind = Kind::Queued;
    uint64_t call = 0;         // the call's number, unique in the engine
    TimePoint at{};            // when it happened
    TimePoint made{};          // when the call was made (its node fired)
    // Identity (valid during the callback only). `agent`, `model` and `backend` are the
    // fallback's once it took over.
    std::string_view job;      // the job's id
    uint64_t job_seq = 0;      // the job's position in the input (0-based)
    std::string_view node, agent, model, backend;
    int attempt = 0;           // Started, FirstToken, AttemptEnded: 1, 2, ... (fallback: counts on)
    CallStatus status = CallStatus::Ok;  // AttemptEnded, Done
    std::string_view error_kind;  // "timeout", "http 429", "cancelled", "cache hit" ... ("" on success)
    std::string_view error;       // the error message (never a key: the transport scrubs them)
    int64_t wait_ms = 0;          // RetryWait
    uint32_t tokens_in = 0, tokens_out = 0;  // Done
    bool tokens_estimated = false;           // Done: the provider sent no usage
    // Done: answered without a call (the response cache, or an identical call in flight).
    bool cache_hit = false;
    // Done (moa/cost.hpp): the call's cost in USD, or for a cache hit what it saved;
    // both 0 unless cost_known (the model has a price).
    bool cost_known = false;
    double cost_usd = 0, saved_usd = 0;
};

// Methods are called on the engine's reactor thread (the scheduler's), except
// call_event's Done, which comes from the thread that completes the call (the reactor,
// the cache's thread, or a TBB worker for a call cancelled before it was sent) while
// that job's state is locked: an observer of call events serialises them itself, and
// calls back into no engine. Keep them cheap, never block.
struct CallObserver {
    using TimePoint = std::chrono::steady_clock::time_point;
    virtual ~CallObserver() = default;
    // An attempt of a call started / ended on `backend`; `running` is the number of
    // attempts on that backend running now (this one included when started).
    virtual void attempt_started(const std::string& backend, int running, TimePoint at) {
        (void)backend, (void)running, (void)at;
    }
    virtual void attempt_ended(const std::string& backend, int running, TimePoint at) {
        (void)backend, (void)running, (void)at;
    }
    virtual void notice(const Notice& n) { (void)n; }
    virtual void call_event(const CallEvent& e) { (void)e; }
    // Whether call_event is wanted: an engine whose observer says false builds no
    // events (the default, so instrumentation costs nothing unless asked for).
    virtual bool wants_call_events() const { return false; }
};

}  // namespace moa
