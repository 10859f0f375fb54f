// Engine benchmarks: a program that prints figures (never a test).
//
//   bench_engine overhead   CPU time per model call, zero-latency sim backend
//   bench_engine dataflow   805 prompts through the paper's MoA, wall / ideal
//   bench_engine scale      20,000 calls in flight; latency of a CPU task meanwhile
//   bench_engine            all three
#include <oneapi/tbb/task_arena.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "moa/dsl.hpp"
#include "moa/engine.hpp"
#include "runtime/scheduler.hpp"
#include "source.hpp"

using namespace moa;
using SteadyClock = std::chrono::steady_clock;

#include "bench_util.hpp"

using moa::bench::Counted;
using moa::bench::cpu_ms;
using moa::bench::load;

namespace {




std::string paper_graph(const std::string& backend) {
    return backend + R"(
import "moa.moa"
agent wizardlm { backend = sim  model = "microsoft/WizardLM-2-8x22B"  temperature = 0.7  max_tokens = 2048 }
agent qwen110 { backend = sim  model = "Qwen/Qwen1.5-110B-Chat"  temperature = 0.7  max_tokens = 2048 }
agent qwen72 { backend = sim  model = "Qwen/Qwen1.5-72B-Chat"  temperature = 0.7  max_tokens = 2048 }
agent llama3 { backend = sim  model = "meta-llama/Llama-3-70b-chat-hf"  temperature = 0.7  max_tokens = 2048 }
agent mixtral { backend = sim  model = "mistralai/Mixtral-8x22B-Instruct-v0.1"  temperature = 0.7  max_tokens = 2048 }
agent dbrx { backend = sim  model = "databricks/dbrx-instruct"  temperature = 0.7  max_tokens = 2048 }
use moa(proposers = [wizardlm, qwen110, qwen72, llama3, mixtral, dbrx], aggregator = qwen110, layers = 3)
)";
}

void overhead() {
    std::printf("== a) engine overhead: zero-latency sim backend, paper MoA (13 calls per job)\n");
    GraphSpec g = load(paper_graph("backend sim { kind = sim }"));
    for (int threads : {1, 2}) {
        EngineOptions o;
        o.threads = threads;
        o.max_jobs = 512;
        Engine e(g, o);
        {  // warm-up
            Counted src(200);
            e.run_batch(src, [](JobResult&&) {});
        }
        const size_t jobs = 4000;
        Counted src(jobs);
        double c0 = cpu_ms();
        auto t0 = SteadyClock::now();
        RunStats s = e.run_batch(src, [](JobResult&&) {});
        double wall = std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
        double cpu = cpu_ms() - c0;
        std::printf("threads=%d  jobs=%zu  calls=%zu  wall=%.0f ms  cpu=%.0f ms  cpu/call=%.2f us  calls/s=%.0f\n", threads,
                    s.jobs_ok, s.calls, wall, cpu, cpu * 1e3 / static_cast<double>(s.calls),
                    static_cast<double>(s.calls) / wall * 1e3);
    }
}

// Integrates calls running over time per backend: busy time / max_concurrent is the
// least wall time the concurrency limit allows.
struct BusyMeter : CallObserver {
    std::mutex mu;
    std::map<std::string, std::pair<int, TimePoint>> state;
    std::map<std::string, double> busy_ms;
    void step(const std::string& b, int delta, TimePoint at) {
        std::lock_guard lock(mu);
        auto& [running, since] = state[b];
        if (running > 0) busy_ms[b] += running * std::chrono::duration<double, std::milli>(at - since).count();
        running += delta;
        since = at;
    }
    void attempt_started(const std::string& b, int, TimePoint at) override { step(b, +1, at); }
    void attempt_ended(const std::string& b, int, TimePoint at) override { step(b, -1, at); }
};

void dataflow() {
    std::printf("== b) dataflow efficiency: 805 prompts, paper MoA 3 layers x 6 proposers, per-call sim latencies\n");
    const int limit = 128;
    GraphSpec g = load(paper_graph("backend sim { kind = sim  max_concurrent = " + std::to_string(limit) +
                                   "  latency { first_token = 20ms  tokens_per_second = 1000  jitter = 0.5 } }"));
    BusyMeter meter;
    EngineOptions o;
    o.threads = 2;
    o.max_jobs = 805;
    o.observer = &meter;
    Engine e(g, o);
    Counted src(805);
    RunStats s = e.run_batch(src, [](JobResult&&) {});
    double bound = meter.busy_ms["sim"] / limit;
    double ideal = std::max(s.critical_path_ms, bound);
    std::printf("jobs=%zu calls=%zu  wall=%.0f ms  slowest job's critical path=%.0f ms  busy/limit=%.0f ms  "
                "ideal=%.0f ms  wall/ideal=%.3f\n",
                s.jobs_ok, s.calls, s.wall_ms, s.critical_path_ms, bound, ideal, s.wall_ms / ideal);
}

void scale() {
    std::printf("== c) scale: 20,000 calls in flight on 2 threads (sim latency 2 s)\n");
    GraphSpec g = load(R"(
backend sim { kind = sim  latency { first_token = 2s } }
agent a { backend = sim  model = "m/a"  max_tokens = 16 }
template agg = "{{responses}}"
layer p = a * 20
layer f = a { inputs = p  prompt = agg }
output o = f
)");
    EngineOptions o;
    o.threads = 2;
    o.max_jobs = 1000;
    Engine e(g, o);
    std::atomic<size_t> peak{0};
    std::atomic<bool> done{false};
    std::vector<double> task_latency_ms;
    std::thread probe([&] {
        tbb::task_arena other;  // any free worker may run it; blocked workers could not
        while (!done) {
            auto p = e.progress();
            peak = std::max(peak.load(), p.calls_in_flight);
            if (p.calls_in_flight >= 15000) {
                auto t0 = SteadyClock::now();
                std::atomic<bool> ran{false};
                other.enqueue([&] { ran = true; });
                while (!ran) std::this_thread::yield();
                task_latency_ms.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    });
    Counted src(1000);
    double c0 = cpu_ms();
    RunStats s = e.run_batch(src, [](JobResult&&) {});
    double cpu = cpu_ms() - c0;
    done = true;
    probe.join();
    std::sort(task_latency_ms.begin(), task_latency_ms.end());
    double worst = task_latency_ms.empty() ? -1 : task_latency_ms.back();
    double median = task_latency_ms.empty() ? -1 : task_latency_ms[task_latency_ms.size() / 2];
    std::printf("jobs=%zu calls=%zu  peak calls in flight=%zu  wall=%.0f ms (ideal 4000)  cpu=%.0f ms\n", s.jobs_ok, s.calls,
                peak.load(), s.wall_ms, cpu);
    std::printf("CPU tasks posted while >= 15,000 calls were in flight: %zu, median %.3f ms, worst %.3f ms\n",
                task_latency_ms.size(), median, worst);
}

}  // namespace

int main(int argc, char** argv) {
    std::string what = argc > 1 ? argv[1] : "all";
    if (what == "overhead" || what == "all") overhead();
    if (what == "dataflow" || what == "all") dataflow();
    if (what == "scale" || what == "all") scale();
    return 0;
}
