// HTTP transport: one libcurl multi handle driven by the reactor thread through
// curl's socket interface over epoll (backends/io_loop.hpp). Keep-alive
// connections are reused, HTTP/2 is used where offered, TLS is verified, and proxy
// variables are honoured as curl does. Every attempt ends in exactly one Reply:
// success, an HTTP status with the provider's message, or a transport error.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/io_loop.hpp"
#include "runtime/call.hpp"
#include "runtime/reactor.hpp"

namespace moa {

class HttpTransport : public Poller {
public:
    // `keys`: backend name -> API key value, read from the environment by the caller.
    // `secrets`: every other form a secret may take (untrimmed keys, URL passwords);
    // all of them, and the keys, are scrubbed from any text a reply carries.
    HttpTransport(Reactor& reactor, std::map<std::string, std::string> keys, std::vector<std::string> secrets = {});
    ~HttpTransport() override;

    // Reactor thread only.
    void start(const CallPtr& c, std::function<void(Reply&&)> done);
    void cancel(const CallPtr& c);  // ends the attempt without calling `done`

    void wait(int timeout_ms) override;
    void wakeup() override;
    void process() override;

    static constexpr size_t kMaxResponseBytes = 32u << 20;
    struct Transfer;  // one attempt in flight (public for libcurl's C callbacks)
    void first_byte(Transfer* t);  // reactor thread, from the body callback

private:
    void finished(void* easy, int result);  // curl is done with a transfer
    Reply reply_of(Transfer* t, int result);  // the Reply a finished transfer makes
    void finish(Transfer* t, Reply&& r);
    void check_timeouts(Transfer* t);
    void arm_timer(Transfer* t, TimePoint when);
    Reactor& reactor_;
    std::map<std::string, std::string> keys_;
    std::vector<std::string> secrets_;  // longest first
    std::unique_ptr<CurlLoop> loop_;
    std::map<void*, std::unique_ptr<Transfer>> transfers_;  // by CURL* easy handle
    std::map<const Call*, void*> by_call_;
};

// Every wait of an HTTP call is bounded, even when the .moa file sets no timeouts.
// `total` covers the whole call: every attempt and the waits between them.
constexpr Timeouts kDefaultTimeouts{10'000, 120'000, 60'000, 600'000};
// The agent's timeouts, else the backend's, else kDefaultTimeouts, field by field.
Timeouts effective_timeouts(const BackendSpec& b, const AgentSpec& a);
// "connect timeout (10 s)" etc.: names the timeout as the .moa file does, with its value.
std::string timeout_name(const char* field, int64_t ms);

// Replaces every occurrence of each secret (and of its JSON-escaped form) with "***".
std::string scrub_secrets(std::string text, const std::vector<std::string>& secrets);

// Parses Retry-After (seconds or an HTTP date), retry-after-ms, and the providers'
// rate-limit reset headers; -1 if none applies.
int64_t retry_after_ms(const std::map<std::string, std::string>& headers);

}  // namespace moa
