// A model call as the scheduler and the backends see it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "moa/engine.hpp"
#include "runtime/reactor.hpp"

namespace moa {

enum class Role { System, User };
inline const char* to_string(Role r) { return r == Role::System ? "system" : "user"; }

struct Message {
    Role role;
    std::string content;
};

// What kind of result a reply is, beyond its status: the reason of an error, or where
// an answer came from (a cache hit). Shown as NodeEvent::error_kind.
enum class ErrorKind {
    None,
    Timeout,
    Http,  // Reply::http_status says which
    ConnectionError,
    TruncatedStream,
    StreamError,
    MalformedResponse,
    EmptyAnswer,
    ResponseTooLarge,
    Cancelled,
    Skipped,
    Input,  // the node's input failed (or the input line was malformed)
    Pick,   // `result = pick`: the reply named none of the responses
    Cache,  // the cache failed: not called
    CacheHit,
    CacheMiss,  // replay: nothing recorded
    Budget,     // a run budget was reached: not called
};
// "timeout", "http 429", "cache hit", ... ("" for None): the text users and files see.
std::string to_string(ErrorKind kind, int http_status = 0);

struct Reply {
    CallStatus status = CallStatus::Ok;
    std::string text;  // answer, or error message
    ErrorKind error_kind = ErrorKind::None;
    int http_status = 0;     // the HTTP status of an ErrorKind::Http error
    bool transient = false;  // worth retrying
    int64_t retry_after_ms = -1;
    uint32_t tokens_in = 0;
    uint32_t tokens_out = 0;
    uint32_t tokens_cached = 0;     // of tokens_in, read from the provider's prompt cache
    bool tokens_estimated = false;  // the provider sent no usage: estimated (runtime/usage.hpp)
    // When the attempt's first byte of answer arrived (unset: none did). For traces.
    TimePoint first_token{};
};

// What a backend keeps per call (computed in Backend::prepare): it owns the subclass.
struct BackendState {
    virtual ~BackendState() = default;
};

// Shared (CallPtr) because the cache completes a call on its own thread, later.
struct Call : std::enable_shared_from_this<Call> {
    // What to send.
    const BackendSpec* backend = nullptr;
    const AgentSpec* agent = nullptr;
    std::vector<Message> messages;
    int replica = 0;
    uint64_t seed = 0;
    uint32_t est_tokens = 0;  // for the tokens-per-minute bucket
    // `result = pick`: the reply must name one of this many numbered responses. 0 for
    // an ordinary call.
    uint32_t choices = 0;
    // A judge's panel node: the graph's verdict (how a reply is read), and the job's
    // variables (the answers judged), for the simulator's scripted judge. Null otherwise.
    const VerdictSpec* verdict = nullptr;
    const std::vector<std::pair<std::string, std::string>>* vars = nullptr;
    // Scheduling: lower first (earlier jobs finish first, freeing their slots); once a
    // batch's input is exhausted (Scheduler::order_by_height), higher `height` first.
    uint64_t priority = 0;
    uint32_t height = 0;  // PlanNode::height of the call's node
    ChunkFn on_chunk;  // streaming, optional: call stream(), which numbers the attempts

    // Identity for observers (CallEvent), set by the flow graph when it makes the call.
    // The job outlives the call's events: the call's `done` holds it until Done.
    uint64_t id = 0;
    TimePoint made{};
    const std::string* job_id = nullptr;
    const std::string* node_id = nullptr;  // the plan's, alive as long as the engine

    // Filled by the scheduler; read by the completion callback.
    int attempts = 0;
    TimePoint submitted{};
    TimePoint first_start{};  // first attempt started (service time excludes queueing)
    TimePoint finished{};
    // The latest attempt's start and its first streamed chunk (unset if nothing
    // streamed): the answering attempt's latency, which the cache records per answer.
    TimePoint attempt_started{};
    TimePoint first_token{};
    TimePoint deadline = TimePoint::max();  // the `total` timeout: set when the first attempt starts
    std::function<void(Call&, Reply&&)> done;  // exactly once (reactor or cache thread)

    // Set by the backend (Backend::prepare), dropped when a fallback agent takes over.
    std::unique_ptr<BackendState> backend_state;
    // Seeds the retry jitter: a backend that answers reproducibly sets it from the
    // request, so a rerun waits the same delays. 0 otherwise.
    uint64_t jitter_seed = 0;

    // Scheduler-private state.
    enum class State { New, Queued, Running, Backoff, Done } state = State::New;
    uint64_t timer = 0;         // backoff timer
    uint64_t seq = 0;           // FIFO tie-break
    std::string fallback_from;  // "agent: error" when the agent's fallback took over
    int attempts_before_fallback = 0;  // the original agent's attempts
    // Cancelled while still with the cache (not yet in the scheduler): the scheduler
    // completes it as cancelled when it arrives.
    std::atomic<bool> cancel_requested{false};
    int serial = 0;    // attempts started, fallback included (never reset)
    // The running attempt's budget reservation (runtime/budget.hpp).
    bool reserved = false;
    uint64_t reserved_tokens = 0;
    double reserved_usd = 0;
    int streamed = 0;  // the attempt whose text the consumer has last seen

    // Hands a piece of the current attempt's answer to the consumer, marking the
    // first piece of an attempt that follows an abandoned, partly streamed one.
    void stream(std::string_view text) {
        if (!on_chunk || text.empty()) return;
        if (first_token == TimePoint{}) first_token = Clock::now();
        StreamChunk ch{text, serial, streamed != 0 && streamed != serial};
        streamed = serial;
        on_chunk(ch);
    }
};

using CallPtr = std::shared_ptr<Call>;

// The observer's view of `c` at `at` (identity filled; the caller sets the rest).
CallEvent call_event(const Call& c, CallEvent::Kind kind, TimePoint at);
// Reports attempt `c.serial`'s end: its first token (if any), then AttemptEnded.
void report_attempt_end(CallObserver& o, const Call& c, const Reply& r, TimePoint at);

}  // namespace moa
