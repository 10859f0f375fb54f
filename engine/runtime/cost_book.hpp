// Money in a run: each agent's price resolved once, a node's result priced when it
// resolves (NodeEvent cost fields), and the run's per-node / per-layer rows.
#pragma once

#include <iosfwd>
#include <map>
#include <vector>
#include <optional>
#include <set>
#include <string>

#include "moa/cost.hpp"
#include "moa/engine.hpp"
#include "runtime/call.hpp"
#include "runtime/job.hpp"
#include "runtime/plan.hpp"

namespace moa {

class CostBook {
public:
    CostBook(const GraphSpec& g, const Plan& plan);
    // Prices node state `ns` from its call's reply (call is null when no call was made).
    void settle(NodeState& ns, const Call* call, const Reply& r) const;
    // Adds node i's result to the run's totals (called under the stats lock).
    void account(RunStats& totals, size_t i, const NodeState& ns) const;
    // Drops the rows of nodes that neither called nor hit the cache; sorts the names.
    static void finish(RunStats& s);
    // The price of an agent's model, or null (unknown).
    const Price* price_of(const std::string& agent) const {
        auto it = by_agent_.find(agent);
        return it == by_agent_.end() || !it->second.price ? nullptr : &*it->second.price;
    }

private:
    struct Priced {
        std::optional<Price> price;
        std::string label;  // "backend/model"
    };
    std::map<std::string, Priced> by_agent_;
    const Plan& plan_;
};

// The summary's cost lines (RunStats::print): total, unknown prices, savings; and a
// table of calls, hits, tokens and money per node or per layer.
void print_cost(std::ostream& out, const RunStats& s);
void print_cost_table(std::ostream& out, const char* what, const std::vector<CostRow>& rows);

}  // namespace moa
