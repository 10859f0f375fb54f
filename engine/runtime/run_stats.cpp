#include "runtime/run_stats.hpp"

#include "runtime/cost_book.hpp"

#include <sys/resource.h>

#include <iomanip>
#include <ostream>

namespace moa {

namespace {

double ms_between(TimePoint a, TimePoint b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

}  // namespace

double cpu_ms_now() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

RunStats StatsWindow::close() const {
    RunStats s;
    {
        std::lock_guard lock(core_.stats_mu);
        s = core_.totals;
        for (size_t l = 0; l < core_.layer_latency.size(); ++l) {
            const auto& h = core_.layer_latency[l];
            s.layers.push_back({core_.plan.layers[l], h.count(), h.percentile(0.5), h.percentile(0.95)});
        }
    }
    s.attempts = core_.scheduler->attempts.load() - attempts0_;
    s.retries = core_.scheduler->retries.load() - retries0_;
    s.wall_ms = ms_between(t0_, Clock::now());
    s.cpu_ms = cpu_ms_now() - cpu0_;
    if (core_.cache) {
        s.cache_hits = core_.cache->hits.load() - hits0_;
        s.cache_misses = core_.cache->misses.load() - misses0_;
        s.cache_shared = core_.cache->shared.load() - shared0_;
        s.saved_tokens_in = core_.cache->saved_tokens_in.load() - sin0_;
        s.saved_tokens_out = core_.cache->saved_tokens_out.load() - sout0_;
    }
    CostBook::finish(s);
    s.budget_reached = core_.budget.reached();
    return s;
}

void RunStats::print(std::ostream& out) const {
    out << "jobs: " << jobs_ok << " ok, " << jobs_failed - std::min(jobs_failed, jobs_cancelled) << " failed";
    if (jobs_cancelled) out << ", " << jobs_cancelled << " cancelled, not written";
    out << "\n";
    out << "calls: " << calls << " (" << attempts << " attempts, " << retries << " retries, " << calls_failed
        << " failed)\n";
    if (!budget_reached.empty())
        out << "budget " << budget_reached << " reached: " << budget_stopped_jobs << " job"
            << (budget_stopped_jobs == 1 ? "" : "s") << " stopped, " << budget_refused_calls << " call"
            << (budget_refused_calls == 1 ? "" : "s") << " not made\n";
    if (fallbacks) out << "fallbacks: " << fallbacks << " calls answered by their agent's fallback (see the nodes' fallback_from)\n";
    const char* est = tokens_estimated ? "~" : "";
    out << "tokens: " << est << tokens_in << " in, " << est << tokens_out << " out";
    if (tokens_estimated) out << " (~: estimated where a provider sent no usage)";
    out << "\n";
    print_cost(out, *this);
    if (cache_hits + cache_misses > 0)
        out << "cache: " << cache_hits << " hits, " << cache_misses << " misses, " << cache_shared
            << " answered by an identical call in flight; saved " << cache_hits + cache_shared << " calls ("
            << saved_tokens_in << " tokens in, " << saved_tokens_out << " out)\n";
    out << std::fixed << std::setprecision(1);
    for (const auto& l : layers)
        out << "layer " << l.layer << ": " << l.calls << " calls, p50 " << l.p50_ms << " ms, p95 " << l.p95_ms << " ms\n";
    print_cost_table(out, "node", node_costs);
    print_cost_table(out, "layer", layer_costs);
    out << "wall time: " << wall_ms << " ms; critical path of the slowest job: " << critical_path_ms << " ms; cpu: "
        << cpu_ms << " ms\n";
    out.unsetf(std::ios::fixed);
}

}  // namespace moa
