// HTTP benchmarks against the loopback server (a program that prints figures).
//
//   bench_http concurrent   2,000 requests at once, 500 ms server latency, one reactor thread
//   bench_http paper        805 prompts through the paper's MoA over HTTP vs the sim backend
//   bench_http stream       time to the first streamed token, three providers
//   bench_http scale [--n N] [--skip-capacity] [--skip-paper] [--server-processes N] [--server-threads N] [--threads N]
//                           issue 12: server capacity, reactor/client CPU per call at 256 and
//                           2,048 in flight, wall/ideal with default flags, N (20,000) at once;
//                           against fast_llm_server (bench_scale.cpp)
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <vector>
#include <cstdio>
#include <string>

#include "../http/fake_server.hpp"
#include "moa/dsl.hpp"
#include "moa/engine.hpp"

using namespace moa;

#include "bench_scale.hpp"
#include "bench_util.hpp"

using moa::bench::Counted;
using moa::bench::cpu_ms;
using moa::bench::load;

namespace {




void concurrent(test::FakeServer& s) {
    std::printf("== 2,000 concurrent requests, server latency 500 ms, one reactor thread (libcurl multi)\n");
    setenv("BENCH_KEY", "bench", 1);
    GraphSpec g = load("backend oa { kind = openai  base_url = \"" + s.url() +
                       "/v1\"  api_key_env = \"BENCH_KEY\" }\n"
                       "agent a { backend = oa  model = \"delay-500:c\" }\nlayer l = a\noutput o = l\n");
    EngineOptions o;
    o.threads = 2;
    o.max_jobs = 2000;
    Engine e(g, o);
    for (int round = 0; round < 2; ++round) {  // the first round opens the connections
        Counted src(2000);
        double c0 = cpu_ms();
        RunStats st = e.run_batch(src, [](JobResult&&) {});
        double cpu = cpu_ms() - c0;
        std::printf("%s: requests=%zu ok=%zu wall=%.0f ms ideal=500 ms wall/ideal=%.2f client cpu=%.0f ms (%.1f us/request)\n",
                    round == 0 ? "cold (new connections)" : "warm (keep-alive)", st.calls, st.jobs_ok, st.wall_ms,
                    st.wall_ms / 500, cpu, cpu * 1e3 / 2000);
    }
}

std::string paper(const std::string& backend) {
    return backend + R"(
import "moa.moa"
agent wizardlm { backend = b  model = "delay-100:wizardlm"  max_tokens = 64 }
agent qwen110 { backend = b  model = "delay-100:qwen110"  max_tokens = 64 }
agent qwen72 { backend = b  model = "delay-100:qwen72"  max_tokens = 64 }
agent llama3 { backend = b  model = "delay-100:llama3"  max_tokens = 64 }
agent mixtral { backend = b  model = "delay-100:mixtral"  max_tokens = 64 }
agent dbrx { backend = b  model = "delay-100:dbrx"  max_tokens = 64 }
use moa(proposers = [wizardlm, qwen110, qwen72, llama3, mixtral, dbrx], aggregator = qwen110, layers = 3)
)";
}

void paper_moa(test::FakeServer& s) {
    std::printf("== 805 prompts, paper MoA (13 calls per prompt), 100 ms per call, max_concurrent = 256\n");
    setenv("BENCH_KEY", "bench", 1);
    for (const char* kind : {"sim", "http"}) {
        std::string backend = std::string(kind) == "sim"
                                  ? "backend b { kind = sim  max_concurrent = 256  latency { first_token = 100ms } }"
                                  : "backend b { kind = openai  base_url = \"" + s.url() +
                                        "/v1\"  api_key_env = \"BENCH_KEY\"  max_concurrent = 256 }";
        EngineOptions o;
        o.threads = 2;
        o.max_jobs = 805;
        Engine e(load(paper(backend)), o);
        Counted src(805);
        double c0 = cpu_ms();
        RunStats st = e.run_batch(src, [](JobResult&&) {});
        double cpu = cpu_ms() - c0;
        double ideal = 10465.0 * 100 / 256;
        std::printf("%-4s: jobs ok=%zu calls=%zu wall=%.0f ms (concurrency bound %.0f ms, wall/bound=%.2f) client cpu=%.0f ms\n",
                    kind, st.jobs_ok, st.calls, st.wall_ms, ideal, st.wall_ms / ideal, cpu);
    }
}

void first_token(test::FakeServer& s) {
    std::printf("== streaming: time to the first printed token (server: 200 ms before the first byte, then 5-char chunks every 2 ms)\n");
    setenv("BENCH_KEY", "bench", 1);
    for (const char* kind : {"openai", "anthropic", "ollama"}) {
        std::string base = std::string(kind) == "openai" ? s.url() + "/v1" : s.url();
        GraphSpec g = load("backend b { kind = " + std::string(kind) + "  base_url = \"" + base +
                           "\"  api_key_env = \"BENCH_KEY\" }\nagent a { backend = b  model = \"slow-first-200:tt\" }\n"
                           "layer l = a\noutput o = l\n");
        Engine e(g, EngineOptions{});
        std::vector<double> first, total;
        for (int i = 0; i < 10; ++i) {
            auto t0 = std::chrono::steady_clock::now();
            double t_first = -1;
            auto r = e.run_one("a question long enough to stream in several pieces", [&](const StreamChunk&) {
                if (t_first < 0) t_first = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            });
            total.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
            first.push_back(t_first);
            if (!r.ok) std::printf("error: %s\n", r.error.c_str());
        }
        std::sort(first.begin(), first.end());
        std::sort(total.begin(), total.end());
        std::printf("%-9s first token: median %.1f ms (server 200 ms); whole answer: median %.1f ms\n", kind, first[5], total[5]);
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::string what = argc > 1 ? argv[1] : "all";
    if (what == "scale") {
        moa::bench::ScaleOptions o;
        for (int i = 2; i < argc; ++i) {
            std::string a = argv[i];
            if (a == "--n" && i + 1 < argc) o.n = std::atoi(argv[++i]);
            else if (a == "--skip-capacity") o.capacity = false;
            else if (a == "--skip-paper") o.paper = false;
            else if (a == "--server-processes" && i + 1 < argc) o.server_processes = std::atoi(argv[++i]);
            else if (a == "--server-threads" && i + 1 < argc) o.server_threads = std::atoi(argv[++i]);
            else if (a == "--threads" && i + 1 < argc) o.threads = std::atoi(argv[++i]);
            else {
                std::fprintf(stderr, "usage: bench_http scale [--n N] [--skip-capacity] [--skip-paper] [--server-processes N] "
                             "[--server-threads N] [--threads N]\n");
                return 2;
            }
        }
        return moa::bench::scale_main(o);
    }
    test::FakeServer server;
    if (what == "concurrent" || what == "all") concurrent(server);
    if (what == "paper" || what == "all") paper_moa(server);
    if (what == "stream" || what == "all") first_token(server);
}
