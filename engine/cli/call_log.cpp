#include "call_log.hpp"

#include <algorithm>

namespace moa::cli {

const char* to_string(Phase::Kind k) {
    switch (k) {
        case Phase::Kind::Queued: return "queued";
        case Phase::Kind::SlotWait: return "waiting for a slot";
        case Phase::Kind::Attempt: return "attempt";
        case Phase::Kind::Streaming: return "streaming";
        case Phase::Kind::RetryWait: return "retry wait";
        case Phase::Kind::CacheLookup: return "cache lookup";
    }
    return "?";
}

CallLog::CallLog(CallObserver& next) : next_(next), origin_(std::chrono::steady_clock::now()) {}

int64_t CallLog::since_origin(TimePoint t) const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t - origin_).count();
}

void CallLog::attempt_started(const std::string& backend, int running, TimePoint at) {
    next_.attempt_started(backend, running, at);
    std::lock_guard lock(mu_);
    auto it = std::find_if(running_.begin(), running_.end(), [&](const Running& r) { return r.backend == backend; });
    if (it == running_.end()) it = running_.insert(running_.end(), Running{backend, {}});
    it->steps.emplace_back(since_origin(at), running);
}

void CallLog::attempt_ended(const std::string& backend, int running, TimePoint at) {
    attempt_started(backend, running, at);  // the same step: the count at that moment
}

std::vector<CallLog::Running> CallLog::running() const {
    std::lock_guard lock(mu_);
    return running_;
}

// A phase ends where the next begins, so a call's phases tile its slice without overlap.
void CallLog::open(CallRecord& c, Phase::Kind k, int64_t at) {
    close(c, at);
    Phase p;
    p.kind = k;
    p.start = at;
    p.end = -1;
    c.phases.push_back(std::move(p));
}

void CallLog::close(CallRecord& c, int64_t at) {
    if (!c.phases.empty() && c.phases.back().end < 0) c.phases.back().end = std::max(at, c.phases.back().start);
}

// long: one case per event kind, each a few lines; splitting would scatter the state machine
void CallLog::call_event(const CallEvent& e) {
    const int64_t at = since_origin(e.at);
    std::lock_guard lock(mu_);
    auto [it, fresh] = live_.try_emplace(e.call);
    CallRecord& c = it->second;
    if (fresh) {
        c.id = e.call;
        c.job = e.job;
        c.job_seq = e.job_seq;
        c.node = e.node;
        c.start = std::min(since_origin(e.made), at);
        // Until the scheduler has it, a call is with the cache or on its way there.
        open(c, e.kind == CallEvent::Kind::Done && e.cache_hit ? Phase::Kind::CacheLookup : Phase::Kind::Queued, c.start);
    }
    c.agent = e.agent;
    c.model = e.model;
    c.backend = e.backend;
    switch (e.kind) {
        case CallEvent::Kind::Queued:
            open(c, Phase::Kind::SlotWait, at);
            c.phases.back().backend = e.backend;
            break;
        case CallEvent::Kind::Started:
            open(c, Phase::Kind::Attempt, at);
            c.phases.back().backend = e.backend;
            c.phases.back().attempt = e.attempt;
            c.attempts++;
            first_token_.erase(e.call);
            break;
        case CallEvent::Kind::FirstToken: first_token_[e.call] = at; break;
        case CallEvent::Kind::AttemptEnded: {
            if (c.phases.empty() || c.phases.back().kind != Phase::Kind::Attempt) break;
            Phase& a = c.phases.back();
            close(c, at);
            a.status = to_string(e.status);
            a.error_kind = e.error_kind;
            a.error = e.error;
            if (auto ft = first_token_.find(e.call); ft != first_token_.end()) {
                Phase s;
                s.kind = Phase::Kind::Streaming;
                s.attempt = a.attempt;
                s.start = std::clamp(ft->second, a.start, a.end);  // inside its attempt, always
                s.end = a.end;
                first_token_.erase(ft);
                c.phases.push_back(std::move(s));
            }
            break;
        }
        case CallEvent::Kind::RetryWait:
            open(c, Phase::Kind::RetryWait, at);
            c.phases.back().wait_ms = e.wait_ms;
            break;
        case CallEvent::Kind::Done: {
            close(c, at);
            c.end = std::max(at, c.start);
            c.status = e.status;
            c.error_kind = e.error_kind;
            c.error = e.error;
            c.tokens_in = e.tokens_in;
            c.tokens_out = e.tokens_out;
            c.cache_hit = e.cache_hit;
            c.tokens_estimated = e.tokens_estimated;
            c.cost_known = e.cost_known;
            c.cost_usd = e.cost_usd;
            c.saved_usd = e.saved_usd;
            for (auto& sink : sinks_) sink(c);
            first_token_.erase(e.call);
            live_.erase(it);
            break;
        }
    }
}

}  // namespace moa::cli
