// The totals of one run (calls, tokens, cache, per-layer latency, wall and CPU time),
// shared by Engine::run_batch and Engine::run_one. Internal to the engine.
#pragma once

#include "runtime/engine_core.hpp"

namespace moa {

double cpu_ms_now();  // process CPU time (user + system), ms

// The totals of one run (a batch, or one question): counters are read at the start
// and subtracted at the end, so an engine that runs several times reports each run.
class StatsWindow {
public:
    explicit StatsWindow(EngineCore& core) : core_(core) {
        {
            std::lock_guard lock(core.stats_mu);
            core.totals = RunStats{};
            for (auto& h : core.layer_latency) h = LatencyHistogram{};
        }
        attempts0_ = core.scheduler->attempts.load();
        retries0_ = core.scheduler->retries.load();
        if (core.cache) {
            hits0_ = core.cache->hits.load();
            misses0_ = core.cache->misses.load();
            shared0_ = core.cache->shared.load();
            sin0_ = core.cache->saved_tokens_in.load();
            sout0_ = core.cache->saved_tokens_out.load();
        }
    }
    RunStats close() const;

private:
    EngineCore& core_;
    size_t attempts0_ = 0, retries0_ = 0;
    uint64_t hits0_ = 0, misses0_ = 0, shared0_ = 0, sin0_ = 0, sout0_ = 0;
    TimePoint t0_ = Clock::now();
    double cpu0_ = cpu_ms_now();
};

}  // namespace moa
