// The native HTTP/1.1 client: plain http:// calls on an I/O thread's epoll set
// (backends/io_loop.hpp), without libcurl. On loopback and LAN servers (Ollama, vLLM,
// llama.cpp, the benchmarks' mock) a call through libcurl's multi interface costs
// several epoll_ctl changes, a liveness poll and a walk of the connection cache per
// transfer; here a call on a kept-alive connection is one send() and, usually, one
// recv(); the socket stays in the epoll set while it idles.
//
// One NativeHttp per I/O thread, used on that thread only. Keep-alive connections
// are pooled per host:port (idle ones watched, so a server's close frees them).
// A reused connection that the server closed before any byte of the answer is
// retried once on a fresh connection (the request never reached an application);
// any other failure ends the request with a libcurl error code, so the transport
// maps both clients' failures to the same Reply. Timeouts are the transport's
// timers: it cancels the request.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "backends/http1.hpp"
#include "backends/io_loop.hpp"

namespace moa {

class NativeHttp : public FdHandler {
public:
    // What a request reports to (the transport's transfer).
    class Sink {
    public:
        virtual void on_connected() = 0;  // the TCP connection is up (reused ones at once)
        virtual void on_header(std::string_view name_lower, std::string_view value) = 0;  // empty name: a new head
        virtual bool on_body(int status, const char* data, size_t len) = 0;  // decoded; false aborts
        // Exactly once per start(), unless cancel() came first; `curl_code` is a CURLcode
        // (0 = complete answer). The sink may be freed inside.
        virtual void on_done(int curl_code, int status) = 0;
        // Before on_done, when the last socket() or connect() failed with `err`
        // (errno): what the system said, which a CURLcode alone does not.
        virtual void on_os_error(const char* /*call*/, int /*err*/) {}

    protected:
        ~Sink() = default;
    };
    struct Conn;

    explicit NativeHttp(CurlLoop& loop);
    ~NativeHttp() override;  // closes every connection; no sink hears of it
    NativeHttp(const NativeHttp&) = delete;
    NativeHttp& operator=(const NativeHttp&) = delete;

    // Host names this client connects to without a resolver: IP literals and
    // "localhost" (127.0.0.1, then ::1). Others go to libcurl (its threaded resolver).
    static bool resolvable(const std::string& host);

    // Starts a request (`bytes`: head and body, http1::request). Returns its handle
    // for cancel(), or nullptr when on_done() already ran inside (no address could connect).
    Conn* start(const http1::Url& url, std::string bytes, Sink* sink);
    void cancel(Conn* c);  // on_done() never runs; the connection is closed
    void ready(int fd, uint32_t events) override;

    static constexpr size_t kMaxIdle = 8192;  // idle connections kept per thread

private:
    // Those returning bool return false once the request has ended (on_done() ran).
    bool open(Conn* c);  // a fresh socket to the next address
    bool send(Conn* c);
    bool connected(Conn* c);
    bool retry_or_fail(Conn* c, int curl_code);  // a reused connection died before any answer byte: once more
    void receive(Conn* c);
    void complete(Conn* c);
    void fail(Conn* c, int curl_code);
    void close(Conn* c);  // closes (after this wake-up) and frees
    void park(Conn* c);   // back to the idle pool
    void watch(Conn* c, uint32_t events);

    CurlLoop& loop_;
    std::vector<Conn*> by_fd_;
    std::unordered_map<std::string, std::vector<Conn*>> idle_;  // host:port -> idle connections
    size_t idle_count_ = 0;
    std::vector<char> buf_;  // recv buffer
};

}  // namespace moa
