// Flag groups of `moa run` kept out of main.cpp: budgets and the files describing a run.
#pragma once

#include "run.hpp"

namespace CLI {
class App;
}

namespace moa::cli {

// --max-calls, --max-tokens, --max-cost (docs/cli.md, "Budgets").
void add_budget_flags(CLI::App& run, RunArgs& run_args);
// --trace, --report, --junit (docs/cli.md, "Traces and reports").
void add_report_flags(CLI::App& run, RunArgs& a);
// --threads of `moa run` and `moa eval`, its defaults on this machine in the help.
void add_threads_flag(CLI::App& cmd, int& threads);

}  // namespace moa::cli
