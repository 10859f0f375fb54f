// `moa run`: one query streamed to the terminal, or a JSONL batch (batch.cpp).
// Every flag and format is documented in docs/cli.md.
#pragma once

#include <cerrno>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "moa/batch_io.hpp"
#include "moa/cache_mode.hpp"
#include "moa/dsl.hpp"

namespace moa {
class Engine;
}

namespace moa::cli {

class Reporting;

struct RunArgs {
    std::string graph;
    std::string question;
    std::string input, output;
    std::optional<OutputFormat> format;  // unset: text for one query, jsonl for a batch
    std::string generator;
    std::string output_node;  // which output is "output" (default: see pick_outputs)
    std::vector<std::string> sets;
    bool emit_all = false;
    bool progress = true;
    bool overwrite = false;    // start the output again instead of resuming it
    bool keep_failed = false;  // resume keeps failed rows instead of retrying them
    double grace = 5;          // seconds jobs in flight get after SIGINT/SIGTERM
    int concurrency = 0;
    int max_jobs = 0;  // 0: derived by the engine from the graph
    int threads = 0;
    int io_threads = 0;
    std::string http_client;  // native, curl, or "": the engine's default
    uint64_t seed = 0;
    uint64_t max_calls = 0, max_tokens = 0;  // budgets; 0 = none
    double max_cost = 0;                     // USD; 0 = none
    CacheMode cache_mode = CacheMode::ReadWrite;
    std::string cache_db = ".moa/cache.db";
    bool quiet = false;
    bool color = false;
    // Files describing the run (report_cli.hpp): --trace, --report, --junit.
    std::string trace, report, junit;
};

int run(const RunArgs& args, LoadOptions load);

// The exit code of a run stopped by --max-calls, --max-tokens or --max-cost.
inline constexpr int kExitBudget = 3;

// The errno of the first failed write to std::cout (0: none yet). Code that flushes
// std::cout mid-command calls note_stdout() right after, so the reason survives until
// main() reports it; main() checks stdout once at the end of every command.
int& stdout_errno();
inline void note_stdout() {
    if (!stdout_errno() && !std::cout) stdout_errno() = errno ? errno : EIO;
}

// The batch half of run(): input, output, resume, lock, signals.
// `rep` (optional) is told every job's result and the run's totals.
int run_batch(const RunArgs& args, Engine& engine, const std::string& fingerprint, const std::string& generator,
              Reporting* rep = nullptr);

// Orders the graph's outputs so that the first one (a row's "output", the streamed
// answer) is the user's choice: `--output-node NAME`, else the outputs declared in the
// graph file itself in declaration order, then imported ones. False (with `error`) for
// an unknown NAME. `note` says which one was chosen when there are several.
bool pick_outputs(GraphSpec& g, const std::string& graph_file, const std::string& wanted, std::string& note,
                  std::string& error);

// A hash of everything in the expanded graph that shapes an answer (nodes, edges,
// agents, models, sampling, templates, routes, outputs and their order, backend kind and
// URL) plus the run's seed. Operational settings (timeouts, retries, rate and
// concurrency limits, simulated latency and faults, key variables) are left out, so a
// run can be resumed after raising a timeout. 16 hex digits.
std::string fingerprint(const GraphSpec& g, uint64_t seed, bool emit_all = false);

}  // namespace moa::cli
