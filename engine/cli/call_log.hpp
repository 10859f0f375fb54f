// The calls of a run, assembled from the engine's call events (moa/observer.hpp) for
// `moa run --trace` and `--report`: per call its identity, result and phases (queued,
// waiting for a backend slot, attempts with their streaming part, retry waits).
// Events arrive on the reactor and cache threads: one mutex, held briefly.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "moa/observer.hpp"

namespace moa::cli {

// A span of a call's life, in nanoseconds since the run's origin.
struct Phase {
    enum class Kind { Queued, SlotWait, Attempt, Streaming, RetryWait, CacheLookup } kind = Kind::Queued;
    int64_t start = 0, end = 0;
    int attempt = 0;           // Attempt, Streaming
    std::string backend;       // SlotWait, Attempt: the backend it waited for / ran on
    std::string status;        // Attempt: "ok", "error", "cancelled"
    std::string error_kind, error;
    int64_t wait_ms = 0;       // RetryWait: the wait asked for
};
const char* to_string(Phase::Kind k);

struct CallRecord {
    uint64_t id = 0;
    std::string job;
    uint64_t job_seq = 0;
    std::string node, agent, model, backend;
    int64_t start = 0, end = 0;  // made .. done, ns since the origin
    CallStatus status = CallStatus::Ok;
    std::string error_kind, error;
    int attempts = 0;
    uint32_t tokens_in = 0, tokens_out = 0;
    bool cache_hit = false;
    bool tokens_estimated = false;
    bool cost_known = false;
    double cost_usd = 0, saved_usd = 0;  // saved: a cache hit's, what its tokens would have cost
    std::vector<Phase> phases;  // in time order; a Streaming phase follows its Attempt
};

// Forwards notices and attempt counts to `next` (the CLI's stderr notices) and hands
// every finished call, once, to each sink (in completion order, under the lock: sinks
// are cheap, e.g. an append to a buffer).
class CallLog : public CallObserver {
public:
    using Sink = std::function<void(const CallRecord&)>;
    explicit CallLog(CallObserver& next);
    void add_sink(Sink s) { sinks_.push_back(std::move(s)); }  // before the run
    TimePoint origin() const { return origin_; }
    int64_t since_origin(TimePoint t) const;

    void attempt_started(const std::string& backend, int running, TimePoint at) override;
    void attempt_ended(const std::string& backend, int running, TimePoint at) override;
    void notice(const Notice& n) override { next_.notice(n); }
    void call_event(const CallEvent& e) override;
    bool wants_call_events() const override { return true; }

    // Per backend, the attempts running over time: (ns since origin, count) steps.
    struct Running {
        std::string backend;
        std::vector<std::pair<int64_t, int>> steps;
    };
    std::vector<Running> running() const;

private:
    void open(CallRecord& c, Phase::Kind k, int64_t at);
    void close(CallRecord& c, int64_t at);

    CallObserver& next_;
    TimePoint origin_;
    mutable std::mutex mu_;
    std::unordered_map<uint64_t, CallRecord> live_;
    std::unordered_map<uint64_t, int64_t> first_token_;  // by call: the running attempt's
    std::vector<Sink> sinks_;
    std::vector<Running> running_;
};

}  // namespace moa::cli
