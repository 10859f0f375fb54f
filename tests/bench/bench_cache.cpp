// Response cache benchmarks (a program that prints figures).
//   hit path latency, miss path overhead, DB size per 100k entries, and a rerun of
//   the 805-prompt paper MoA with only the aggregator's template changed.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "cache/cache.hpp"
#include "moa/dsl.hpp"
#include "moa/engine.hpp"
#include "runtime/scheduler.hpp"

using namespace moa;
namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

#include "bench_util.hpp"

using moa::bench::Counted;
using moa::bench::cpu_ms;
using moa::bench::load;

namespace {



std::string fresh(const std::string& name) {
    std::string p = (fs::temp_directory_path() / ("moa-bench-" + name + "-" + std::to_string(getpid()) + ".db")).string();
    for (const char* sfx : {"", "-wal", "-shm"}) fs::remove(p + sfx);
    return p;
}


CacheRecord record(int i) {
    CacheRecord r;
    char key[40];
    std::snprintf(key, sizeof key, "%032x", i);
    r.key = key;
    r.node = "propose.m" + std::to_string(i % 6);
    r.model = "model-" + std::to_string(i % 6);
    r.backend = "openai https://api.example.com/v1";
    r.request = "moa-cache-v1\nbackend: openai https://api.example.com/v1\nmodel: " + r.model +
                "\ntemperature: 0.7\n...\nmessage user 240\n" + std::string(240, 'q') + "\n";
    r.entry = {std::string(600, 'a'), 60, 150};  // a typical proposer answer
    r.created = 1;
    return r;
}

void hit_path() {
    std::printf("== hit path (warm process)\n");
    std::string db = fresh("hits");
    std::string err;
    {
        auto store = open_sqlite_store(db, err);
        for (int i = 0; i < 10000; ++i) store->put(record(i));
    }
    auto store = open_sqlite_store(db, err);  // a new process view: the front is empty
    std::vector<double> cold, warm;
    for (int pass = 0; pass < 2; ++pass)
        for (int i = 0; i < 10000; ++i) {
            auto key = record(i).key;
            auto t0 = SteadyClock::now();
            auto e = store->get(key);
            double us = std::chrono::duration<double, std::micro>(SteadyClock::now() - t0).count();
            (pass == 0 ? cold : warm).push_back(us);
            if (!e) std::abort();
        }
    auto pct = [](std::vector<double> v, double p) {
        std::sort(v.begin(), v.end());
        return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
    };
    std::printf("SQLite lookup (first access in the process): p50 %.2f us, p99 %.2f us\n", pct(cold, 0.5), pct(cold, 0.99));
    std::printf("in-memory front (repeat access):             p50 %.2f us, p99 %.2f us\n", pct(warm, 0.5), pct(warm, 0.99));
}

void engine_paths() {
    std::printf("== engine: zero-latency sim, paper MoA, 2000 jobs (26,000 calls), 2 threads\n");
    std::string src = R"(
import "moa.moa"
backend sim { kind = sim }
agent a { backend = sim  model = "m/a" }
agent b { backend = sim  model = "m/b" }
agent c { backend = sim  model = "m/c" }
agent d { backend = sim  model = "m/d" }
agent e { backend = sim  model = "m/e" }
agent f { backend = sim  model = "m/f" }
use moa(proposers = [a, b, c, d, e, f], aggregator = a, layers = 3)
)";
    std::string db = fresh("engine");
    for (const char* mode : {"off", "rw", "rw"}) {
        EngineOptions o;
        o.threads = 2;
        o.max_jobs = 512;
        o.cache_mode = *parse_cache_mode(mode);
        o.cache_path = db;
        Engine e(load(src), o);
        Counted q(2000);
        double c0 = cpu_ms();
        RunStats s = e.run_batch(q, [](JobResult&&) {});
        double cpu = cpu_ms() - c0;
        const char* what = std::string(mode) == "off" ? "cache off      " : s.cache_hits ? "rw, all hits   " : "rw, all misses ";
        std::printf("%s wall %.0f ms, cpu %.0f ms, %.2f us cpu per node; backend calls %zu, hits %llu\n", what, s.wall_ms,
                    cpu, cpu * 1e3 / 26000, s.calls, static_cast<unsigned long long>(s.cache_hits));
    }
}

void db_size() {
    std::printf("== DB size per 100k entries (600-byte answers, 300-byte requests)\n");
    std::string db = fresh("size");
    std::string err;
    auto store = open_sqlite_store(db, err);
    auto t0 = SteadyClock::now();
    for (int i = 0; i < 100000; ++i) store->put(record(i));
    double s = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    store.reset();
    uintmax_t bytes = fs::file_size(db) + (fs::exists(db + "-wal") ? fs::file_size(db + "-wal") : 0);
    std::printf("100,000 entries: %.1f MB (%.0f bytes/entry), written in %.1f s (%.0f us/entry, one transaction each)\n",
                static_cast<double>(bytes) / 1e6, static_cast<double>(bytes) / 1e5, s, s * 1e6 / 1e5);
}

void rerun_aggregator_changed() {
    std::printf("== 805-prompt paper MoA, rerun with only the aggregator's template changed\n");
    auto graph = [](const std::string& final_prompt) {
        return R"(
backend sim { kind = sim }
template synth = "Responses:\n{{responses}}"
template final_a = "Responses:\n{{responses}}"
template final_b = "Write the final answer from these:\n{{responses}}"
agent wizardlm { backend = sim  model = "microsoft/WizardLM-2-8x22B" }
agent qwen110 { backend = sim  model = "Qwen/Qwen1.5-110B-Chat" }
agent qwen72 { backend = sim  model = "Qwen/Qwen1.5-72B-Chat" }
agent llama3 { backend = sim  model = "meta-llama/Llama-3-70b-chat-hf" }
agent mixtral { backend = sim  model = "mistralai/Mixtral-8x22B-Instruct-v0.1" }
agent dbrx { backend = sim  model = "databricks/dbrx-instruct" }
layer propose = [wizardlm, qwen110, qwen72, llama3, mixtral, dbrx]
layer refine = [wizardlm, qwen110, qwen72, llama3, mixtral, dbrx] { inputs = propose  prompt = synth }
layer aggregate = qwen110 { inputs = refine  prompt = )" + final_prompt + R"( }
output answer = aggregate
)";
    };
    std::string db = fresh("rerun");
    for (const char* t : {"final_a", "final_b"}) {
        EngineOptions o;
        o.threads = 2;
        o.max_jobs = 805;
        o.cache_mode = CacheMode::ReadWrite;
        o.cache_path = db;
        Engine e(load(graph(t)), o);
        Counted q(805);
        RunStats s = e.run_batch(q, [](JobResult&&) {});
        std::printf("aggregator prompt %s: backend calls %zu, cache hits %llu, jobs ok %zu\n", t, s.calls,
                    static_cast<unsigned long long>(s.cache_hits), s.jobs_ok);
    }
}

}  // namespace

int main() {
    hit_path();
    engine_paths();
    db_size();
    rerun_aggregator_changed();
}
