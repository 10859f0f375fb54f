// plan_graph (moa/plan.hpp): the graph's static figures (calls, worst case, bounds),
// then the expected ones as means over seeded draws of whole jobs (planner_draw.cpp),
// and the batch's wall time by list scheduling drawn batches (planner_sched.cpp).
#include <algorithm>
#include <cmath>
#include <map>

#include "runtime/planner.hpp"

namespace moa {

double LatencyProfile::median_latency_ms() const {
    if (latency_ms.empty()) return 0;
    std::vector<double> v = latency_ms;
    std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
    double hi = v[v.size() / 2];
    if (v.size() % 2) return hi;
    return (hi + *std::max_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2))) / 2;
}

namespace {

// Draws per estimate: enough for a mean within a fraction of a percent, bounded in work
// (rendered prompts) so that a large graph or input plans in about a second.
constexpr size_t kQueryTrials = 2000, kQueryWork = 100'000;
constexpr size_t kBatchTrials = 2000, kBatchWork = 100'000;

int worst_attempts(const GraphSpec& g, const PlanNode& pn, std::string& fallback) {
    int n = std::max(1, pn.backend->retry.attempts);
    if (!pn.agent->fallback.empty())
        if (const AgentSpec* fb = g.agent(pn.agent->fallback)) {
            fallback = fb->name;
            if (const BackendSpec* b = g.backend(fb->backend)) n += std::max(1, b->retry.attempts);
        }
    return n;
}

// The longest answer of node i, in tokens (its reply) and bytes (its result): what
// the backend's CallModel says; elsewhere max_tokens, at 4 bytes a token (the
// engine's estimate). A pick's result is one of its inputs.
void longest(const Plan& plan, size_t i, const std::vector<std::optional<double>>& bytes, size_t query_bytes,
             std::optional<double>& tokens_max, std::optional<double>& bytes_max) {
    const PlanNode& pn = plan.nodes[i];
    size_t choices = pn.result == ResultKind::Pick ? pn.inputs.size() : 0;
    if (const CallModel* model = provider_of(pn.backend->kind).model) {
        std::vector<std::string> input_models;
        for (int in : pn.inputs) input_models.push_back(plan.nodes[static_cast<size_t>(in)].agent->model);
        double t = 0, b = 0;
        model->longest(*pn.agent, *pn.backend, input_models, query_bytes, choices, t, b);
        tokens_max = t;
        bytes_max = b;
    } else if (pn.agent->max_tokens) {
        tokens_max = static_cast<double>(*pn.agent->max_tokens);
        bytes_max = 4 * *tokens_max;
    }
    if (choices > 0) {
        bytes_max = 0.0;
        for (int in : pn.inputs) {
            if (!bytes[static_cast<size_t>(in)]) bytes_max.reset();
            if (bytes_max) bytes_max = std::max(*bytes_max, *bytes[static_cast<size_t>(in)]);
        }
    }
}

// Input tokens with every input's answer at its longest.
std::optional<double> in_max(const Plan& plan, size_t i, const std::vector<std::optional<double>>& longest, size_t query_chars) {
    const PlanNode& pn = plan.nodes[i];
    std::vector<std::string> texts;
    for (int in : pn.inputs) {
        if (!longest[static_cast<size_t>(in)]) return std::nullopt;
        texts.emplace_back(static_cast<size_t>(*longest[static_cast<size_t>(in)]), 'x');
    }
    std::vector<std::string_view> views(texts.begin(), texts.end());
    std::string query(query_chars, 'q');
    size_t chars = 0;
    auto msgs = pn.prompt.render(query, views);
    for (const auto& m : msgs) chars += m.content.size();
    return static_cast<double>(chars / 4 + 4 * msgs.size());
}

void calls_per_query(const Plan& plan, GraphPlan& out) {
    int gated = 0;
    for (const auto& pn : plan.nodes) gated += pn.gate >= 0;
    out.calls_min = out.calls_max = static_cast<int>(plan.nodes.size()) - gated;
    for (const auto& r : plan.routes) {
        int lo = r.otherwise < 0 ? 0 : INT32_MAX, hi = 0;
        for (const auto& a : r.arms) {
            lo = std::min(lo, static_cast<int>(a.nodes.size()));
            hi = std::max(hi, static_cast<int>(a.nodes.size()));
        }
        out.calls_min += lo == INT32_MAX ? 0 : lo;
        out.calls_max += hi;
    }
}

// The expected figures of one query: means over drawn jobs (queries of the input in turn).
void expected_query(const GraphSpec& g, const Plan& plan, const PlanOptions& o, const std::vector<std::string>& queries,
                    GraphPlan& out) {
    JobDrawer drawer(g, plan, o);
    PlanRng rng{o.seed ^ 0x706c616eULL};
    size_t n = plan.nodes.size();
    size_t trials = std::clamp<size_t>(kQueryWork / std::max<size_t>(n, 1), 20, kQueryTrials);
    std::vector<double> in(n, 0), outt(n, 0), lat(n, 0);
    std::vector<bool> in_known(n, true), out_known(n, true), lat_known(n, true);
    double cp_sum = 0;
    bool cp_known = true;
    for (size_t t = 0; t < trials; ++t) {
        auto job = drawer.draw(queries[t % queries.size()], rng);
        for (size_t i = 0; i < n; ++i) {
            const CallDraw& d = job[i];
            in[i] += d.tokens_in;
            outt[i] += d.tokens_out;
            lat[i] += d.service_ms;
            out_known[i] = out_known[i] && d.out_known;
            lat_known[i] = lat_known[i] && d.latency_known;
            for (int x : plan.nodes[i].inputs) in_known[i] = in_known[i] && job[static_cast<size_t>(x)].out_known;
        }
        auto cp = critical_path(plan, job);
        cp_known = cp_known && cp.has_value();
        if (cp) cp_sum += *cp;
    }
    double T = static_cast<double>(trials);
    for (size_t i = 0; i < n; ++i) {
        NodePlan& np = out.nodes[i];
        if (in_known[i]) np.tokens_in = in[i] / T;
        if (out_known[i]) np.tokens_out = outt[i] / T;
        if (lat_known[i]) np.latency_ms = lat[i] / T;
    }
    if (cp_known) out.critical_path_ms = cp_sum / T;
    out.trials = static_cast<int>(trials);
}

// The chain of expected latencies that decides the critical path, marked.
void mark_critical(const Plan& plan, GraphPlan& out) {
    size_t n = plan.nodes.size();
    if (n == 0 || !out.critical_path_ms) return;
    std::vector<double> cp(n, 0);
    std::vector<int> from(n, -1);
    size_t best = 0;
    for (size_t i = 0; i < n; ++i) {
        for (int in : plan.nodes[i].inputs)
            if (from[i] < 0 || cp[static_cast<size_t>(in)] > cp[static_cast<size_t>(from[i])]) from[i] = in;
        cp[i] = (from[i] < 0 ? 0 : cp[static_cast<size_t>(from[i])]) + out.nodes[i].latency_ms.value_or(0);
        if (cp[i] > cp[best]) best = i;
    }
    for (int i = static_cast<int>(best); i >= 0; i = from[static_cast<size_t>(i)]) out.nodes[static_cast<size_t>(i)].critical = true;
}

void batch(const GraphSpec& g, const Plan& plan, const PlanOptions& o, const std::vector<std::string>& queries, GraphPlan& out) {
    out.max_calls = o.max_calls;
    out.max_jobs = o.max_jobs > 0 ? o.max_jobs : jobs_to_fill(plan, o.max_calls);
    int64_t calls = static_cast<int64_t>(out.queries) * out.calls_max;
    int64_t fallback_first = 0, retries = 0;
    for (const auto& np : out.nodes) {
        fallback_first += np.fallback.empty() ? 0 : 1;
        retries += np.worst_attempts - 1 - (np.fallback.empty() ? 0 : 1);
    }
    // The run-wide retry budget (scheduler.cpp: 20 retries plus one per two calls).
    int64_t q = static_cast<int64_t>(out.queries);
    out.batch_worst_attempts = calls + q * fallback_first + std::min(q * retries, 20 + calls / 2);
    if (!out.critical_path_ms) return;
    JobDrawer drawer(g, plan, o);
    PlanRng rng{o.seed ^ 0x6261746368ULL};
    size_t work = std::max<size_t>(1, queries.size() * plan.nodes.size());
    size_t trials = std::clamp<size_t>(kBatchWork / work, 1, kBatchTrials);
    double sum = 0;
    for (size_t t = 0; t < trials; ++t) {
        std::vector<std::vector<CallDraw>> jobs;
        jobs.reserve(queries.size());
        for (const auto& query : queries) jobs.push_back(drawer.draw(query, rng));
        auto wall = batch_wall_ms(plan, jobs, out.max_jobs, o.max_calls);
        if (!wall) return;
        sum += *wall;
    }
    out.batch_wall_ms = sum / static_cast<double>(trials);
    out.batch_trials = static_cast<int>(trials);
}

void name_unknowns(const Plan& plan, GraphPlan& out) {
    for (size_t i = 0; i < plan.nodes.size(); ++i) {
        const NodePlan& np = out.nodes[i];
        if (np.profile == "none")
            out.unknowns.push_back("node " + np.node + ": latency and answer length unknown: no latency profile for model \"" +
                                   np.model + "\" (backend " + np.backend + ", " + to_string(plan.nodes[i].backend->kind) +
                                   "): no answer with a recorded latency in the cache (record one with `moa run --cache rw`, "
                                   "or point --cache-db at a cache that has one)");
        if (!np.tokens_out_max)
            out.unknowns.push_back("node " + np.node + ": most output tokens unknown: agent " + np.agent + " sets no max_tokens");
    }
    if (!out.critical_path_ms) out.unknowns.push_back("critical path and batch wall time unknown: a node has no latency profile");
}

}  // namespace

GraphPlan plan_graph(const GraphSpec& g, const PlanOptions& o) {
    Plan plan = make_plan(g);
    GraphPlan out;
    std::vector<std::string> queries = o.queries;
    out.queries = std::max<size_t>(1, queries.size());
    if (queries.empty()) {
        queries.emplace_back(kTypicalQueryChars, 'q');
        out.query_source = "typical (" + std::to_string(kTypicalQueryChars) + " chars)";
    }
    else out.query_source = "input (" + std::to_string(queries.size()) + " queries)";
    out.seed = o.seed;
    for (const auto& q : queries) out.query_chars += static_cast<double>(q.size());
    out.query_chars /= static_cast<double>(queries.size());
    calls_per_query(plan, out);
    std::vector<std::optional<double>> chars;  // each node's longest answer
    for (size_t i = 0; i < plan.nodes.size(); ++i) {
        const PlanNode& pn = plan.nodes[i];
        NodePlan np;
        np.node = pn.id;
        np.layer = plan.layers[static_cast<size_t>(pn.layer)];
        np.agent = pn.agent->name;
        np.model = pn.agent->model;
        np.backend = pn.backend->name;
        if (pn.gate >= 0) np.gate = g.routes[static_cast<size_t>(pn.gate)].name;
        np.worst_attempts = worst_attempts(g, pn, np.fallback);
        auto p = o.profiles.find(pn.agent->model);
        const CallModel* model = provider_of(pn.backend->kind).model;
        np.profile = model ? model->label
                     : p != o.profiles.end() && !p->second.latency_ms.empty()
                         ? "cache (" + std::to_string(p->second.latency_ms.size()) + " answers)"
                         : "none";
        size_t qmax = 0;
        for (const auto& q : queries) qmax = std::max(qmax, q.size());
        chars.emplace_back();
        longest(plan, i, chars, qmax, np.tokens_out_max, chars.back());
        np.tokens_in_max = in_max(plan, i, chars, qmax);
        out.worst_attempts += np.worst_attempts;
        out.nodes.push_back(std::move(np));
    }
    expected_query(g, plan, o, queries, out);
    mark_critical(plan, out);
    out.tokens_in = sum_known(out.nodes, &NodePlan::tokens_in);
    out.tokens_out = sum_known(out.nodes, &NodePlan::tokens_out);
    out.tokens_in_max = sum_known(out.nodes, &NodePlan::tokens_in_max);
    out.tokens_out_max = sum_known(out.nodes, &NodePlan::tokens_out_max);
    batch(g, plan, o, queries, out);
    name_unknowns(plan, out);
    price_plan(g, plan, out);
    return out;
}

}  // namespace moa
