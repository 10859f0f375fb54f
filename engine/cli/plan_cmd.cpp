// `moa plan`: loads the graph (no API key needed: nothing is called), reads the batch's
// queries and the cache's latency profiles, and prints the plan (moa/plan.hpp).
#include "plan_cmd.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "log.hpp"
#include "moa/batch_io.hpp"
#include "moa/diagnostics.hpp"
#include "moa/error.hpp"
#include "moa/plan.hpp"

namespace moa::cli {

namespace {

constexpr const char* kDefaultCache = ".moa/cache.db";

// The queries of a JSONL input (malformed lines are counted as queries: a run makes a
// job of them too, one that fails at once). False after logging why it cannot be read.
bool read_queries(const std::string& input, std::vector<std::string>& out) {
    std::ifstream file;
    std::istream* in = &std::cin;
    if (input != "-") {
        file.open(input, std::ios::binary);
        if (!file) {
            log::error("cannot read " + input + ": " + std::strerror(errno));
            return false;
        }
        in = &file;
    }
    JsonlSource src(*in);
    while (auto q = src.next()) out.push_back(std::move(q->prompt));
    return true;
}

// Profiles from --cache-db, or from the default cache when one exists there.
bool read_profiles(const std::string& cache_db, PlanOptions& o) {
    std::string path = cache_db.empty() ? kDefaultCache : cache_db;
    std::error_code ec;
    if (cache_db.empty() && !std::filesystem::exists(path, ec)) return true;
    try {
        o.profiles = read_latency_profiles(path);
    } catch (const Error& e) {
        log::error(e.what());
        return false;
    }
    return true;
}

}  // namespace

int plan(const PlanArgs& a, LoadOptions load) {
    load.overrides = a.sets;
    Diagnostics diags;
    LoadResult loaded = load_graph(a.graph, load, diags);
    diags.render(std::cerr, DiagFormat::Text, a.color);
    if (!loaded.ok) return 1;
    PlanOptions o;
    o.max_jobs = a.max_jobs;
    o.max_calls = a.concurrency;
    o.seed = a.seed;
    if (!a.input.empty() && !read_queries(a.input, o.queries)) return 1;
    if (!read_profiles(a.cache_db, o)) return 1;
    GraphPlan p = plan_graph(loaded.graph, o);
    std::cout << (a.format == "json" ? plan_json(p) : plan_text(p));
    return 0;
}

}  // namespace moa::cli
