// A batch's wall time by list scheduling, event by event, under the limits the engine's
// Scheduler applies: jobs admitted in input order up to max_jobs in flight; per
// backend, max_concurrent slots and token buckets for requests and tokens per minute
// (a second's worth of burst, as scheduler.cpp); the global cap on calls in flight;
// queued calls start earlier jobs first, then in the order they became ready, until the
// input is exhausted (the engine reads it when a job slot is free and finds nothing);
// from then on the longest chain still ahead first (PlanNode::height), as
// Scheduler::order_by_height does.
// A call holds its slot for its whole service time (retry waits included: a small
// overestimate when backends fail, none otherwise).
#include <algorithm>
#include <cmath>
#include <map>
#include <queue>
#include <set>
#include <tuple>

#include "runtime/planner.hpp"

namespace moa {

namespace {

struct Bucket {  // as Scheduler::Bucket, in milliseconds of simulated time
    bool enabled = false;
    double per_ms = 0, capacity = 0, tokens = 0, last = 0;
    void init(double per_minute) {
        enabled = per_minute > 0;
        per_ms = per_minute / 60e3;
        capacity = std::max(1.0, per_minute / 60);
        tokens = capacity;
    }
    void refill(double now) {
        if (!enabled) return;
        tokens = std::min(capacity, tokens + (now - last) * per_ms);
        last = now;
    }
    double wait_ms(double n) const { return !enabled || tokens >= n ? 0 : (n - tokens) / per_ms; }
};

struct Pool {
    const BackendSpec* spec = nullptr;
    int running = 0;
    Bucket requests, tokens;
    // (0 or, at the end of the input, -height; job; ready seq; node)
    std::set<std::tuple<int64_t, size_t, uint64_t, size_t>> queue;
    bool wake_pending = false;
};

struct Event {
    double t;
    int kind;  // 0: a call finished; 1: a pool may start calls again
    size_t job, node;
    bool operator>(const Event& o) const { return t > o.t; }
};

class BatchSim {
public:
    BatchSim(const Plan& plan, const std::vector<std::vector<CallDraw>>& jobs, int max_jobs, int max_calls)
        : plan_(plan), jobs_(jobs), max_jobs_(std::max(1, max_jobs)), max_calls_(max_calls) {
        for (const auto& pn : plan.nodes) {
            Pool& p = pools_[pn.backend->name];
            if (!p.spec) {
                p.spec = pn.backend;
                p.requests.init(pn.backend->requests_per_minute);
                p.tokens.init(pn.backend->tokens_per_minute);
            }
        }
        waiting_.resize(jobs.size());
        left_.assign(jobs.size(), plan.nodes.size());
    }

    double run() {
        while (next_job_ < jobs_.size() && active_ < static_cast<size_t>(max_jobs_)) admit(0);
        input_read();
        for (auto& [_, p] : pools_) pump(p);
        while (!events_.empty()) {
            Event e = events_.top();
            events_.pop();
            now_ = e.t;
            if (e.kind == 0) finished(e.job, e.node);
            else pools_.at(plan_.nodes[e.node].backend->name).wake_pending = false;
            for (auto& [_, p] : pools_) pump(p);
        }
        return end_;
    }

private:
    void admit(double t) {
        size_t j = next_job_++;
        ++active_;
        auto& w = waiting_[j];
        w.resize(plan_.nodes.size());
        for (size_t i = 0; i < plan_.nodes.size(); ++i) {
            const PlanNode& pn = plan_.nodes[i];
            size_t need = pn.fan_in.kind == FanInKind::AtLeast ? static_cast<size_t>(std::max(pn.fan_in.k, 1)) : pn.inputs.size();
            w[i] = std::min(need, pn.inputs.size());
            if (w[i] == 0) ready(j, i, t);
        }
    }

    // A node whose inputs are in: a call queued on its backend, or (not called: an
    // input failed) done at once.
    void ready(size_t j, size_t i, double t) {
        const CallDraw& d = jobs_[j][i];
        if (d.failed && d.service_ms == 0) return finished(j, i, false);
        pools_.at(plan_.nodes[i].backend->name).queue.emplace(key(i), j, ++seq_, i);
        (void)t;
    }

    void finished(size_t j, size_t i, bool ran = true) {
        if (ran) {
            --pools_.at(plan_.nodes[i].backend->name).running;
            --running_;
        }
        for (int c : plan_.nodes[i].consumers) {
            auto& w = waiting_[j][static_cast<size_t>(c)];
            if (w > 0 && --w == 0) ready(j, static_cast<size_t>(c), now_);
        }
        if (--left_[j] == 0) {
            --active_;
            end_ = std::max(end_, now_);
            waiting_[j].clear();
            if (next_job_ < jobs_.size()) admit(now_);
            input_read();
        }
    }

    int64_t key(size_t node) const { return by_height_ ? -static_cast<int64_t>(plan_.nodes[node].height) : 0; }

    // The engine's batch driver reads the input whenever a job slot is free: once every
    // job is admitted and a slot is free, it finds the end and switches the order.
    void input_read() {
        if (by_height_ || next_job_ < jobs_.size() || active_ >= static_cast<size_t>(max_jobs_)) return;
        by_height_ = true;
        for (auto& [_, p] : pools_) {
            decltype(p.queue) q;
            for (auto [k, j, s, i] : p.queue) q.emplace(key(i), j, s, i);
            p.queue.swap(q);
        }
    }

    void pump(Pool& p) {
        while (!p.queue.empty()) {
            if (p.spec->max_concurrent > 0 && p.running >= p.spec->max_concurrent) return;
            if (max_calls_ > 0 && running_ >= max_calls_) return;
            auto [k, j, s, i] = *p.queue.begin();
            const CallDraw& d = jobs_[j][i];
            p.requests.refill(now_);
            p.tokens.refill(now_);
            double cost = std::min<double>(d.est_tokens, p.tokens.capacity);
            double wait = std::max(p.requests.wait_ms(1), p.tokens.wait_ms(cost));
            if (wait > 0) {
                if (!p.wake_pending) {
                    p.wake_pending = true;
                    events_.push({now_ + wait, 1, j, i});
                }
                return;
            }
            if (p.requests.enabled) p.requests.tokens -= 1;
            if (p.tokens.enabled) p.tokens.tokens -= cost;
            p.queue.erase(p.queue.begin());
            ++p.running;
            ++running_;
            events_.push({now_ + d.service_ms, 0, j, i});
        }
    }

    const Plan& plan_;
    const std::vector<std::vector<CallDraw>>& jobs_;
    int max_jobs_, max_calls_;
    std::map<std::string, Pool> pools_;
    std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
    std::vector<std::vector<size_t>> waiting_;  // per job and node: inputs still awaited
    std::vector<size_t> left_;                  // per job: nodes not done
    size_t next_job_ = 0, active_ = 0;
    int running_ = 0;
    uint64_t seq_ = 0;
    double now_ = 0, end_ = 0;
    bool by_height_ = false;
};

}  // namespace

std::optional<double> batch_wall_ms(const Plan& plan, const std::vector<std::vector<CallDraw>>& jobs, int max_jobs,
                                    int max_calls) {
    for (const auto& job : jobs)
        for (const auto& d : job)
            if (!d.latency_known) return std::nullopt;
    if (jobs.empty() || plan.nodes.empty()) return 0.0;
    return BatchSim(plan, jobs, max_jobs, max_calls).run();
}

}  // namespace moa
