// `moa run`: one query streamed to the terminal, or a JSONL batch.
#pragma once

#include <string>
#include <vector>

#include "moa/dsl.hpp"

namespace moa::cli {

struct RunArgs {
    std::string graph;
    std::string question;
    std::string input, output;
    std::string format;  // text | jsonl | alpaca-eval ("" = text for one query, jsonl for a batch)
    std::string generator;
    std::vector<std::string> sets;
    bool emit_all = false;
    bool progress = true;
    int concurrency = 0;
    int max_jobs = 256;
    int threads = 0;
    uint64_t seed = 0;
    std::string cache_mode = "rw";
    std::string cache_db = ".moa/cache.db";
    bool quiet = false;
    bool color = false;
};

int run(const RunArgs& args, LoadOptions load);

}  // namespace moa::cli
