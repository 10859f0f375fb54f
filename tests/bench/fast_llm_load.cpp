// The capacity measurement of fast_llm_server (`fast_llm_server --load`): a closed-loop
// load generator on one epoll thread. Each of C keep-alive connections sends the next
// request as soon as the previous answer is complete; after a 0.5 s warm-up it counts
// answers for S seconds and reads the server child's CPU time from /proc, so the
// figure that matters -- server CPU per request -- does not depend on how fast this
// generator is.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fast_llm.hpp"

namespace fastllm {

long raise_nofile(long wanted) {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_max != RLIM_INFINITY && static_cast<long>(rl.rlim_max) < wanted) {
        rlimit up{static_cast<rlim_t>(wanted), static_cast<rlim_t>(wanted)};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0) return wanted;  // privileged: above the old hard limit
    }
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return static_cast<long>(rl.rlim_cur);
}

Child spawn_server(const char* self, int delay_ms, int threads, double max_seconds, int processes) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return {};
    Child c;
    c.pid = fork();
    if (c.pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        std::string d = std::to_string(delay_ms), t = std::to_string(threads), s = std::to_string(max_seconds),
                    p = std::to_string(processes);
        execl(self, self, "--delay-ms", d.c_str(), "--threads", t.c_str(), "--max-seconds", s.c_str(), "--processes",
              p.c_str(), nullptr);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    c.stdin_fd = in[1];
    FILE* f = fdopen(out[0], "r");
    char line[64] = {0};
    if (!f || !fgets(line, sizeof line, f) || std::sscanf(line, "PORT %d", &c.port) != 1) c.port = 0;
    if (f) std::fclose(f);
    return c;
}

void stop_server(Child& c) {
    if (c.stdin_fd >= 0) close(c.stdin_fd);  // the server exits when its stdin closes
    if (c.pid > 0) waitpid(c.pid, nullptr, 0);
    c = Child{};
}

// The sum over the process's threads of /proc/PID/task/TID/schedstat's first field
// (ns on a CPU): finer than the 10 ms ticks of /proc/PID/stat, which is the fallback.
static double schedstat_ms(pid_t pid) {
    std::string dir = "/proc/" + std::to_string(pid) + "/task";
    DIR* d = opendir(dir.c_str());
    if (!d) return -1;
    double ns = 0;
    bool any = false;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        FILE* f = std::fopen((dir + "/" + e->d_name + "/schedstat").c_str(), "r");
        if (!f) continue;
        double v = 0;
        if (std::fscanf(f, "%lf", &v) == 1) {
            ns += v;
            any = true;
        }
        std::fclose(f);
    }
    closedir(d);
    return any ? ns / 1e6 : -1;
}

double process_cpu_ms(pid_t pid) {
    if (double ms = schedstat_ms(pid); ms >= 0) return ms;
    std::string path = "/proc/" + std::to_string(pid) + "/stat";
    FILE* f = std::fopen(path.c_str(), "r");
    if (!f) return 0;
    char buf[1024] = {0};
    size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = 0;
    const char* p = std::strrchr(buf, ')');  // the command name may hold spaces
    if (!p) return 0;
    unsigned long long ut = 0, st = 0;
    // fields after ')': state(3) ... utime(14) stime(15)
    if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return 0;
    return (ut + st) * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

namespace {

using Clock = std::chrono::steady_clock;

double self_cpu_ms() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

std::string request(bool stream) {
    // About the size of one of moa's first-layer calls.
    std::string body = R"({"model":"bench-model","messages":[{"role":"user","content":")" + std::string(400, 'q') +
                       R"("}],"temperature":0.7,"max_tokens":64,"stream":)" + (stream ? "true" : "false") + "}";
    return "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer bench\r\n"
           "Content-Type: application/json\r\nAccept: */*\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
}

struct Client {
    int fd = -1;
    bool connected = false;
    std::string in;
    Clock::time_point sent;
};

// Bytes of one complete response at the front of `in`, or 0 if it is not all there.
size_t complete(const std::string& in) {
    size_t he = in.find("\r\n\r\n");
    if (he == std::string::npos) return 0;
    size_t p = in.find("Content-Length: ");
    if (p == std::string::npos || p > he) return 0;
    size_t total = he + 4 + std::strtoull(in.c_str() + p + 16, nullptr, 10);
    return in.size() >= total ? total : 0;
}

bool send_all(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
        ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return false;  // a small request always fits the empty socket buffer
        off += static_cast<size_t>(n);
    }
    return true;
}

}  // namespace

int run_load(const char* self, const LoadOptions& o) {
    signal(SIGPIPE, SIG_IGN);
    long nofile = raise_nofile(o.connections + 64L);
    Child server;
    if (o.port > 0) {  // someone else's server (e.g. tests/http/fake_llm.py), not our child
        server.port = o.port;
        server.pid = o.pid;
    } else {
        server = spawn_server(self, o.delay_ms, o.server_threads, o.seconds + 60);
    }
    if (server.port == 0) {
        std::fprintf(stderr, "load: the server did not start\n");
        return 1;
    }
    std::string req = request(o.stream);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    std::vector<Client> clients(static_cast<size_t>(o.connections));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(server.port));
    for (size_t i = 0; i < clients.size(); ++i) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            std::fprintf(stderr, "load: socket %zu: %s (nofile %ld)\n", i, std::strerror(errno), nofile);
            if (o.port == 0) stop_server(server);
            return 1;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);  // EINPROGRESS: writable when connected
        clients[i].fd = fd;
        epoll_event ev{};
        ev.events = EPOLLOUT | EPOLLIN;
        ev.data.u64 = i;
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    auto t0 = Clock::now();
    auto start = t0 + std::chrono::milliseconds(500);
    auto end = start + std::chrono::duration<double>(o.seconds);
    bool measuring = false;
    double srv0 = 0, cli0 = 0;
    size_t done = 0, errors = 0;
    std::vector<float> lat_ms;
    std::vector<epoll_event> evs(4096);
    char buf[65536];
    for (;;) {
        auto now = Clock::now();
        if (!measuring && now >= start) {
            measuring = true;
            srv0 = process_cpu_ms(server.pid);
            cli0 = self_cpu_ms();
        }
        if (now >= end) break;
        int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 10);
        for (int k = 0; k < n; ++k) {
            Client& c = clients[evs[k].data.u64];
            if (evs[k].events & (EPOLLERR | EPOLLHUP)) {
                errors++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
                continue;
            }
            if (!c.connected && (evs[k].events & EPOLLOUT)) {
                c.connected = true;
                epoll_event ev{};
                ev.events = EPOLLIN;
                ev.data.u64 = evs[k].data.u64;
                epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
                c.sent = Clock::now();
                if (!send_all(c.fd, req)) errors++;
                continue;
            }
            ssize_t r;
            while ((r = ::read(c.fd, buf, sizeof buf)) > 0) c.in.append(buf, static_cast<size_t>(r));
            size_t len;
            while ((len = complete(c.in)) > 0) {
                c.in.erase(0, len);
                auto t = Clock::now();
                if (measuring && t < end) {
                    done++;
                    lat_ms.push_back(std::chrono::duration<float, std::milli>(t - c.sent).count());
                }
                c.sent = t;
                if (!send_all(c.fd, req)) errors++;
            }
        }
    }
    double srv = process_cpu_ms(server.pid) - srv0, cli = self_cpu_ms() - cli0;
    for (auto& c : clients) close(c.fd);
    if (o.port == 0) stop_server(server);
    std::sort(lat_ms.begin(), lat_ms.end());
    auto pct = [&](double p) { return lat_ms.empty() ? 0.0 : lat_ms[static_cast<size_t>(p * (lat_ms.size() - 1))]; };
    double rps = done / o.seconds;
    if (o.port > 0) std::printf("(server on port %d, pid %d) ", o.port, int(o.pid));
    std::printf("server capacity: %d connections, delay %d ms, %d server thread(s)%s: %.0f requests/s over %.1f s "
                "(%zu answers, %zu errors); server CPU %.2f us/request (%.0f%% of a core), load generator CPU "
                "%.2f us/request; latency p50 %.2f ms p99 %.2f ms\n",
                o.connections, o.delay_ms, o.server_threads, o.stream ? ", streamed" : "", rps, o.seconds, done, errors,
                done ? srv * 1e3 / done : 0.0, srv / (o.seconds * 10), done ? cli * 1e3 / done : 0.0, pct(0.5), pct(0.99));
    return errors == 0 && done > 0 ? 0 : 1;
}

}  // namespace fastllm
