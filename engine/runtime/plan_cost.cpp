// The plan's cost range (moa/plan.hpp): per node, the expected tokens at the model's
// price, and the worst case: every attempt (retries, then the fallback's at its own
// price) billed for the longest prompt and the longest answer. A model without a price
// (moa/cost.hpp find_price) has an unknown cost, said so, never 0.
#include <cmath>

#include "moa/cost.hpp"
#include "runtime/planner.hpp"

namespace moa {

namespace {

uint64_t whole(double tokens) { return static_cast<uint64_t>(std::llround(tokens)); }

void node_cost(const GraphSpec& g, const PlanNode& pn, NodePlan& np, std::vector<std::string>& unknowns) {
    auto price = find_price(g, pn.backend->name, pn.agent->model);
    if (!price) {
        unknowns.push_back("node " + np.node + ": cost unknown: no price for model \"" + pn.agent->model + "\" on backend " +
                           pn.backend->name + " (declare a `price` for it in the graph)");
        return;
    }
    np.price_origin = price->origin;
    if (np.tokens_in && np.tokens_out) np.cost_usd = cost_usd(*price, whole(*np.tokens_in), whole(*np.tokens_out));
    if (!np.tokens_in_max || !np.tokens_out_max) return;
    double worst = pn.backend->retry.attempts * cost_usd(*price, whole(*np.tokens_in_max), whole(*np.tokens_out_max));
    if (!np.fallback.empty()) {
        const AgentSpec* fb = g.agent(np.fallback);
        const BackendSpec* fbb = fb ? g.backend(fb->backend) : nullptr;
        auto fp = fbb ? find_price(g, fbb->name, fb->model) : std::nullopt;
        // The fallback's answer is bounded by its own max_tokens (the same bound when it has none).
        double out = fb && fb->max_tokens ? static_cast<double>(*fb->max_tokens) : *np.tokens_out_max;
        if (!fp) {
            unknowns.push_back("node " + np.node + ": worst-case cost unknown: no price for the fallback's model \"" +
                               (fb ? fb->model : np.fallback) + "\"");
            return;
        }
        worst += fbb->retry.attempts * cost_usd(*fp, whole(*np.tokens_in_max), whole(out));
    }
    np.cost_max_usd = worst;
}

}  // namespace

void price_plan(const GraphSpec& g, const Plan& plan, GraphPlan& out) {
    for (size_t i = 0; i < plan.nodes.size(); ++i) node_cost(g, plan.nodes[i], out.nodes[i], out.unknowns);
    out.cost_usd = sum_known(out.nodes, &NodePlan::cost_usd);
    out.cost_max_usd = sum_known(out.nodes, &NodePlan::cost_max_usd);
}

}  // namespace moa
