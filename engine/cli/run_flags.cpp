// The flags of `moa run` that fill RunArgs' budget and report fields (docs/cli.md).
#include "run_flags.hpp"

#include <CLI/CLI.hpp>

#include <cmath>
#include <string>

#include "moa/engine.hpp"

namespace moa::cli {

// Budgets (docs/cli.md, "Budgets"): each call attempt reserves its worst case first.
void add_budget_flags(CLI::App& run, moa::cli::RunArgs& run_args) {
    run.add_option("--max-calls", run_args.max_calls,
                    "Budget: at most N model calls, every attempt counted (retries, fallbacks); cache hits are free "
                    "(default 0: none). Reaching a budget stops the run: exit 3")
        ->check(CLI::PositiveNumber);
    run.add_option("--max-tokens", run_args.max_tokens,
                    "Budget: at most N tokens, in + out, over all calls; an attempt reserves its prompt's estimate plus "
                    "its max_tokens (or 4096) before it starts (default 0: none)")
        ->check(CLI::PositiveNumber);
    run.add_option("--max-cost", run_args.max_cost,
                    "Budget: at most USD dollars at the graph's prices (`price` declarations and stdlib/prices.moa); "
                    "every model needs a price (default 0: none)")
        ->check(CLI::PositiveNumber);
}

// Files that describe the run (docs/cli.md, "Traces and reports").
void add_report_flags(CLI::App& run, moa::cli::RunArgs& a) {
    run.add_option("--trace", a.trace,
                   "Write the run's calls as Chrome trace-event JSON (Perfetto, chrome://tracing): a track per job and "
                   "node, a slice per call with its phases (FILE.partial until the run ends)");
    run.add_option("--report", a.report,
                   "Write a run report: FILE.html (one self-contained page: graph, timeline, latency per node, tokens, "
                   "cache hits, failures) or FILE.json (the same for programs)");
    run.add_option("--junit", a.junit, "Write JUnit XML: one test case per job, failed jobs as failures");
}

void add_threads_flag(CLI::App& cmd, int& threads) {
    cmd.add_option("--threads", threads,
                   "Worker threads of the flow graph (default 0: one per core, one fewer when the graph calls HTTP "
                   "backends: " + std::to_string(moa::default_threads(false)) + " or " +
                       std::to_string(moa::default_threads(true)) + " here)")
        ->check(CLI::NonNegativeNumber);
}

}  // namespace moa::cli
