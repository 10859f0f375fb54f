// fast_llm_server: a loopback OpenAI-compatible chat server for bench_http, cheap
// enough per request that the client under test, not the server, is what is measured
// (tests/http/fake_llm.py, in Python, is the fault-scripting server of the tests).
//
//   fast_llm_server [--delay-ms MS] [--threads N] [--processes N] [--max-seconds S]
//                   [--port-file F] [--ignore-stdin]
//   fast_llm_server --load [--connections C] [--seconds S] [--delay-ms MS]
//                   [--threads N] [--stream]     (measures the server's own capacity)
//                   [--port P --pid PID]         (or that of a server already running)
//
// Binds 127.0.0.1 on a free port and prints "PORT n" on stdout. POST .../chat/completions
// (body by Content-Length) gets an OpenAI chat completion with usage after the delay;
// a model name containing "delay-MS" sets the delay of that request; "stream":true gets
// SSE chunks, a usage chunk and [DONE]. GET /__stats returns counters as JSON
// (?reset restarts the maxima). HTTP/1.1 keep-alive. Each thread runs one epoll loop
// with a timer heap (never a thread or a sleep per request); all share one listening
// socket (EPOLLEXCLUSIVE). It exits after --max-seconds, or as soon as its stdin closes
// (the program that started it is gone), so it never outlives a benchmark.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <queue>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fast_llm.hpp"

namespace fastllm {
namespace {

using Clock = std::chrono::steady_clock;

int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

struct Counters {
    std::atomic<uint64_t> requests{0}, answered{0}, accepted{0}, accept_errors{0};
    std::atomic<int64_t> pending{0}, max_pending{0}, open{0}, max_open{0};
    long nofile = 0;
    int processes = 0;
    pid_t pids[64] = {};
};
// In shared memory: with --processes N every server process counts into the same place.
Counters* S = nullptr;

void raise_max(std::atomic<int64_t>& max, int64_t v) {
    int64_t m = max.load(std::memory_order_relaxed);
    while (v > m && !max.compare_exchange_weak(m, v, std::memory_order_relaxed)) {}
}

struct Conn {
    int fd = -1;
    uint64_t id = 0;
    std::string in, out;
    size_t out_off = 0;
    bool pending = false;  // a request waits for its timer
    bool want_out = false; // EPOLLOUT armed
    bool close_after = false;
    bool stream = false;   // the pending request's
    std::string model;
    size_t prompt_bytes = 0;
};

struct Timer {
    int64_t due;
    int fd;
    uint64_t id;
    bool operator>(const Timer& o) const { return due > o.due; }
};

bool ieq_prefix(std::string_view s, std::string_view lower_prefix) {
    if (s.size() < lower_prefix.size()) return false;
    for (size_t i = 0; i < lower_prefix.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(s[i])) != lower_prefix[i]) return false;
    return true;
}

// The value of header `name` (lower case, with the colon) in the head, or "".
std::string_view header(std::string_view head, std::string_view name) {
    size_t p = 0;
    while ((p = head.find("\r\n", p)) != std::string_view::npos) {
        p += 2;
        std::string_view line = head.substr(p, head.find("\r\n", p) - p);
        if (ieq_prefix(line, name)) {
            line.remove_prefix(name.size());
            while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
            return line;
        }
    }
    return {};
}

// The raw (still JSON-escaped) text of the first string field `"key"` in body.
std::string json_string(std::string_view body, std::string_view key) {
    size_t p = body.find(key);
    if (p == std::string_view::npos) return "";
    p = body.find('"', body.find(':', p + key.size()));
    if (p == std::string_view::npos) return "";
    size_t e = p + 1;
    while (e < body.size() && body[e] != '"') e += body[e] == '\\' ? 2 : 1;
    return std::string(body.substr(p + 1, std::min(e, body.size()) - p - 1).substr(0, 200));
}

class Worker {
public:
    Worker(int listen_fd, size_t max_fds, int delay_ms) : listen_(listen_fd), delay_ms_(delay_ms), conns_(max_fds) {
        ep_ = epoll_create1(EPOLL_CLOEXEC);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLEXCLUSIVE;
        ev.data.fd = listen_;
        epoll_ctl(ep_, EPOLL_CTL_ADD, listen_, &ev);
    }
    [[noreturn]] void run() {
        std::vector<epoll_event> evs(1024);
        for (;;) {
            int n = epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), timeout_ms());
            for (int i = 0; i < n; ++i) {
                if (evs[i].data.fd == listen_) accept_some();
                else on_event(evs[i].data.fd, evs[i].events);
            }
            fire_timers();
        }
    }

private:
    int timeout_ms() const {
        if (timers_.empty()) return 1000;
        int64_t ns = timers_.top().due - now_ns();
        return ns <= 0 ? 0 : static_cast<int>(std::min<int64_t>((ns + 999'999) / 1'000'000, 1000));
    }

    void accept_some() {
        for (int i = 0; i < 256; ++i) {  // a bounded batch, so one burst does not starve the rest
            int fd = accept4(listen_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) S->accept_errors++;
                return;
            }
            if (static_cast<size_t>(fd) >= conns_.size()) {
                ::close(fd);
                S->accept_errors++;
                continue;
            }
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            auto c = std::make_unique<Conn>();
            c->fd = fd;
            c->id = ++next_id_;
            conns_[static_cast<size_t>(fd)] = std::move(c);
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.fd = fd;
            epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
            S->accepted++;
            raise_max(S->max_open, ++S->open);
        }
    }

    void on_event(int fd, uint32_t events) {
        Conn* c = conns_[static_cast<size_t>(fd)].get();
        if (!c) return;
        if (events & (EPOLLERR | EPOLLHUP)) return close_conn(c);
        if ((events & EPOLLOUT) && !flush(c)) return;
        if (events & EPOLLIN) {
            char buf[65536];
            for (;;) {
                ssize_t n = ::read(fd, buf, sizeof buf);
                if (n > 0) {
                    c->in.append(buf, static_cast<size_t>(n));
                    if (static_cast<size_t>(n) < sizeof buf) break;
                } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                    break;
                } else if (n < 0 && errno == EINTR) {
                    continue;
                } else {
                    return close_conn(c);  // the peer closed, or an error
                }
            }
            process(c);
        }
    }

    // Handles every complete request in c->in, one at a time (the next one waits for
    // the answer of the one before, as HTTP/1.1 requires).
    void process(Conn* c) {
        while (!c->pending && !c->close_after) {
            size_t he = c->in.find("\r\n\r\n");
            if (he == std::string::npos) {
                if (c->in.size() > (1u << 20)) close_conn(c);
                return;
            }
            std::string_view head(c->in.data(), he);
            size_t cl = static_cast<size_t>(std::atoll(std::string(header(head, "content-length:")).c_str()));
            if (c->in.size() < he + 4 + cl) return;
            std::string_view body(c->in.data() + he + 4, cl);
            c->close_after = ieq_prefix(header(head, "connection:"), "close");
            std::string answer;
            if (head.compare(0, 5, "POST ") == 0 && head.find("/chat/completions ") != std::string_view::npos) {
                S->requests++;
                c->stream = body.find("\"stream\":true") != std::string_view::npos ||
                            body.find("\"stream\": true") != std::string_view::npos;
                c->model = json_string(body, "\"model\"");
                c->prompt_bytes = body.size();
                int delay = delay_ms_;
                if (size_t d = c->model.find("delay-"); d != std::string::npos) delay = std::atoi(c->model.c_str() + d + 6);
                c->in.erase(0, he + 4 + cl);
                if (delay > 0) {
                    c->pending = true;
                    raise_max(S->max_pending, ++S->pending);
                    timers_.push({now_ns() + int64_t(delay) * 1'000'000, c->fd, c->id});
                    return;
                }
                answer = completion(*c);
            } else if (head.compare(0, 12, "GET /__stats") == 0) {
                if (head.compare(12, 6, "?reset") == 0) {
                    S->max_pending = S->pending.load();
                    S->max_open = S->open.load();
                }
                answer = reply(200, "application/json", stats_json());
                c->in.erase(0, he + 4 + cl);
            } else {
                answer = reply(404, "application/json", R"({"error":{"message":"not found","type":"invalid_request_error"}})");
                c->in.erase(0, he + 4 + cl);
            }
            c->out += answer;
            if (!flush(c)) return;
        }
    }

    void fire_timers() {
        int64_t now = now_ns();
        while (!timers_.empty() && timers_.top().due <= now) {
            Timer t = timers_.top();
            timers_.pop();
            Conn* c = conns_[static_cast<size_t>(t.fd)].get();
            if (!c || c->id != t.id || !c->pending) continue;  // closed meanwhile
            c->pending = false;
            S->pending--;
            c->out += completion(*c);
            if (flush(c)) process(c);
        }
    }

    // Writes what it can; false if the connection was closed.
    bool flush(Conn* c) {
        while (c->out_off < c->out.size()) {
            ssize_t n = ::send(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off, MSG_NOSIGNAL);
            if (n > 0) {
                c->out_off += static_cast<size_t>(n);
            } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                if (!c->want_out) set_out(c, true);
                return true;
            } else if (n < 0 && errno == EINTR) {
                continue;
            } else {
                close_conn(c);
                return false;
            }
        }
        c->out.clear();
        c->out_off = 0;
        if (c->want_out) set_out(c, false);
        if (c->close_after) {
            close_conn(c);
            return false;
        }
        return true;
    }

    void set_out(Conn* c, bool on) {
        c->want_out = on;
        epoll_event ev{};
        ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
        ev.data.fd = c->fd;
        epoll_ctl(ep_, EPOLL_CTL_MOD, c->fd, &ev);
    }

    void close_conn(Conn* c) {
        if (c->pending) S->pending--;
        S->open--;
        int fd = c->fd;
        conns_[static_cast<size_t>(fd)].reset();
        ::close(fd);  // also leaves the epoll set
    }

    static std::string reply(int status, const char* type, const std::string& body) {
        std::string r = status == 200 ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.1 404 Not Found\r\n";
        r += "Content-Type: ";
        r += type;
        r += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
        r += body;
        return r;
    }

    std::string completion(const Conn& c) {
        uint64_t n = S->answered.fetch_add(1, std::memory_order_relaxed);
        std::string id = "\"id\":\"chatcmpl-" + std::to_string(n) + "\",\"model\":\"" + c.model + "\"";
        std::string text = "answer " + std::to_string(n) + " from " + c.model;
        size_t in_tokens = c.prompt_bytes / 4;
        std::string usage = "\"usage\":{\"prompt_tokens\":" + std::to_string(in_tokens) +
                            ",\"completion_tokens\":7,\"total_tokens\":" + std::to_string(in_tokens + 7) + "}";
        if (!c.stream)
            return reply(200, "application/json",
                         "{" + id + ",\"object\":\"chat.completion\",\"created\":0,\"choices\":[{\"index\":0,\"message\":"
                         "{\"role\":\"assistant\",\"content\":\"" + text + "\"},\"finish_reason\":\"stop\"}]," + usage + "}");
        std::string head = "data: {" + id + ",\"object\":\"chat.completion.chunk\",\"created\":0,\"choices\":";
        std::string sse = head + "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n";
        for (size_t i = 0; i < text.size(); i += 12)
            sse += head + "[{\"index\":0,\"delta\":{\"content\":\"" + text.substr(i, 12) + "\"},\"finish_reason\":null}]}\n\n";
        sse += head + "[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
        sse += head + "[]," + usage + "}\n\n";
        sse += "data: [DONE]\n\n";
        return reply(200, "text/event-stream", sse);
    }

    // utime + stime of every server process.
    static double cpu_ms() {
        double ms = 0;
        for (int i = 0; i < S->processes; ++i) ms += process_cpu_ms(S->pids[i]);
        return ms;
    }

    static std::string stats_json() {
        char b[640];
        std::snprintf(b, sizeof b,
                      "{\"requests\":%llu,\"answered\":%llu,\"pending\":%lld,\"max_pending\":%lld,\"open\":%lld,"
                      "\"max_open\":%lld,\"accepted\":%llu,\"accept_errors\":%llu,\"nofile\":%ld,\"processes\":%d,"
                      "\"cpu_ms\":%.1f}",
                      (unsigned long long)S->requests.load(), (unsigned long long)S->answered.load(),
                      (long long)S->pending.load(), (long long)S->max_pending.load(), (long long)S->open.load(),
                      (long long)S->max_open.load(), (unsigned long long)S->accepted.load(),
                      (unsigned long long)S->accept_errors.load(), S->nofile, S->processes, cpu_ms());
        return b;
    }

    int listen_, ep_ = -1, delay_ms_;
    uint64_t next_id_ = 0;
    std::vector<std::unique_ptr<Conn>> conns_;  // by fd; this thread's connections only
    std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
};

// Returns at EOF on stdin or when the lifetime is over.
void wait_for_end(double max_seconds, bool watch_stdin) {
    auto end = Clock::now() + std::chrono::duration<double>(max_seconds);
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
        if (left <= 0) return;
        pollfd p{0, POLLIN, 0};
        int n = poll(watch_stdin ? &p : nullptr, watch_stdin ? 1 : 0, static_cast<int>(std::min<long long>(left, 1000)));
        if (n > 0) {
            char b[256];
            ssize_t r = ::read(0, b, sizeof b);
            if (r <= 0 && !(r < 0 && errno == EINTR)) return;  // stdin closed: our parent is gone
        }
    }
}

}  // namespace

void serve(const ServerOptions& o) {
    signal(SIGPIPE, SIG_IGN);
    void* mem = mmap(nullptr, sizeof(Counters), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    S = new (mem) Counters;
    S->nofile = raise_nofile(1 << 20);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 65535) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        std::fprintf(stderr, "fast_llm_server: 127.0.0.1: %s\n", std::strerror(errno));
        std::exit(1);
    }
    int port = ntohs(a.sin_port);
    if (!o.port_file.empty()) {
        std::string tmp = o.port_file + ".tmp";
        if (FILE* f = std::fopen(tmp.c_str(), "w")) {
            std::fprintf(f, "%d\n", port);
            std::fclose(f);
            std::rename(tmp.c_str(), o.port_file.c_str());
        }
    }
    // More processes when one file table is not enough (RLIMIT_NOFILE): they share the
    // listening socket and the counters; each exits when the common stdin closes.
    int procs = std::clamp(o.processes, 1, 64);
    S->pids[0] = getpid();
    S->processes = procs;
    for (int i = 1; i < procs; ++i) {
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            break;
        }
        S->pids[i] = pid;
    }
    for (int i = 0; i < std::max(1, o.threads); ++i)
        std::thread([fd, d = o.delay_ms, n = static_cast<size_t>(S->nofile)] { Worker(fd, n, d).run(); }).detach();
    if (getpid() == S->pids[0]) {
        std::printf("PORT %d\n", port);
        std::fflush(stdout);
    }
    wait_for_end(o.max_seconds, o.watch_stdin);
    std::fflush(stdout);
    _exit(0);  // the workers never return; the process ends with them
}

}  // namespace fastllm

namespace {

[[noreturn]] void usage() {
    std::fputs("usage: fast_llm_server [--delay-ms MS] [--threads N] [--processes N] [--max-seconds S] [--port-file F] [--ignore-stdin]\n"
               "       fast_llm_server --load [--connections C] [--seconds S] [--delay-ms MS] [--threads N] [--stream]\n"
               "                      [--port P --pid PID]\n",
               stderr);
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    fastllm::ServerOptions s;
    fastllm::LoadOptions l;
    bool load = false, ignore_stdin = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : (usage(), ""); };
        if (a == "--delay-ms") s.delay_ms = l.delay_ms = std::atoi(value());
        else if (a == "--threads") s.threads = l.server_threads = std::atoi(value());
        else if (a == "--processes") s.processes = std::atoi(value());
        else if (a == "--max-seconds") s.max_seconds = std::atof(value());
        else if (a == "--port-file") s.port_file = value();
        else if (a == "--ignore-stdin") ignore_stdin = true;
        else if (a == "--load") load = true;
        else if (a == "--connections") l.connections = std::atoi(value());
        else if (a == "--seconds") l.seconds = std::atof(value());
        else if (a == "--stream") l.stream = true;
        else if (a == "--port") l.port = std::atoi(value());
        else if (a == "--pid") l.pid = std::atoi(value());
        else usage();
    }
    if (load) return fastllm::run_load(argv[0], l);
    s.watch_stdin = !ignore_stdin;
    fastllm::serve(s);
}
