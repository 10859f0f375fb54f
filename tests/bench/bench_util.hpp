// Shared pieces of the benchmark programs: loading a graph from text, process CPU
// time, and a query source that makes n distinct questions.
#pragma once

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "moa/dsl.hpp"
#include "moa/engine.hpp"

namespace moa::bench {

inline GraphSpec load(const std::string& text) {
    Diagnostics d;
    LoadOptions opts;
    opts.import_paths.push_back(MOA_SOURCE_DIR "/stdlib");
    auto r = load_graph_text("bench.moa", text, opts, d);
    if (!r.ok) {
        for (const auto& x : d.all()) std::fputs(render_text(x).c_str(), stderr);
        std::exit(1);
    }
    return r.graph;
}

inline double cpu_ms() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

class Counted : public QuerySource {
public:
    explicit Counted(size_t n) : n_(n) {}
    std::optional<Query> next() override {
        if (i_ >= n_) return std::nullopt;
        Query q;
        q.id = std::to_string(i_);
        q.prompt = "Question " + std::to_string(i_) + ": explain the trade-offs of approach " + std::to_string(i_ % 17);
        ++i_;
        return q;
    }

private:
    size_t n_, i_ = 0;
};

}  // namespace moa::bench
