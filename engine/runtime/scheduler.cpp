#include "runtime/scheduler.hpp"

#include <algorithm>
#include <cmath>

#include "runtime/hash.hpp"
#include "runtime/usage.hpp"

namespace moa {

namespace {
int64_t us_between(TimePoint a, TimePoint b) {
    return std::chrono::duration_cast<std::chrono::microseconds>(b - a).count();
}

Reply cancelled_reply() {
    Reply r;
    r.status = CallStatus::Cancelled;
    r.error_kind = ErrorKind::Cancelled;
    r.text = "cancelled: no longer needed";
    return r;
}
}  // namespace

void Scheduler::Bucket::init(double per_minute, double burst) {
    enabled = per_minute > 0;
    per_us = per_minute / 60e6;
    capacity = std::max(1.0, burst);
    tokens = capacity;
    last = Clock::now();
}

void Scheduler::Bucket::refill(TimePoint now) {
    if (!enabled) return;
    tokens = std::min(capacity, tokens + static_cast<double>(us_between(last, now)) * per_us);
    last = now;
}

int64_t Scheduler::Bucket::wait_us(double n) const {
    if (!enabled || tokens >= n) return 0;
    return static_cast<int64_t>(std::ceil((n - tokens) / per_us));
}

Scheduler::Scheduler(Reactor& reactor, const GraphSpec& graph, int max_calls, const BackendOf& backend_of)
    : reactor_(reactor), max_calls_(max_calls), graph_(graph) {
    for (const auto& b : graph.backends) {
        Pool& p = pools_[b.name];
        p.spec = &b;
        p.backend = &backend_of(b);
        // A burst of one second's worth keeps every window of W seconds under
        // rate * W + 1 s of traffic, the way providers' per-minute limits expect.
        p.requests.init(b.requests_per_minute, b.requests_per_minute / 60);
        p.tokens.init(b.tokens_per_minute, b.tokens_per_minute / 60);
    }
}

Scheduler::~Scheduler() = default;

void Scheduler::submit(CallPtr call) {
    in_flight.fetch_add(1, std::memory_order_relaxed);
    reactor_.post([this, call = std::move(call)]() mutable {
        call->submitted = Clock::now();
        ++submitted_;
        if (call->cancel_requested) return complete(call, cancelled_reply());
        enqueue(call);
    });
}

void Scheduler::cancel(CallPtr call) {
    reactor_.post([this, call = std::move(call)] {
        if (call->state == Call::State::Done) return;
        if (call->state == Call::State::New) {  // still with the cache: it completes it
            call->cancel_requested = true;
            return;
        }
        Pool& p = pools_.at(call->backend->name);
        if (call->state == Call::State::Queued) p.queue.erase(call);
        if (call->state == Call::State::Backoff) reactor_.cancel(call->timer);
        if (call->state == Call::State::Running) {
            p.backend->cancel(call);
            if (budget_) budget_->settle(*call, nullptr);
            --p.running;
            --running_total_;
            running.fetch_sub(1, std::memory_order_relaxed);
            TimePoint now = Clock::now();
            if (observer_) observer_->attempt_ended(p.spec->name, p.running, now);
            if (events_) report_attempt_end(*events_, *call, cancelled_reply(), now);
        }
        complete(call, cancelled_reply());
        pump_all();
    });
}

void Scheduler::order_by_height() {
    reactor_.post([this] {
        if (by_height_) return;
        by_height_ = true;
        for (auto& [_, p] : pools_) {
            std::set<CallPtr, ByPriority> q(ByPriority{true});
            q.insert(p.queue.begin(), p.queue.end());
            p.queue.swap(q);
        }
    });
}

void Scheduler::enqueue(const CallPtr& c) {
    Pool& p = pools_.at(c->backend->name);
    c->state = Call::State::Queued;
    c->seq = ++seq_;
    if (events_) events_->call_event(call_event(*c, CallEvent::Kind::Queued, Clock::now()));
    p.queue.insert(c);
    pump(p);
}

void Scheduler::pump_all() {
    for (auto& [_, p] : pools_)
        if (!p.queue.empty()) pump(p);
}

void Scheduler::pump(Pool& p) {
    TimePoint now = Clock::now();
    while (!p.queue.empty()) {
        if (p.spec->max_concurrent > 0 && p.running >= p.spec->max_concurrent) return;
        if (max_calls_ > 0 && running_total_ >= max_calls_) return;
        const CallPtr& c = *p.queue.begin();
        int64_t wait = 0;
        if (p.cooldown_until > now) wait = us_between(now, p.cooldown_until);
        p.requests.refill(now);
        p.tokens.refill(now);
        double cost = std::min<double>(c->est_tokens, p.tokens.capacity);
        wait = std::max({wait, p.requests.wait_us(1), p.tokens.wait_us(cost)});
        if (wait > 0) {
            // Wake up when the limit allows the next call; one timer per pool.
            if (!p.wake_timer) {
                p.wake_timer = reactor_.at(now + std::chrono::microseconds(wait), [this, &p] {
                    p.wake_timer = 0;
                    pump(p);
                });
            }
            return;
        }
        if (budget_) {  // the attempt's worst case, reserved where it starts (runtime/budget.hpp)
            Budget::Verdict v = budget_->reserve(*c);
            if (v == Budget::Verdict::Wait) return;  // an attempt in flight settles, then pumps
            if (v == Budget::Verdict::Reached) return refuse_all();
        }
        if (p.requests.enabled) p.requests.tokens -= 1;
        if (p.tokens.enabled) p.tokens.tokens -= cost;
        CallPtr call = c;
        p.queue.erase(p.queue.begin());
        start(p, call);
    }
}

void Scheduler::start(Pool& p, const CallPtr& c) {
    c->state = Call::State::Running;
    TimePoint now = Clock::now();
    if (++c->serial == 1) c->first_start = now;
    c->attempt_started = now;
    c->first_token = {};
    // `total` bounds the whole call, retries and the waits between them included.
    if (++c->attempts == 1 && p.backend->uses_deadline())
        c->deadline = now + std::chrono::milliseconds(effective_timeouts(*c->backend, *c->agent).total_ms);
    ++p.running;
    ++running_total_;
    running.fetch_add(1, std::memory_order_relaxed);
    attempts.fetch_add(1, std::memory_order_relaxed);
    if (observer_) observer_->attempt_started(p.spec->name, p.running, now);
    if (events_) events_->call_event(call_event(*c, CallEvent::Kind::Started, now));
    // Two pointers fit std::function's inline buffer (no allocation per attempt); the
    // backend holds the call while the attempt runs, and the pool is the call's.
    p.backend->start(c, [this, call = c.get()](Reply&& r) {
        attempt_done(pools_.at(call->backend->name), call->shared_from_this(), std::move(r));
    });
}

int64_t Scheduler::backoff_ms(const Call& c, const Reply& r) const {
    const RetryPolicy& rp = c.backend->retry;
    double cap = std::min<double>(static_cast<double>(rp.max_delay_ms),
                                  static_cast<double>(rp.base_delay_ms) * std::pow(2.0, c.attempts - 1));
    // Full jitter, drawn deterministically from the request and the attempt: from the
    // backend's jitter seed (reproducible runs), and from the call's sequence number,
    // so calls failing together do not retry together.
    uint64_t h = hash_bytes("backoff", c.jitter_seed + c.seq * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(c.attempts));
    double u = static_cast<double>(h >> 11) * 0x1.0p-53;
    int64_t d = static_cast<int64_t>(u * cap);
    if (r.retry_after_ms >= 0) d = std::max(d, r.retry_after_ms);
    return d;
}

// A retry must neither outlast the call's `total` timeout nor follow a server's
// request to wait longer than max_retry_wait: then the call fails now, saying why.
bool Scheduler::too_long_to_wait(const Pool& p, const Call& c, Reply& r, TimePoint now) const {
    int64_t cap = p.spec->retry.max_wait_ms;
    if (r.retry_after_ms > cap) {
        r.text += " (the server asked to wait " + std::to_string((r.retry_after_ms + 999) / 1000) +
                  " s, more than this backend's max_retry_wait of " + std::to_string(cap / 1000) + " s)";
        return true;
    }
    if (c.deadline != TimePoint::max() && now + std::chrono::milliseconds(backoff_ms(c, r)) >= c.deadline) {
        r.text += " (no time left for another attempt within the " +
                  timeout_name("total", effective_timeouts(*c.backend, *c.agent).total_ms) + ")";
        return true;
    }
    return false;
}

void Scheduler::attempt_done(Pool& p, const CallPtr& c, Reply&& r) {
    --p.running;
    --running_total_;
    running.fetch_sub(1, std::memory_order_relaxed);
    TimePoint now = Clock::now();
    if (observer_) observer_->attempt_ended(p.spec->name, p.running, now);
    estimate_missing_usage(*c, r);
    if (budget_) budget_->settle(*c, &r);
    if (events_) report_attempt_end(*events_, *c, r, now);
    // A run-wide retry budget (20 retries plus one per two calls) stops retry
    // storms when a provider is down: past it, failures are final.
    bool budget = retries_used_ < 20 + submitted_ / 2;
    bool retry = r.status == CallStatus::Error && r.transient && c->attempts < p.spec->retry.attempts;
    if (retry && !budget) r.text += " (retry budget of the run exhausted)";
    retry = retry && budget && !too_long_to_wait(p, *c, r, now);
    if (retry) {
        ++retries_used_;
        int64_t d = backoff_ms(*c, r);
        cool_down(p, r, now);
        retries.fetch_add(1, std::memory_order_relaxed);
        c->state = Call::State::Backoff;
        if (events_) {
            CallEvent e = call_event(*c, CallEvent::Kind::RetryWait, now);
            e.wait_ms = d;
            events_->call_event(e);
        }
        c->timer = reactor_.at(now + std::chrono::milliseconds(d), [this, c] { enqueue(c); });
    } else {
        if (r.status == CallStatus::Error && c->attempts > 1)
            r.text += " (after " + std::to_string(c->attempts) + " attempts)";
        if (r.status == CallStatus::Error && !c->agent->fallback.empty() && c->fallback_from.empty()) {
            // Retries exhausted: the agent's fallback (another model or backend) takes the call.
            if (const AgentSpec* fb = graph_.agent(c->agent->fallback)) {
                c->fallback_from = c->agent->name + ": " + r.text;
                c->attempts_before_fallback = c->attempts;
                c->agent = fb;
                c->backend = graph_.backend(fb->backend);
                c->attempts = 0;
                // The new backend's own view of the request (here, on the reactor: a
                // fallback is rare, and its state must be ready before it is queued).
                c->backend_state.reset();
                c->jitter_seed = 0;
                pools_.at(c->backend->name).backend->prepare(*c);
                enqueue(c);
                pump_all();
                return;
            }
        }
        complete(c, std::move(r));
    }
    pump_all();
}

// A 429 with Retry-After: every agent on the backend waits (one shared cooldown). A
// long wait is announced, so a batch is not silent for long.
void Scheduler::cool_down(Pool& p, const Reply& r, TimePoint now) {
    if (r.error_kind != ErrorKind::Http || r.http_status != 429 || r.retry_after_ms < 0) return;
    auto until = now + std::chrono::milliseconds(r.retry_after_ms);
    if (until > p.cooldown_until && r.retry_after_ms >= kLongCooldownMs && observer_) {
        Notice n;
        n.kind = Notice::Kind::RateLimitCooldown;
        n.backend = p.spec->name;
        n.wait_ms = r.retry_after_ms;
        n.text = "backend '" + p.spec->name + "' is rate limited: waiting " +
                 std::to_string((r.retry_after_ms + 999) / 1000) + " s (the server's Retry-After)";
        observer_->notice(n);
    }
    p.cooldown_until = std::max(p.cooldown_until, until);
}

void Scheduler::refuse_all() {
    for (auto& [_, p] : pools_) {
        while (!p.queue.empty()) {
            CallPtr c = *p.queue.begin();
            p.queue.erase(p.queue.begin());
            Reply r;
            r.status = CallStatus::Error;
            r.error_kind = ErrorKind::Budget;
            r.text = budget_->error_text();
            complete(c, std::move(r));
        }
    }
}

void Scheduler::complete(const CallPtr& c, Reply&& r) {
    c->state = Call::State::Done;
    c->finished = Clock::now();
    in_flight.fetch_sub(1, std::memory_order_relaxed);
    completed.fetch_add(1, std::memory_order_relaxed);
    auto done = std::move(c->done);
    c->on_chunk = nullptr;
    done(*c, std::move(r));
}

}  // namespace moa
