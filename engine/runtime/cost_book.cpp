#include "runtime/cost_book.hpp"

#include <algorithm>
#include <ostream>

namespace moa {

CostBook::CostBook(const GraphSpec& g, const Plan& plan) : plan_(plan) {
    for (const auto& a : g.agents) by_agent_[a.name] = {find_price(g, a.backend, a.model), a.backend + "/" + a.model};
}

void CostBook::settle(NodeState& ns, const Call* call, const Reply& r) const {
    ns.tokens_cached = r.tokens_cached;
    ns.tokens_estimated = r.tokens_estimated;
    ns.cost_usd = ns.saved_usd = 0;
    ns.cost_known = false;
    ns.cache_hit = false;
    if (!call || !call->agent) return;
    // No attempt of its own and an answer: the cache (or an identical call in flight,
    // whose cost is counted there) answered it.
    ns.cache_hit = call->attempts == 0 && r.status == CallStatus::Ok;
    auto it = by_agent_.find(call->agent->name);
    if (it == by_agent_.end()) return;
    ns.priced = it->second.label;
    if (!it->second.price) return;
    ns.cost_known = true;
    double usd = cost_usd(*it->second.price, r.tokens_in, r.tokens_out, r.tokens_cached);
    (ns.cache_hit ? ns.saved_usd : ns.cost_usd) = usd;
}

void CostBook::account(RunStats& t, size_t i, const NodeState& ns) const {
    if (ns.error_kind == "budget") t.budget_refused_calls++;
    bool called = ns.attempts > 0;
    if (!called && !ns.cache_hit) return;
    if (t.node_costs.empty()) {
        t.node_costs.resize(plan_.nodes.size());
        for (size_t n = 0; n < plan_.nodes.size(); ++n) t.node_costs[n].name = plan_.nodes[n].id;
        t.layer_costs.resize(plan_.layers.size());
        for (size_t l = 0; l < plan_.layers.size(); ++l) t.layer_costs[l].name = plan_.layers[l];
    }
    CostRow* rows[] = {&t.node_costs[i], &t.layer_costs[static_cast<size_t>(plan_.nodes[i].layer)]};
    for (CostRow* row : rows) {
        if (called) {
            row->calls++;
            row->tokens_in += ns.tokens_in;
            row->tokens_out += ns.tokens_out;
            row->cost_usd += ns.cost_usd;
        } else {
            row->cache_hits++;
            row->saved_usd += ns.saved_usd;
        }
        if (!ns.cost_known) row->unknown_cost++;
        row->estimated = row->estimated || (called && ns.tokens_estimated);
    }
    if (called) t.cost_usd += ns.cost_usd;
    else t.saved_usd += ns.saved_usd;
    if (called && ns.tokens_estimated) t.tokens_estimated = true;
    if (!ns.cost_known) {
        if (called) t.unknown_cost_calls++;
        if (!ns.priced.empty() &&
            std::find(t.unknown_prices.begin(), t.unknown_prices.end(), ns.priced) == t.unknown_prices.end())
            t.unknown_prices.push_back(ns.priced);
    }
}

void CostBook::finish(RunStats& s) {
    std::erase_if(s.node_costs, [](const CostRow& r) { return r.calls == 0 && r.cache_hits == 0; });
    std::sort(s.unknown_prices.begin(), s.unknown_prices.end());
}

}  // namespace moa

namespace moa {

void print_cost(std::ostream& out, const RunStats& s) {
    size_t made = 0;
    for (const auto& l : s.layer_costs) made += l.calls;
    if (s.unknown_cost_calls && s.unknown_cost_calls == made) out << "cost: unknown";  // nothing priced
    else out << "cost: " << format_usd(s.cost_usd);
    if (s.unknown_cost_calls)
        out << (s.unknown_cost_calls == made ? " (" : " + unknown (") << s.unknown_cost_calls << " call" << (s.unknown_cost_calls == 1 ? "" : "s")
            << " of models with no price)";
    if (s.saved_usd > 0) out << "; cache hits saved " << format_usd(s.saved_usd);
    out << "\n";
    if (!s.unknown_prices.empty()) {
        out << "no price for:";
        for (const auto& m : s.unknown_prices) out << " " << m;
        out << " (declare `price` in the graph; docs/language.md)\n";
    }
}

// One row per node or layer: calls, cache hits, tokens and money.
void print_cost_table(std::ostream& out, const char* what, const std::vector<CostRow>& rows) {
    if (rows.empty()) return;
    size_t w = std::string(what).size();
    for (const auto& r : rows) w = std::max(w, r.name.size());
    auto cell = [&](std::string text, size_t width) {
        if (text.size() < width) text.insert(0, width - text.size(), ' ');
        out << "  " << text;
    };
    out << "  " << what << std::string(w - std::string(what).size(), ' ');
    for (auto [h, width] : {std::pair<const char*, size_t>{"calls", 6}, {"hits", 5}, {"tokens in", 10},
                            {"tokens out", 10}, {"cost", 10}, {"saved", 10}})
        cell(h, width);
    out << "\n";
    for (const auto& r : rows) {
        const char* est = r.estimated ? "~" : "";
        out << "  " << r.name << std::string(w - r.name.size(), ' ');
        cell(std::to_string(r.calls), 6);
        cell(std::to_string(r.cache_hits), 5);
        cell(est + std::to_string(r.tokens_in), 10);
        cell(est + std::to_string(r.tokens_out), 10);
        cell(r.unknown_cost ? (r.unknown_cost == r.calls + r.cache_hits ? "?" : format_usd(r.cost_usd) + "+?")
                            : format_usd(r.cost_usd),
             10);
        cell(format_usd(r.saved_usd), 10);
        out << "\n";
    }
}

}  // namespace moa
