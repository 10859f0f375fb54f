// One job drawn the way the engine runs it: prompts rendered by the engine's own
// templates from the inputs' drawn answers; calls of a backend with a CallModel (the
// simulator) answered and timed by its own code, with a random hash in place of the
// request's; other calls drawn from the answers a cache recorded for their model.
#include <algorithm>
#include <cmath>

#include "backends/backend.hpp"
#include "runtime/hash.hpp"
#include "runtime/planner.hpp"

namespace moa {

uint64_t PlanRng::next() { return mix(state += 0x9E3779B97F4A7C15ULL); }
double PlanRng::unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

std::vector<CallDraw> JobDrawer::draw(std::string_view query, PlanRng& rng) const {
    std::vector<CallDraw> job(plan_.nodes.size());
    std::vector<std::string_view> responses;
    for (size_t i = 0; i < plan_.nodes.size(); ++i) {
        const PlanNode& pn = plan_.nodes[i];
        responses.clear();
        size_t failed = 0;
        for (int in : pn.inputs) {
            const CallDraw& d = job[static_cast<size_t>(in)];
            if (d.failed) ++failed;
            else responses.push_back(d.text);
        }
        // Fan-in all: one failed input fails the node (it is not called). Otherwise it
        // is called with what arrived, if that is enough.
        size_t need = pn.fan_in.kind == FanInKind::All ? pn.inputs.size() : static_cast<size_t>(std::max(pn.fan_in.k, 1));
        if (failed > 0 && responses.size() < std::min(need, pn.inputs.size())) {
            job[i].failed = true;
            continue;
        }
        call(i, responses, query, rng, job[i]);
    }
    return job;
}

void JobDrawer::call(size_t i, const std::vector<std::string_view>& responses, std::string_view query, PlanRng& rng,
                     CallDraw& d) const {
    const PlanNode& pn = plan_.nodes[i];
    auto msgs = pn.prompt.render(query, responses);
    size_t chars = 0;
    for (const auto& m : msgs) chars += m.content.size();
    d.tokens_in = static_cast<double>(chars / 4 + 4 * msgs.size());
    d.est_tokens = static_cast<uint32_t>(chars / 4 + (pn.agent->max_tokens ? *pn.agent->max_tokens : 512));
    size_t choices = pn.result == ResultKind::Pick ? responses.size() : 0;
    const AgentSpec* agent = pn.agent;
    const BackendSpec* backend = pn.backend;
    // The agent, then its fallback when its retries run out (one hop, as the scheduler).
    for (int hop = 0; agent && backend; ++hop) {
        if (const CallModel* model = provider_of(backend->kind).model) {
            if (modelled_call(*model, *agent, *backend, i, msgs, choices, rng, d)) break;
        } else if (auto p = options_.profiles.find(agent->model);
                   p != options_.profiles.end() && !p->second.latency_ms.empty()) {
            const LatencyProfile& prof = p->second;  // a recorded answer, drawn at random
            size_t k = static_cast<size_t>(rng.next() % prof.latency_ms.size());
            d.service_ms += prof.latency_ms[k];
            d.tokens_out = prof.tokens_out[k];
            d.text.assign(prof.chars[k], 'x');
            break;
        } else {  // a real model with no profile: how long and how much it says is unknown
            d.latency_known = d.out_known = false;
            d.text.clear();
            break;
        }
        if (hop == 1 || agent->fallback.empty()) {
            d.failed = true;
            return;
        }
        agent = graph_.agent(agent->fallback);
        backend = agent ? graph_.backend(agent->backend) : nullptr;
    }
    if (pn.result == ResultKind::Pick && !responses.empty())  // the result is the picked input
        d.text.assign(responses[static_cast<size_t>(rng.next() % responses.size())]);
}

// A modelled call: the answer and each attempt from the backend's code; between failed
// attempts the scheduler's backoff (full jitter on an exponential cap, at least the
// server's Retry-After). False when every attempt failed.
bool JobDrawer::modelled_call(const CallModel& model, const AgentSpec& a, const BackendSpec& b, size_t i,
                              const std::vector<Message>& msgs, size_t choices, PlanRng& rng, CallDraw& d) const {
    Call c;
    c.backend = &b;
    c.agent = &a;
    c.messages = msgs;
    c.replica = plan_.nodes[i].replica;
    c.seed = options_.seed;
    c.choices = static_cast<uint32_t>(choices);
    uint64_t hash = rng.next();
    Reply r = model.answer(c, hash);
    const RetryPolicy& rp = b.retry;
    for (int attempt = 1; attempt <= std::max(1, rp.attempts); ++attempt) {
        CallModel::Attempt at = model.attempt(b, hash, attempt, r.tokens_out);
        d.service_ms += static_cast<double>(at.latency_us) / 1000;
        if (at.ok) {
            d.tokens_out = r.tokens_out;
            d.text = std::move(r.text);
            return true;
        }
        if (attempt == rp.attempts || at.retry_after_ms > rp.max_wait_ms) break;
        double cap = std::min<double>(static_cast<double>(rp.max_delay_ms),
                                      static_cast<double>(rp.base_delay_ms) * std::pow(2.0, attempt - 1));
        double wait = rng.unit() * cap;
        if (at.retry_after_ms >= 0) wait = std::max(wait, static_cast<double>(at.retry_after_ms));
        d.service_ms += wait;
    }
    return false;
}

std::optional<double> critical_path(const Plan& plan, const std::vector<CallDraw>& job) {
    std::vector<double> cp(plan.nodes.size(), 0);
    double longest = 0;
    for (size_t i = 0; i < plan.nodes.size(); ++i) {
        const CallDraw& d = job[i];
        if (!d.latency_known) return std::nullopt;
        double before = 0;
        for (int in : plan.nodes[i].inputs) before = std::max(before, cp[static_cast<size_t>(in)]);
        cp[i] = before + (d.failed && d.service_ms == 0 ? 0 : d.service_ms);
        longest = std::max(longest, cp[i]);
    }
    return longest;
}

}  // namespace moa
