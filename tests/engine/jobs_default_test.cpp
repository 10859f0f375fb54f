// The default number of jobs in flight fills the backends' slots (issue 12: a fixed
// 256 capped the paper's graph at 256 x 6 = 1,536 calls when its backend allowed 2,048).
#include <catch2/catch.hpp>

#include "moa/dsl.hpp"
#include "moa/engine.hpp"

using namespace moa;

namespace {
GraphSpec paper_moa(const std::string& max_concurrent) {
    Diagnostics diags;
    LoadOptions lo;
    lo.import_paths = {MOA_SOURCE_DIR "/stdlib"};
    lo.overrides = {"sim.max_concurrent=" + max_concurrent};
    auto loaded = load_graph(MOA_SOURCE_DIR "/graphs/paper-moa-sim.moa", lo, diags);
    REQUIRE(loaded.ok);
    return loaded.graph;
}
}  // namespace

TEST_CASE("jobs in flight default to enough to fill the backend: paper MoA at max_concurrent 2048") {
    // 13 calls in a chain of 3 layers: a job has 13/3 calls in flight on average, so
    // 2048 slots take 2048 * 3 / 13 = 473 jobs, twice that for the narrow last layer.
    Engine e(paper_moa("2048"), {});
    CHECK(e.max_jobs() == 946);
}

TEST_CASE("jobs in flight never default below 256, and an explicit --max-jobs wins") {
    Engine small(paper_moa("64"), {});
    CHECK(small.max_jobs() == 256);
    EngineOptions o;
    o.max_jobs = 7;
    Engine explicit_jobs(paper_moa("2048"), o);
    CHECK(explicit_jobs.max_jobs() == 7);
}

TEST_CASE("the global --concurrency cap bounds the jobs it could keep busy") {
    EngineOptions o;
    o.max_calls = 1000;  // 2 * 1000 * 3 / 13 = 462 jobs can use it
    Engine e(paper_moa("2048"), o);
    CHECK(e.max_jobs() == 462);
    o.max_calls = 20;  // far below the 256 floor: the floor stays (queued jobs cost little)
    Engine tiny(paper_moa("2048"), o);
    CHECK(tiny.max_jobs() == 256);
}
