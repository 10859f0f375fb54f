// Instrumentation of a running engine (EngineOptions::observer): every call attempt's
// start and end, and the notices a person running the engine should see. The library
// never prints; a program shows notices its own way (the moa CLI on stderr).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace moa {

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

// Every method is called on the engine's reactor thread (the scheduler's): keep them
// cheap, never block.
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
};

}  // namespace moa
