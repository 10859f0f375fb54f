// HTTP transport: one libcurl multi handle driven by the reactor thread
// (curl_multi_poll to sleep, curl_multi_wakeup from other threads). Keep-alive
// connections are reused, HTTP/2 is used where offered, TLS is verified, and proxy
// variables are honoured as curl does. Every attempt ends in exactly one Reply:
// success, an HTTP status with the provider's message, or a transport error.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.hpp"
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

    // Reactor thread only. `wire` builds the request and reads the answer.
    void start(const CallPtr& c, const WireFormat& wire, std::function<void(Reply&&)> done);
    void cancel(const CallPtr& c);  // ends the attempt without calling `done`

    void wait(int timeout_ms) override;
    void wakeup() override;
    void process() override;

    static constexpr size_t kMaxResponseBytes = 32u << 20;
    struct Transfer;  // one attempt in flight (public for libcurl's C callbacks)
    void first_byte(Transfer* t);  // reactor thread, from the body callback

private:
    void finish(Transfer* t, Reply&& r);
    void check_timeouts(Transfer* t);
    void arm_timer(Transfer* t, TimePoint when);
    Reactor& reactor_;
    std::map<std::string, std::string> keys_;
    std::vector<std::string> secrets_;  // longest first
    void* multi_ = nullptr;  // CURLM*
    std::map<void*, std::unique_ptr<Transfer>> transfers_;  // by CURL* easy handle
    std::map<const Call*, void*> by_call_;
};

// Replaces every occurrence of each secret (and of its JSON-escaped form) with "***".
std::string scrub_secrets(std::string text, const std::vector<std::string>& secrets);

// Parses Retry-After (seconds or an HTTP date), retry-after-ms, and the providers'
// rate-limit reset headers; -1 if none applies.
int64_t retry_after_ms(const std::map<std::string, std::string>& headers);

}  // namespace moa
