// `bench_http scale`: the figures of issue 12 (HTTP at scale) in one run, against
// fast_llm_server (C++, epoll) rather than the Python fake server.
//
//   0. the server's own capacity (fast_llm_server --load), so it is known not to be
//      the bottleneck;
//   a. reactor CPU and client CPU per call, 805 queries x the paper's MoA at 256 and
//      at 2,048 calls in flight (backend max_concurrent; --max-jobs 805 so the jobs
//      never cap the calls), 200 ms per call;
//   b. wall / ideal for the same run at 2,048 in flight with default EngineOptions
//      (no max_jobs override);
//   c. N = 20,000 one-call jobs at once (max_concurrent = max_jobs = N): how many
//      complete, how many the server saw in flight at once, wall / ideal.
//
// Ideal for a run of C calls of latency L with at most K in flight through a graph of
// depth D (calls in a chain): max(D, ceil(C / K)) x L. Each of the K slots completes
// at most floor(T / L) calls by time T, and a job needs D calls in sequence. The
// fluid bound C x L / K (no rounding) is printed too.
#include <curl/curl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "bench_scale.hpp"
#include "bench_util.hpp"
#include "fast_llm.hpp"
#include "thread_cpu.hpp"

namespace moa::bench {
namespace {

constexpr int kLatencyMs = 200;

std::string uptime_load() {
    std::ifstream f("/proc/loadavg");
    std::string a, b, c;
    f >> a >> b >> c;
    return "load " + a + " " + b + " " + c;
}

long read_long(const char* path) {
    std::ifstream f(path);
    long v = -1;
    f >> v;
    return v;
}

// GET /__stats of the server (?reset restarts its maxima).
std::string server_stats(int port, bool reset) {
    std::string body, url = "http://127.0.0.1:" + std::to_string(port) + "/__stats" + (reset ? "?reset" : "");
    CURL* e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, +[](char* d, size_t s, size_t n, void* p) {
        static_cast<std::string*>(p)->append(d, s * n);
        return s * n;
    });
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    curl_easy_perform(e);
    curl_easy_cleanup(e);
    return body;
}

double stat_field(const std::string& json, const std::string& name) {
    size_t p = json.find("\"" + name + "\":");
    return p == std::string::npos ? -1 : std::atof(json.c_str() + p + name.size() + 3);
}

// The paper's graph (graphs/paper-moa.moa) with its backend replaced by one on the
// loopback server: same agents, same layers, no rate limit.
std::string paper_graph(int port, int max_concurrent) {
    std::ifstream f(MOA_SOURCE_DIR "/graphs/paper-moa.moa");
    std::stringstream ss;
    ss << f.rdbuf();
    std::string text = ss.str();
    size_t b = text.find("backend together {");
    if (b == std::string::npos) throw std::runtime_error("graphs/paper-moa.moa: no `backend together` block");
    size_t e = b, depth = 0;
    for (; e < text.size(); ++e) {
        if (text[e] == '{') depth++;
        if (text[e] == '}' && --depth == 0) break;
    }
    return text.substr(0, b) + "backend together { kind = openai  base_url = \"http://127.0.0.1:" + std::to_string(port) +
           "/v1\"  api_key_env = \"BENCH_KEY\"  max_concurrent = " + std::to_string(max_concurrent) + " }" +
           text.substr(e + 1);
}

std::string one_agent_graph(int port, int max_concurrent) {
    return "backend b { kind = openai  base_url = \"http://127.0.0.1:" + std::to_string(port) +
           "/v1\"  api_key_env = \"BENCH_KEY\"  max_concurrent = " + std::to_string(max_concurrent) +
           " }\nagent a { backend = b  model = \"bench\"  max_tokens = 64 }\nlayer l = a\noutput o = l\n";
}

// Runs a batch with a watchdog: past `limit_s` the engine is cancelled (public API), so
// the bench always ends; the report says so.
struct Measured {
    RunStats st;
    ThreadCpu::Result threads;
    double cpu_ms = 0, server_cpu_ms = 0, max_in_flight = 0, max_open = 0, server_answered = 0;
    bool timed_out = false;
    std::string first_error;  // of the first failed job, if any
};

Measured measure(Engine& e, size_t queries, int port, double limit_s) {
    Measured m;
    server_stats(port, true);
    std::string s0 = server_stats(port, false);
    double srv0 = stat_field(s0, "cpu_ms"), answered0 = stat_field(s0, "answered");
    ThreadCpu tc;
    tc.start();
    double c0 = cpu_ms();
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::thread dog([&] {
        std::unique_lock lock(mu);
        if (!cv.wait_for(lock, std::chrono::duration<double>(limit_s), [&] { return done; })) {
            m.timed_out = true;
            e.cancel();
        }
    });
    Counted src(queries);
    m.st = e.run_batch(src, [&m](JobResult&& r) {
        if (!r.ok && m.first_error.empty()) m.first_error = r.error_node + ": " + r.error;
    });
    m.cpu_ms = cpu_ms() - c0;
    {
        std::lock_guard lock(mu);
        done = true;
    }
    cv.notify_all();
    dog.join();
    m.threads = tc.stop();
    m.cpu_ms -= m.threads.sampler_ms;  // the sampler is the bench's, not the client's
    std::string s = server_stats(port, false);
    m.server_cpu_ms = stat_field(s, "cpu_ms") - srv0;
    m.max_in_flight = stat_field(s, "max_pending");
    m.max_open = stat_field(s, "max_open");
    m.server_answered = stat_field(s, "answered") - answered0;
    return m;
}

void report(const Measured& m, int depth, int k) {
    std::string by_name;
    for (const auto& [name, ms] : m.threads.by_name_ms)
        by_name += " " + name + " " + std::to_string(static_cast<int>(ms * 1e4 / std::max<size_t>(1, m.st.calls)) / 10.0).substr(0, 5);
    double calls = static_cast<double>(m.st.calls ? m.st.calls : 1);
    double ideal = std::max<double>(depth, std::ceil(m.st.calls / double(k))) * kLatencyMs;
    double fluid = m.st.calls * double(kLatencyMs) / k;
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    if (m.timed_out) std::printf("  ** TIMED OUT after the watchdog's limit: the engine was cancelled **\n");
    std::printf("  jobs ok=%zu failed=%zu calls=%zu retries=%zu failed calls=%zu; wall %.0f ms, ideal %.0f ms, "
                "wall/ideal %.2f (fluid bound C*L/K %.0f ms, wall/fluid %.2f)\n"
                "  reactor CPU %.1f us/call (%d I/O thread(s): %s; %.0f ms), client CPU %.1f us/call (process, %.0f ms), "
                "other threads %.0f ms\n"
                "  client max RSS so far %.0f MB; server: %.0f answers, CPU %.1f us/call (%.0f ms, %.0f%% of the wall time), "
                "max requests in flight %.0f, max connections open %.0f; %s\n",
                m.st.jobs_ok, m.st.jobs_failed,
                m.st.calls, m.st.retries, m.st.calls_failed, m.st.wall_ms, ideal, m.st.wall_ms / ideal, fluid,
                m.st.wall_ms / fluid, m.threads.io_ms * 1e3 / calls, m.threads.io_threads,
                m.threads.io_names.empty() ? "none seen" : m.threads.io_names.c_str(), m.threads.io_ms,
                m.cpu_ms * 1e3 / calls, m.cpu_ms, m.threads.other_ms, ru.ru_maxrss / 1024.0, m.server_answered, m.server_cpu_ms * 1e3 / calls, m.server_cpu_ms,
                100 * m.server_cpu_ms / std::max(1.0, m.st.wall_ms), m.max_in_flight,
                m.max_open, uptime_load().c_str());
    std::printf("  CPU per call by thread (us):%s\n", by_name.c_str());
    if (!m.first_error.empty()) std::printf("  first failure: %s\n", m.first_error.c_str());
    std::fflush(stdout);
}

// The same batch again on the same engine: its connections are open (kept alive), as
// in the long runs of a real evaluation, where opening them is paid once. The first
// run is what one `moa run` of 805 queries pays.
void warm_again(Engine& e, int port, int depth, int k) {
    std::printf("  again on the same engine (connections already open):\n");
    report(measure(e, 805, port, 60), depth, k);
}

void capacity() {
    std::printf("== 0. fast_llm_server capacity (closed loop, 1 server thread; its CPU per request is the figure that "
                "matters)   %s\n", uptime_load().c_str());
    std::fflush(stdout);
    for (const char* args : {"--connections 256 --seconds 2", "--connections 2048 --seconds 2",
                             "--connections 2048 --seconds 2 --delay-ms 200"}) {
        std::string cmd = std::string(FAST_LLM_SERVER) + " --load " + args;
        if (std::system(cmd.c_str()) != 0) std::printf("  (%s failed)\n", cmd.c_str());
        std::fflush(stdout);
    }
}

}  // namespace

int scale_main(const ScaleOptions& o) {
    // The last resort if a run hangs where the watchdog cannot reach (e.g. in an
    // engine's teardown): the bench always ends, and the server follows its stdin.
    signal(SIGALRM, +[](int) {
        const char m[] = "bench_http scale: still running after 400 s, giving up\n";
        (void)!write(2, m, sizeof m - 1);
        _exit(3);
    });
    alarm(400);
    rlimit before{};
    getrlimit(RLIMIT_NOFILE, &before);
    long nofile = fastllm::raise_nofile(o.n + 1024L);
    std::printf("== HTTP at scale (issue 12). RLIMIT_NOFILE soft %ld hard %ld -> soft %ld; somaxconn %ld; "
                "ip_local_port_range %ld..; nproc %ld; %s\n",
                long(before.rlim_cur), long(before.rlim_max), nofile, read_long("/proc/sys/net/core/somaxconn"),
                read_long("/proc/sys/net/ipv4/ip_local_port_range"), sysconf(_SC_NPROCESSORS_ONLN), uptime_load().c_str());
    if (o.capacity) capacity();
    // Two server processes by default: one fd table cannot hold 20,000 connections plus
    // its own files when the hard limit is 20,000.
    fastllm::Child server =
        fastllm::spawn_server(FAST_LLM_SERVER, kLatencyMs, o.server_threads, 600, o.server_processes);
    std::printf("== server: fast_llm_server, %d process(es) x %d thread(s), 200 ms per answer\n", o.server_processes,
                o.server_threads);
    const char* client = std::getenv("MOA_HTTP_CLIENT");
    std::printf("== HTTP client: %s (MOA_HTTP_CLIENT); TBB workers: %s\n", client && *client ? client : "the engine's default",
                o.threads > 0 ? std::to_string(o.threads).c_str() : "the engine's default (--threads)");
    if (server.port == 0) {
        std::fprintf(stderr, "bench_http scale: fast_llm_server did not start\n");
        return 1;
    }
    setenv("BENCH_KEY", "bench", 1);
    if (o.paper) {
        for (int k : {256, 2048}) {
            std::printf("== a. 805 queries x paper MoA (13 calls each), %d calls in flight (max_concurrent = %d, "
                        "max_jobs = 805), 200 ms per call\n", k, k);
            EngineOptions eo;
            eo.max_jobs = 805;
            eo.threads = o.threads;
            Engine e(load(paper_graph(server.port, k)), eo);
            report(measure(e, 805, server.port, 60), 3, k);
            warm_again(e, server.port, 3, k);
        }
        std::printf("== b. 805 queries x paper MoA, max_concurrent = 2048, DEFAULT EngineOptions (max_jobs %d), "
                    "200 ms per call\n", EngineOptions{}.max_jobs);
        EngineOptions eo;
        eo.threads = o.threads;  // the one option --threads may change; 0 is the default
        Engine e(load(paper_graph(server.port, 2048)), eo);
        report(measure(e, 805, server.port, 60), 3, 2048);
        warm_again(e, server.port, 3, 2048);
    }
    if (o.n > 0) {
        std::printf("== c. %d one-call jobs at once from one process (max_concurrent = max_jobs = %d), 200 ms per "
                    "call\n", o.n, o.n);
        if (nofile < o.n + 64L)
            std::printf("  note: RLIMIT_NOFILE %ld leaves this process fewer than %d sockets (one per HTTP/1.1 request in "
                        "flight, besides its own files): not all %d can be on the wire at once here\n", nofile, o.n, o.n);
        EngineOptions eo;
        eo.max_jobs = o.n;
        eo.threads = o.threads;
        Engine e(load(one_agent_graph(server.port, o.n)), eo);
        report(measure(e, static_cast<size_t>(o.n), server.port, 90), 1, o.n);
    }
    fastllm::stop_server(server);
    return 0;
}

}  // namespace moa::bench
