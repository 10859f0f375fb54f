#include "backends/http_native.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>  // the CURLcode values done() reports
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "moa/ascii.hpp"

namespace moa {

namespace {

struct Addr {
    sockaddr_storage sa{};
    socklen_t len = 0;
};

bool literal(const std::string& host, int port, Addr& a) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.sa);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.sa);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<uint16_t>(port));
        a.len = sizeof(sockaddr_in);
        return true;
    }
    if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<uint16_t>(port));
        a.len = sizeof(sockaddr_in6);
        return true;
    }
    return false;
}

std::vector<Addr> addresses(const std::string& host, int port) {
    std::vector<Addr> out;
    Addr a;
    if (literal(host, port, a)) out.push_back(a);
    else if (ascii::lower(host) == "localhost")
        for (const char* h : {"127.0.0.1", "::1"})
            if (Addr l; literal(h, port, l)) out.push_back(l);
    return out;
}

}  // namespace

struct NativeHttp::Conn {
    int fd = -1;
    std::string key;  // host:port
    std::vector<Addr> addrs;
    size_t next_addr = 0;
    Sink* sink = nullptr;  // null while idle
    std::string out;
    size_t off = 0;
    http1::Response resp;
    bool reused = false, retried = false, connecting = false, in_epoll = false;
    uint32_t events = 0;
    const char* os_call = nullptr;  // the last socket() or connect() that failed, and its errno
    int os_err = 0;
    size_t idle_pos = 0;  // index in idle_[key] while idle
};

NativeHttp::NativeHttp(CurlLoop& loop) : loop_(loop) { loop_.set_fd_handler(this); }

NativeHttp::~NativeHttp() {
    loop_.set_fd_handler(nullptr);
    for (Conn* c : by_fd_) {
        if (!c) continue;
        ::close(c->fd);
        delete c;
    }
}

bool NativeHttp::resolvable(const std::string& host) {
    Addr a;
    return literal(host, 80, a) || ascii::lower(host) == "localhost";
}

NativeHttp::Conn* NativeHttp::start(const http1::Url& url, std::string bytes, Sink* sink) {
    std::string key = url.host + ":" + std::to_string(url.port);
    if (auto it = idle_.find(key); it != idle_.end() && !it->second.empty()) {
        Conn* c = it->second.back();
        it->second.pop_back();
        --idle_count_;
        c->sink = sink;
        c->out = std::move(bytes);
        c->reused = true;
        c->retried = false;
        sink->on_connected();
        return send(c) ? c : nullptr;
    }
    auto* c = new Conn;
    c->key = std::move(key);
    c->addrs = addresses(url.host, url.port);
    c->sink = sink;
    c->out = std::move(bytes);
    return open(c) ? c : nullptr;
}

void NativeHttp::cancel(Conn* c) {
    c->sink = nullptr;
    close(c);
}

// Every function below that may end the request returns false once it has (on_done()
// ran and `c` may be gone), true while the request goes on.
bool NativeHttp::open(Conn* c) {
    while (c->next_addr < c->addrs.size()) {
        const Addr& a = c->addrs[c->next_addr++];
        int fd = socket(a.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            c->os_call = "socket()", c->os_err = errno;  // EMFILE: the process's file limit
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // as curl: a request is one write
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        int rc = connect(fd, reinterpret_cast<const sockaddr*>(&a.sa), a.len);
        if (rc != 0 && errno != EINPROGRESS) {
            c->os_call = "connect()", c->os_err = errno;
            ::close(fd);  // never watched: its number can be reused at once
            continue;
        }
        c->fd = fd;
        if (static_cast<size_t>(fd) >= by_fd_.size()) by_fd_.resize(static_cast<size_t>(fd) * 2 + 16, nullptr);
        by_fd_[static_cast<size_t>(fd)] = c;
        c->in_epoll = false;
        c->off = 0;
        if (rc == 0) {
            watch(c, EPOLLIN);
            return connected(c);
        }
        c->connecting = true;
        watch(c, EPOLLOUT);
        return true;
    }
    fail(c, CURLE_COULDNT_CONNECT);
    return false;
}

bool NativeHttp::connected(Conn* c) {
    c->connecting = false;
    c->sink->on_connected();
    return send(c);
}

void NativeHttp::watch(Conn* c, uint32_t events) {
    if (c->in_epoll && c->events == events) return;
    loop_.watch_fd(c->fd, events, c->in_epoll);
    c->in_epoll = true;
    c->events = events;
}

bool NativeHttp::send(Conn* c) {
    while (c->off < c->out.size()) {
        ssize_t n = ::send(c->fd, c->out.data() + c->off, c->out.size() - c->off, MSG_NOSIGNAL);
        if (n > 0) {
            c->off += static_cast<size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            watch(c, EPOLLIN | EPOLLOUT);
            return true;
        } else {
            return retry_or_fail(c, CURLE_SEND_ERROR);
        }
    }
    watch(c, EPOLLIN);
    return true;
}

// The server closed a kept-alive connection (its idle timeout) as the request went
// out: nothing of it was answered, so it goes again once, on a new connection.
bool NativeHttp::retry_or_fail(Conn* c, int curl_code) {
    if (!c->reused || c->retried || c->resp.got_bytes()) {
        fail(c, curl_code);
        return false;
    }
    by_fd_[static_cast<size_t>(c->fd)] = nullptr;
    loop_.close_later(c->fd);
    c->fd = -1;
    c->reused = false;
    c->retried = true;
    c->resp = http1::Response();
    c->addrs = {};
    size_t colon = c->key.rfind(':');
    c->addrs = addresses(c->key.substr(0, colon), std::atoi(c->key.c_str() + colon + 1));
    c->next_addr = 0;
    return open(c);
}

void NativeHttp::ready(int fd, uint32_t events) {
    if (fd < 0 || static_cast<size_t>(fd) >= by_fd_.size() || !by_fd_[static_cast<size_t>(fd)]) return;
    Conn* c = by_fd_[static_cast<size_t>(fd)];
    if (!c->sink) {  // idle: the server closed it (or sent what nobody asked for)
        auto& pool = idle_[c->key];
        pool[c->idle_pos] = pool.back();
        pool[c->idle_pos]->idle_pos = c->idle_pos;
        pool.pop_back();
        --idle_count_;
        return close(c);
    }
    if (c->connecting) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {  // refused: the next address, if any
            c->os_call = "connect()", c->os_err = err;
            by_fd_[static_cast<size_t>(fd)] = nullptr;
            loop_.close_later(fd);
            c->fd = -1;
            c->connecting = false;
            open(c);
            return;
        }
        if (!connected(c)) return;
        return;
    }
    if ((events & EPOLLOUT) && c->off < c->out.size() && !send(c)) return;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) receive(c);
}

void NativeHttp::receive(Conn* c) {
    if (buf_.empty()) buf_.resize(64 << 10);
    Sink* s = c->sink;
    auto on_header = [s](std::string_view n, std::string_view v) { s->on_header(n, v); };
    auto on_body = [s, c](const char* d, size_t len) { return s->on_body(c->resp.status(), d, len); };
    for (;;) {
        ssize_t n = ::recv(c->fd, buf_.data(), buf_.size(), 0);
        if (n > 0) {
            auto r = c->resp.feed(buf_.data(), static_cast<size_t>(n), on_header, on_body);
            if (r == http1::Response::Result::Done) return complete(c);
            if (r == http1::Response::Result::Aborted) return fail(c, CURLE_WRITE_ERROR);
            if (r == http1::Response::Result::Error)
                return fail(c, c->resp.bad_encoding() ? CURLE_BAD_CONTENT_ENCODING : CURLE_WEIRD_SERVER_REPLY);
            if (static_cast<size_t>(n) < buf_.size()) return;  // level-triggered: the rest wakes us again
            continue;
        }
        if (n == 0) {
            if (!c->resp.got_bytes()) {
                retry_or_fail(c, CURLE_GOT_NOTHING);
                return;
            }
            if (c->resp.eof(on_body) == http1::Response::Result::Done) return complete(c);
            return fail(c, CURLE_PARTIAL_FILE);
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        retry_or_fail(c, CURLE_RECV_ERROR);
        return;
    }
}

void NativeHttp::complete(Conn* c) {
    Sink* s = c->sink;
    int status = c->resp.status();
    c->sink = nullptr;
    if (c->resp.keep_alive() && c->off == c->out.size()) park(c);
    else close(c);
    s->on_done(CURLE_OK, status);
}

void NativeHttp::fail(Conn* c, int curl_code) {
    Sink* s = c->sink;
    int status = c->resp.status();
    const char* os_call = c->os_call;
    int os_err = c->os_err;
    c->sink = nullptr;
    close(c);
    if (os_call && curl_code == CURLE_COULDNT_CONNECT) s->on_os_error(os_call, os_err);
    s->on_done(curl_code, status);
}

void NativeHttp::park(Conn* c) {
    if (idle_count_ >= kMaxIdle) return close(c);
    c->out = std::string();
    c->off = 0;
    c->resp = http1::Response();
    auto& pool = idle_[c->key];
    c->idle_pos = pool.size();
    pool.push_back(c);
    ++idle_count_;
}

void NativeHttp::close(Conn* c) {
    if (c->fd >= 0) {
        by_fd_[static_cast<size_t>(c->fd)] = nullptr;
        loop_.close_later(c->fd);
    }
    delete c;
}

}  // namespace moa
