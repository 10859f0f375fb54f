// One libcurl multi handle driven through its socket interface over epoll, as the
// Poller a Reactor sleeps in. curl says which sockets to watch for what
// (CURLMOPT_SOCKETFUNCTION) and when it next needs a call (CURLMOPT_TIMERFUNCTION);
// each wake-up hands curl only the sockets that are ready
// (curl_multi_socket_action), so its cost follows the traffic, not the number of
// connections (curl_multi_poll + curl_multi_perform walked every transfer and polled
// every socket on every wake-up). An eventfd wakes the loop from other threads; the
// owning Reactor's timers set the epoll timeout together with curl's deadline.
//
// The loop holds several multi handles (shards) on one epoll set: to start a transfer
// libcurl walks every connection to the host in its multi handle's cache, so its cost
// grew with the connections in flight (12% of an I/O thread at 2,048 in flight; at
// 10,000 per handle, most of it). A transfer joins the first shard running fewer than
// kShardFill, else the one running the fewest: up to kShardFill calls in flight per
// thread everything stays on one multi handle (its warm connections reused), and
// past that the walk stays bounded.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "runtime/reactor.hpp"

namespace moa {

// Sockets of the native HTTP/1.1 client (backends/http_native.*) on the same epoll set.
class FdHandler {
public:
    virtual ~FdHandler() = default;
    virtual void ready(int fd, uint32_t events) = 0;  // the loop's thread, from process()
};

class CurlLoop : public Poller {
public:
    static constexpr int kShards = 16;
    static constexpr int kShardFill = 256;
    // `on_done(easy, result)` runs on the loop's thread for every finished transfer;
    // it calls remove() itself.
    explicit CurlLoop(std::function<void(void* easy, int result)> on_done);
    ~CurlLoop() override;  // every easy handle must have been removed
    CurlLoop(const CurlLoop&) = delete;
    CurlLoop& operator=(const CurlLoop&) = delete;

    // The loop's thread only. add() returns the shard to pass to remove().
    int add(void* easy);
    void remove(void* easy, int shard);

    // Native sockets (the loop's thread). A closed socket's number is not reused before
    // the next wait: close_later() closes it then, so an event of this wake-up still
    // queued for it can never reach a new socket of the same number.
    void set_fd_handler(FdHandler* h) { fd_handler_ = h; }
    void watch_fd(int fd, uint32_t events, bool added);  // EPOLL_CTL_ADD, or MOD when `added`
    void close_later(int fd);                             // unwatches it too

    void wait(int timeout_ms) override;  // the loop's thread
    void wakeup() override;              // any thread
    void process() override;             // the loop's thread

    struct Shard {  // one multi handle (public for libcurl's C callbacks)
        CurlLoop* loop = nullptr;
        void* multi = nullptr;  // CURLM*
        uint32_t index = 0;
        int running = 0;
        TimePoint deadline = TimePoint::max();  // curl wants socket_action(TIMEOUT) then
    };
    void watch(Shard& s, int fd, int what, void* socketp);

private:
    Shard shards_[kShards];
    int epfd_ = -1;
    int evfd_ = -1;
    std::vector<epoll_event> ready_;
    int nready_ = 0;
    std::function<void(void*, int)> on_done_;
    FdHandler* fd_handler_ = nullptr;
    std::vector<int> to_close_;
};

}  // namespace moa
