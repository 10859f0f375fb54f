// HTTP transport: libcurl multi handles on I/O threads (a few per thread, see
// backends/io_loop.hpp), driven through curl's socket interface over epoll. Keep-alive connections
// are reused (per I/O thread), HTTP/2 is used where offered, TLS is verified, and
// proxy variables are honoured as curl does. Every attempt ends in exactly one Reply:
// success, an HTTP status with the provider's message, or a transport error.
//
// Threads: the scheduler calls start() and cancel() on the reactor thread. An attempt
// runs on one I/O thread ("moa-io-K", chosen round-robin), which owns its easy
// handle, its first-token/idle timers and the reply it builds; the reply, and every
// streamed chunk before it, are posted back to the reactor in order, where `done`
// runs unless cancel() came first. So `done` runs exactly once, on the reactor
// thread, or never after cancel().
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "backends/backend.hpp"
#include "backends/io_loop.hpp"
#include "runtime/call.hpp"
#include "runtime/reactor.hpp"

namespace moa {

class HttpTransport {
public:
    // `keys`: backend name -> API key value, read from the environment by the caller.
    // `secrets`: every other form a secret may take (untrimmed keys, URL passwords);
    // all of them, and the keys, are scrubbed from any text a reply carries.
    // `io_threads`: how many I/O threads (each with its own multi handle) to run.
    // `native`: plain http:// calls to IP literals or localhost with no proxy set go
    // through the native HTTP/1.1 client (backends/http_native.hpp), the rest through libcurl.
    HttpTransport(Reactor& reactor, std::map<std::string, std::string> keys, std::vector<std::string> secrets = {},
                  int io_threads = 1, bool native = false);
    ~HttpTransport();  // stop(), then frees the transfers and multi handles
    HttpTransport(const HttpTransport&) = delete;
    HttpTransport& operator=(const HttpTransport&) = delete;

    // Joins the I/O threads (idempotent); transfers still running are abandoned
    // without a reply. The owner calls it once the reactor thread is stopped, before
    // freeing anything a `done` callback touches.
    void stop();

    // Reactor thread only. `wire` builds the request and reads the answer.
    void start(const CallPtr& c, const WireFormat& wire, std::function<void(Reply&&)> done);
    void cancel(const CallPtr& c);  // ends the attempt without calling `done`

    int io_threads() const { return static_cast<int>(io_.size()); }

    static constexpr size_t kMaxResponseBytes = 32u << 20;
    struct Transfer;  // one attempt in flight (public for libcurl's C callbacks)
    void first_byte(Transfer* t);  // I/O thread, from the body callback
    // I/O thread: the attempt is over; its reply goes to the reactor thread.
    void finish(Transfer* t, Reply&& r);
    Reply reply_of(Transfer* t, int result);  // the Reply a finished transfer makes (result: a CURLcode)

private:
    struct Attempt;  // the reactor thread's side of a transfer
    struct Io;       // one I/O thread
    // I/O thread.
    void add(Io& io, const std::shared_ptr<Transfer>& t);
    void drop(Io& io, uint64_t id);
    void finished(Io& io, void* easy, int result);  // curl is done with a transfer
    void release(Transfer* t);
    enum class Timeout { None, Connect, Total, FirstToken, Idle };
    static std::pair<TimePoint, Timeout> next_timeout(const Transfer& t);
    static Reply timeout_reply(const Transfer& t, Timeout which);
    void check_timeouts(Transfer* t);
    void arm_timer(Transfer* t, TimePoint when);
    void setup_curl(Transfer& t);  // the easy handle of a libcurl attempt
    void read_proxy_env();
    bool proxied(const std::string& host) const;  // a proxy variable may apply to `host`
    // Reactor thread.
    void deliver(const std::shared_ptr<Attempt>& a, Reply&& r);

    Reactor& reactor_;
    std::map<std::string, std::string> keys_;
    std::vector<std::string> secrets_;  // longest first
    bool native_ = false;
    bool proxy_set_ = false;  // a proxy variable is set
    std::string no_proxy_;
    std::vector<std::unique_ptr<Io>> io_;
    size_t next_io_ = 0;  // round-robin; reactor thread
    uint64_t next_id_ = 0;
    std::unordered_map<const Call*, std::shared_ptr<Attempt>> by_call_;  // reactor thread
};

// Replaces every occurrence of each secret (and of its JSON-escaped form) with "***".
std::string scrub_secrets(std::string text, const std::vector<std::string>& secrets);

// Parses Retry-After (seconds or an HTTP date), retry-after-ms, and the providers'
// rate-limit reset headers; -1 if none applies.
int64_t retry_after_ms(const std::map<std::string, std::string>& headers);

// Whether a reply keeps a response header (name in lower case): Content-Type (a stream
// answered with one JSON body) and every header retry_after_ms() reads.
bool kept_response_header(std::string_view name_lower);

}  // namespace moa
