// One libcurl multi handle driven through its socket interface over epoll, as the
// Poller a Reactor sleeps in. curl says which sockets to watch for what
// (CURLMOPT_SOCKETFUNCTION) and when it next needs a call (CURLMOPT_TIMERFUNCTION);
// each wake-up hands curl only the sockets that are ready
// (curl_multi_socket_action), so its cost follows the traffic, not the number of
// connections (curl_multi_poll + curl_multi_perform walked every transfer and polled
// every socket on every wake-up). An eventfd wakes the loop from other threads; the
// owning Reactor's timers set the epoll timeout together with curl's deadline.
#pragma once

#include <sys/epoll.h>

#include <functional>
#include <vector>

#include "runtime/reactor.hpp"

namespace moa {

class CurlLoop : public Poller {
public:
    // `on_done(easy, result)` runs on the loop's thread for every finished transfer;
    // it removes the handle from multi() itself.
    explicit CurlLoop(std::function<void(void* easy, int result)> on_done);
    ~CurlLoop() override;  // every easy handle must have been removed
    CurlLoop(const CurlLoop&) = delete;
    CurlLoop& operator=(const CurlLoop&) = delete;

    void* multi() const { return multi_; }  // CURLM*; the loop's thread only

    void wait(int timeout_ms) override;  // the loop's thread
    void wakeup() override;              // any thread
    void process() override;             // the loop's thread

    // libcurl's C callbacks (public for them only).
    void watch(int fd, int what, void* socketp);
    void set_deadline(long timeout_ms);

private:
    void* multi_ = nullptr;
    int epfd_ = -1;
    int evfd_ = -1;
    std::vector<epoll_event> ready_;
    int nready_ = 0;
    TimePoint deadline_ = TimePoint::max();  // curl wants socket_action(TIMEOUT) then
    std::function<void(void*, int)> on_done_;
};

}  // namespace moa
