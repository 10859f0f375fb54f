// `moa plan GRAPH`: calls, tokens and critical-path latency of a graph, for one query
// and for a batch, before any model is called (docs/cli.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "moa/dsl.hpp"

namespace moa::cli {

struct PlanArgs {
    std::string graph;
    std::string input;             // JSONL batch (- for stdin); "" = one typical query
    std::string format = "text";   // text | json
    std::vector<std::string> sets;  // --set, as run
    int concurrency = 0;
    int max_jobs = 0;
    uint64_t seed = 0;
    std::string cache_db;  // latency profiles of real models; "" = .moa/cache.db if it exists
    bool color = false;
};

int plan(const PlanArgs& args, LoadOptions load);

}  // namespace moa::cli
