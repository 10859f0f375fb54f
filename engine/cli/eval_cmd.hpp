// `moa eval`: candidates (graphs or AlpacaEval outputs files) judged against a baseline
// by a judge graph; a table of win rate, LC win rate, cost and latency (docs/eval.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "moa/dsl.hpp"

namespace CLI {
class App;
}

namespace moa::cli {

struct EvalArgs {
    std::vector<std::string> candidates;
    std::string input, judge, baseline;
    std::string format;  // "" = the terminal table
    std::string report, outputs_dir;
    std::string state_dir = ".moa/eval";
    std::vector<std::string> vary, params;
    uint64_t seed = 0;
    int resamples = 1000;
    std::string cache_db = ".moa/cache.db";
    int threads = 0, concurrency = 0;
    double grace = 5;
    bool quiet = false, color = false;
};

// Adds the `eval` subcommand bound to `a`; returns it (main.cpp dispatches on it).
CLI::App* add_eval(CLI::App& app, EvalArgs& a);
int eval(const EvalArgs& a, const LoadOptions& load);

}  // namespace moa::cli
