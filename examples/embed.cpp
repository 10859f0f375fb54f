// Embedding moa in a C++ program: load a graph, run one query, then a small batch,
// watching per-node events. By default it runs the paper's MoA on the simulator:
//
//   query ─┬─► propose (6 models) ══► refine (6 models) ══► aggregate (Qwen 110B) ──► answer
//          └───────────────── every arrow ══ is all-to-all ──────────────┘
#include <iostream>

#include "moa/dsl.hpp"
#include "moa/engine.hpp"

int main(int argc, char** argv) {
    moa::Diagnostics diags;
    moa::LoadOptions opts;
    opts.import_paths = {MOA_SOURCE_DIR "/stdlib"};
    opts.overrides = {"sim.latency={first_token=5ms}"};  // like `moa run --set`
    auto loaded = moa::load_graph(argc > 1 ? argv[1] : MOA_SOURCE_DIR "/graphs/paper-moa-sim.moa", opts, diags);
    if (!loaded.ok) return 1;  // diags holds the errors

    moa::Engine engine(loaded.graph, moa::EngineOptions{});
    engine.on_event([](const moa::NodeEvent& e) { std::cerr << e.node << ": " << moa::to_string(e.status) << "\n"; });
    moa::JobResult one = engine.run_one("What is a Mixture-of-Agents?");
    std::cout << one.output() << "\n";

    struct Three : moa::QuerySource {
        int i = 0;
        std::optional<moa::Query> next() override {
            if (i == 3) return std::nullopt;
            ++i;
            return moa::Query{std::to_string(i), "question " + std::to_string(i), ""};
        }
    } source;
    moa::RunStats stats = engine.run_batch(source, [](moa::JobResult&& r) { std::cout << r.id << ": " << r.output() << "\n"; });
    stats.print(std::cerr);
}
