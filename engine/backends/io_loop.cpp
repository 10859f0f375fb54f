#include "backends/io_loop.hpp"

#include <curl/curl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace moa {

namespace {

constexpr uint32_t kWakeup = UINT32_MAX;      // the eventfd's "shard" in epoll data
constexpr uint32_t kNative = UINT32_MAX - 1;  // a native client's socket

uint64_t key(uint32_t shard, int fd) { return (static_cast<uint64_t>(shard) << 32) | static_cast<uint32_t>(fd); }

int on_socket(CURL*, curl_socket_t fd, int what, void* userp, void* socketp) {
    auto* s = static_cast<CurlLoop::Shard*>(userp);
    s->loop->watch(*s, static_cast<int>(fd), what, socketp);
    return 0;
}

// curl's timer callback: a deadline (-1 disarms, 0 means now), not a period. The
// call itself happens in process(), never from inside curl's callback.
int on_timer(CURLM*, long timeout_ms, void* userp) {
    auto* s = static_cast<CurlLoop::Shard*>(userp);
    s->deadline = timeout_ms < 0 ? TimePoint::max() : Clock::now() + std::chrono::milliseconds(timeout_ms);
    return 0;
}

}  // namespace

CurlLoop::CurlLoop(std::function<void(void*, int)> on_done) : ready_(256), on_done_(std::move(on_done)) {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    evfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epfd_ < 0 || evfd_ < 0) throw std::runtime_error(std::string("cannot create the HTTP event loop: ") + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = key(kWakeup, evfd_);
    epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev);
    for (uint32_t i = 0; i < kShards; ++i) {
        Shard& s = shards_[i];
        s.loop = this;
        s.index = i;
        CURLM* m = curl_multi_init();
        curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, 8192L / kShards);  // idle connections kept: 8,192 per thread
        curl_multi_setopt(m, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
        curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(m, CURLMOPT_SOCKETDATA, &s);
        curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(m, CURLMOPT_TIMERDATA, &s);
        s.multi = m;
    }
}

CurlLoop::~CurlLoop() {
    for (int fd : to_close_) close(fd);
    for (Shard& s : shards_) curl_multi_cleanup(static_cast<CURLM*>(s.multi));  // closes cached connections
    close(evfd_);
    close(epfd_);
}

int CurlLoop::add(void* easy) {
    int best = 0;
    for (int i = 0; i < kShards; ++i) {
        if (shards_[i].running < kShardFill) {
            best = i;
            break;
        }
        if (shards_[i].running < shards_[best].running) best = i;
    }
    ++shards_[best].running;
    curl_multi_add_handle(static_cast<CURLM*>(shards_[best].multi), static_cast<CURL*>(easy));
    return best;
}

void CurlLoop::remove(void* easy, int shard) {
    --shards_[shard].running;
    curl_multi_remove_handle(static_cast<CURLM*>(shards_[shard].multi), static_cast<CURL*>(easy));
}

// curl's socket callback: start, change or stop watching `fd`. `socketp` is what we
// assigned to the socket (non-null once it is in the epoll set).
void CurlLoop::watch(Shard& s, int fd, int what, void* socketp) {
    CURLM* m = static_cast<CURLM*>(s.multi);
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);  // ENOENT/EBADF: already gone with the socket
        curl_multi_assign(m, fd, nullptr);
        return;
    }
    epoll_event ev{};
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    ev.data.u64 = key(s.index, fd);
    // A socket curl closed without REMOVE may come back under the same number:
    // then ADD says EEXIST (or MOD ENOENT) and the other one does it.
    int op = socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(epfd_, op, fd, &ev) != 0)
        epoll_ctl(epfd_, op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
    if (!socketp) curl_multi_assign(m, fd, this);
}

void CurlLoop::watch_fd(int fd, uint32_t events, bool added) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = key(kNative, fd);
    epoll_ctl(epfd_, added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
}

void CurlLoop::close_later(int fd) {
    epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    to_close_.push_back(fd);
}

void CurlLoop::wait(int timeout_ms) {
    for (int fd : to_close_) close(fd);
    to_close_.clear();
    TimePoint deadline = TimePoint::max();
    for (const Shard& s : shards_) deadline = std::min(deadline, s.deadline);
    if (deadline != TimePoint::max()) {
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now()).count();
        int curl_ms = us <= 0 ? 0 : static_cast<int>(std::min<int64_t>((us + 999) / 1000, timeout_ms));
        timeout_ms = std::min(timeout_ms, curl_ms);
    }
    int n = epoll_wait(epfd_, ready_.data(), static_cast<int>(ready_.size()), timeout_ms);
    nready_ = n < 0 ? 0 : n;  // EINTR: nothing ready
}

void CurlLoop::wakeup() {
    uint64_t one = 1;
    ssize_t w = write(evfd_, &one, sizeof one);  // EAGAIN: the counter is already non-zero
    (void)w;
}

void CurlLoop::process() {
    int running = 0;
    for (int i = 0; i < nready_; ++i) {
        const epoll_event& ev = ready_[static_cast<size_t>(i)];
        uint32_t shard = static_cast<uint32_t>(ev.data.u64 >> 32);
        int fd = static_cast<int>(static_cast<uint32_t>(ev.data.u64));
        if (shard == kWakeup) {
            uint64_t v;
            ssize_t r = read(evfd_, &v, sizeof v);
            (void)r;
            continue;
        }
        if (shard == kNative) {
            if (fd_handler_) fd_handler_->ready(fd, ev.events);
            continue;
        }
        int flags = (ev.events & EPOLLIN ? CURL_CSELECT_IN : 0) | (ev.events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                    (ev.events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(static_cast<CURLM*>(shards_[shard].multi), fd, flags, &running);
    }
    nready_ = 0;
    TimePoint now = Clock::now();
    for (Shard& s : shards_) {
        if (s.deadline > now) continue;
        s.deadline = TimePoint::max();  // curl re-arms it from inside the call if it needs to
        curl_multi_socket_action(static_cast<CURLM*>(s.multi), CURL_SOCKET_TIMEOUT, 0, &running);
    }
    for (Shard& s : shards_) {
        int left = 0;
        while (CURLMsg* msg = curl_multi_info_read(static_cast<CURLM*>(s.multi), &left))
            if (msg->msg == CURLMSG_DONE) on_done_(msg->easy_handle, static_cast<int>(msg->data.result));
    }
}

}  // namespace moa
