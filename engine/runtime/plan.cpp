// The plan compiler: a checked GraphSpec resolved to indices (inputs, consumers, route
// gates, outputs) with every prompt template compiled once.
#include "runtime/plan.hpp"
#include "moa/ascii.hpp"

#include <algorithm>
#include <cstdint>
#include <map>

namespace moa {

namespace {

// Longest chain to the end: relaxed until stable (the graph has no cycles, so at most
// one pass per layer of depth); a route's gated nodes wait for the node it reads.
void set_heights(Plan& plan) {
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < plan.nodes.size(); ++i) {
            PlanNode& pn = plan.nodes[i];
            uint32_t h = 1;
            for (int c : pn.consumers) h = std::max(h, plan.nodes[static_cast<size_t>(c)].height + 1);
            for (const auto& r : plan.routes)
                if (r.on == static_cast<int>(i))
                    for (int gated : r.gated) h = std::max(h, plan.nodes[static_cast<size_t>(gated)].height + 1);
            if (h != pn.height) pn.height = h, changed = true;
        }
    }
}

}  // namespace

Plan make_plan(const GraphSpec& g) {
    Plan plan;
    std::map<std::string, int> index, layer_index;
    for (const auto& l : g.layers) {
        layer_index[l.name] = static_cast<int>(plan.layers.size());
        plan.layers.push_back(l.name);
    }
    std::map<std::string, const TemplateSpec*> templates;
    for (const auto& t : g.templates) templates[t.name] = &t;
    auto compile = [&](const std::string& name) {
        return name.empty() || !templates.count(name) ? CompiledTemplate() : CompiledTemplate(templates[name]->text);
    };
    for (const auto& n : g.nodes) {
        index[n.id] = static_cast<int>(plan.nodes.size());
        PlanNode pn;
        pn.id = n.id;
        pn.layer = layer_index[n.layer];
        pn.agent = g.agent(n.agent);
        pn.backend = g.backend(pn.agent->backend);
        pn.replica = n.replica;
        pn.fan_in = n.fan_in;
        pn.result = n.result;
        if (g.verdict && std::find(g.verdict->nodes.begin(), g.verdict->nodes.end(), n.id) != g.verdict->nodes.end())
            pn.verdict = &*g.verdict;
        for (const auto& in : n.inputs) pn.inputs.push_back(index.at(in));
        pn.prompt.system = compile(pn.agent->system);
        pn.prompt.user = compile(pn.agent->user);
        pn.prompt.prompt = compile(n.prompt);
        pn.prompt.agent = pn.agent->name;
        pn.prompt.model = pn.agent->model;
        pn.prompt.layer = n.layer;
        plan.nodes.push_back(std::move(pn));
    }
    for (auto& pn : plan.nodes)
        for (int in : pn.inputs) plan.nodes[static_cast<size_t>(in)].consumers.push_back(index.at(pn.id));
    std::map<std::string, std::vector<int>> layer_nodes;
    for (const auto& l : g.layers)
        for (const auto& id : l.nodes) layer_nodes[l.name].push_back(index.at(id));
    for (const auto& r : g.routes) {
        PlanRoute pr;
        int ridx = static_cast<int>(plan.routes.size());
        if (r.on != "query") {
            pr.on = index.at(r.on);
            plan.nodes[static_cast<size_t>(pr.on)].consumers_plus++;
        }
        for (const auto& a : r.arms) {
            PlanRoute::Arm arm;
            for (auto p : a.patterns) {
                ascii::lower_in_place(p);  // matched against the lower-cased text
                arm.patterns.push_back(p);
            }
            // A target with `repeat` has instances name[1]..name[n]; all are gated.
            for (const auto& l : g.layers)
                if (l.name == a.target || l.name.rfind(a.target + "[", 0) == 0)
                    for (int node : layer_nodes[l.name]) arm.nodes.push_back(node);
            if (a.patterns.empty()) pr.otherwise = static_cast<int>(pr.arms.size());
            pr.arms.push_back(std::move(arm));
        }
        for (const auto& arm : pr.arms)
            for (int node : arm.nodes) {
                pr.gated.push_back(node);
                plan.nodes[static_cast<size_t>(node)].gate = ridx;
            }
        plan.routes.push_back(std::move(pr));
    }
    for (const auto& o : g.outputs) {
        int i = index.at(o.node);
        plan.outputs.emplace_back(o.name, i);
        plan.nodes[static_cast<size_t>(i)].consumers_plus++;
    }
    if (!plan.outputs.empty()) plan.streamed = plan.outputs.front().second;
    set_heights(plan);
    return plan;
}

}  // namespace moa

namespace moa {

// Enough jobs to keep every backend's slots busy. A job has, on average, calls / depth
// of its calls on a backend in flight at once (the layers of its longest chain run one
// after another), so filling `limit` slots takes limit * depth / calls jobs; twice that,
// because jobs in a narrow layer (the final aggregator) leave slots that jobs in a wide
// one must fill. The largest need over the backends wins, capped by what the global
// --concurrency cap can use; never fewer than the fixed default of old.
int jobs_to_fill(const Plan& plan, int max_calls) {
    std::vector<int64_t> depth(plan.nodes.size(), 1);
    std::map<const BackendSpec*, int64_t> calls;
    int64_t longest = 1;
    for (size_t i = 0; i < plan.nodes.size(); ++i) {
        for (int in : plan.nodes[i].inputs) depth[i] = std::max(depth[i], depth[static_cast<size_t>(in)] + 1);
        longest = std::max(longest, depth[i]);
        ++calls[plan.nodes[i].backend];
    }
    auto fill = [&](int64_t slots, int64_t n) { return (2 * slots * longest + n - 1) / n; };
    int64_t need = 0;
    for (const auto& [backend, n] : calls)
        if (backend->max_concurrent > 0) need = std::max(need, fill(backend->max_concurrent, n));
    if (max_calls > 0 && !plan.nodes.empty())
        need = std::min(need, fill(max_calls, static_cast<int64_t>(plan.nodes.size())));
    return static_cast<int>(std::clamp<int64_t>(need, kDefaultJobsInFlight, kMaxDerivedJobs));
}

}  // namespace moa
