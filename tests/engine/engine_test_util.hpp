// Helpers for engine tests: load a graph from text, run queries, read the
// simulated backend's tags ("[model:hex6]") that show who aggregated whom.
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "moa/dsl.hpp"
#include "moa/engine.hpp"
#include "source.hpp"

namespace moa::test {

inline GraphSpec load(const std::string& text) {
    Diagnostics d;
    LoadOptions opts;
    opts.import_paths.push_back(std::string(MOA_SOURCE_DIR) + "/stdlib");
    auto r = load_graph_text("test.moa", text, opts, d);
    std::string errors;
    for (const auto& x : d.all()) errors += render_text(x);
    INFO(errors);
    REQUIRE(r.ok);
    return r.graph;
}

inline std::string tag(const std::string& text) {
    if (text.empty() || text[0] != '[') return "";
    return text.substr(0, text.find(']') + 1);
}

// The tags an aggregator's simulated answer cites, in order.
inline std::vector<std::string> cited(const std::string& text) {
    std::vector<std::string> out;
    size_t pos = text.find(" responses");
    if (pos == std::string::npos) return out;
    pos += 10;
    while (pos + 1 < text.size() && text[pos] == ' ' && text[pos + 1] == '[') {
        size_t close = text.find(']', pos);
        out.push_back(text.substr(pos + 1, close - pos));
        pos = close + 1;
    }
    return out;
}

inline const NodeEvent& node(const JobResult& r, const std::string& id) {
    for (const auto& n : r.nodes)
        if (n.node == id) return n;
    FAIL("no node " << id);
    return r.nodes.front();
}

class VectorSource : public QuerySource {
public:
    explicit VectorSource(std::vector<std::string> prompts) : prompts_(std::move(prompts)) {}
    std::optional<Query> next() override {
        if (i_ >= prompts_.size()) return std::nullopt;
        Query q;
        q.id = "q" + std::to_string(i_);
        q.prompt = prompts_[i_++];
        return q;
    }

private:
    std::vector<std::string> prompts_;
    size_t i_ = 0;
};

inline const char* kSimPrelude = R"(
backend sim { kind = sim }
template agg = "Responses:\n{{responses}}"
agent a { backend = sim  model = "m/alpha" }
agent b { backend = sim  model = "m/beta" }
agent c { backend = sim  model = "m/gamma" }
agent d { backend = sim  model = "m/delta" }
)";

}  // namespace moa::test
