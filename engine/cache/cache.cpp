#include "cache/cache.hpp"

#include <cctype>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "backends/backend.hpp"
#include "runtime/hash.hpp"

namespace moa {

std::optional<CacheEntry> MemoryStore::get(const std::string& key) {
    auto it = records_.find(key);
    if (it == records_.end()) return std::nullopt;
    return it->second.entry;
}

void MemoryStore::put(const CacheRecord& r) { records_[r.key] = r; }

std::optional<CacheRecord> MemoryStore::latest_for_node(const std::string& node) {
    std::optional<CacheRecord> best;
    for (const auto& [_, r] : records_)
        if (r.node == node && (!best || r.created >= best->created)) best = r;
    return best;
}

std::string canonical_request(const Call& c) {
    const AgentSpec& a = *c.agent;
    const BackendSpec& b = *c.backend;
    std::string s = "moa-cache-v1\n";
    // The backend's identity without URL credentials: they are never stored, and a
    // rotated password must not invalidate the cache.
    s += "backend: " + std::string(to_string(b.kind)) + " " + redact_url(b.base_url) + "\n";
    s += "model: " + a.model + "\n";
    char buf[64];
    auto opt = [&](const char* name, const auto& v) {
        s += name;
        if (v) {
            std::snprintf(buf, sizeof buf, ": %.15g\n", static_cast<double>(*v));
            s += buf;
        } else {
            s += ": -\n";
        }
    };
    opt("temperature", a.temperature);
    opt("top_p", a.top_p);
    opt("max_tokens", a.max_tokens);
    opt("seed", a.seed);
    s += "stop:";
    for (const auto& st : a.stop) s += " " + std::to_string(st.size()) + ":" + st;
    s += "\nreplica: " + std::to_string(c.replica) + "\n";
    // What else decides this backend's answers (absent for most, so their keys stay short).
    if (auto identity = provider_of(b.kind).cache_identity) identity(c, s);
    for (const auto& m : c.messages) {
        s += "message ";
        s += to_string(m.role);
        s += " " + std::to_string(m.content.size()) + "\n" + m.content + "\n";
    }
    return s;
}

std::string cache_key(const std::string& canonical) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%016llx%016llx",
                  static_cast<unsigned long long>(hash_bytes(canonical, 0x6361636865317631ULL)),
                  static_cast<unsigned long long>(hash_bytes(canonical, 0x2545F4914F6CDD1DULL)));
    return buf;
}

ResponseCache::ResponseCache(std::unique_ptr<CacheStore> store, CacheMode mode)
    : store_(std::move(store)), mode_(mode) {
    thread_ = std::thread([this] { run(); });
}

ResponseCache::~ResponseCache() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    if (!failed_) store_->add_counters(hits.load(), misses.load());
}

void ResponseCache::check_store() {
    if (failed_.load(std::memory_order_relaxed)) return;
    std::string f = store_->failure();
    if (f.empty()) return;
    failure_ = std::move(f);
    failed_.store(true, std::memory_order_release);
}

// After a failure the run is stopping (the engine starts no new job), but the jobs in
// flight finish: failing them would throw away the answers of their earlier layers,
// already paid for. Their calls bypass the store; only replay, which must never call a
// backend, fails them.
bool ResponseCache::fail_call(const CallPtr& c) {
    if (!failed_.load(std::memory_order_relaxed) || mode_ != CacheMode::Replay) return false;
    Reply r;
    r.status = CallStatus::Error;
    r.error_kind = ErrorKind::Cache;
    r.text = "not called: " + failure_;
    c->submitted = c->finished = Clock::now();
    auto done = std::move(c->done);
    done(*c, std::move(r));
    return true;
}

void ResponseCache::post(std::function<void()> fn) {
    {
        std::lock_guard lock(mu_);
        queue_.push_back(std::move(fn));
    }
    cv_.notify_one();
}

void ResponseCache::run() {
    for (;;) {
        std::deque<std::function<void()>> batch;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
            if (queue_.empty() && stop_) return;
            batch.swap(queue_);
        }
        store_->begin_batch();
        check_store();
        for (auto& fn : batch) {
            fn();
            check_store();  // a failed write or read stops the next lookups at once
        }
        store_->end_batch();
        check_store();
        auto after = std::move(after_commit_);
        after_commit_.clear();
        for (auto& fn : after) {
            fn();
            fn = nullptr;  // release the call before waking the next one's caller
        }
    }
}

void ResponseCache::submit(const CallPtr& c, const std::string& node, std::function<void(const CallPtr&)> call_backend) {
    post([this, c, node, call_backend = std::move(call_backend)]() mutable { lookup(c, node, std::move(call_backend)); });
}

void ResponseCache::lookup(const CallPtr& c, const std::string& node, std::function<void(const CallPtr&)> call_backend) {
    if (fail_call(c)) return;
    std::string canonical = canonical_request(*c);
    std::string key = cache_key(canonical);
    bool reads = mode_ == CacheMode::ReadWrite || mode_ == CacheMode::Read || mode_ == CacheMode::Replay;
    if (reads && !failed_.load(std::memory_order_relaxed)) {
        if (auto e = store_->get(key)) {
            hits.fetch_add(1, std::memory_order_relaxed);
            saved_tokens_in += e->tokens_in;
            saved_tokens_out += e->tokens_out;
            Reply r;
            r.text = std::move(e->text);
            r.tokens_in = e->tokens_in;
            r.tokens_out = e->tokens_out;
            r.error_kind = ErrorKind::CacheHit;
            c->submitted = c->finished = Clock::now();
            c->stream(r.text);  // a streamed answer arrives in one piece
            auto done = std::move(c->done);
            done(*c, std::move(r));
            return;
        }
    }
    check_store();  // a lookup that failed is not a miss: nothing is called then
    if (fail_call(c)) return;
    misses.fetch_add(1, std::memory_order_relaxed);
    if (mode_ == CacheMode::Replay) {
        Reply r;
        r.status = CallStatus::Error;
        r.error_kind = ErrorKind::CacheMiss;
        r.text = explain_miss(node, canonical);
        c->submitted = c->finished = Clock::now();
        auto done = std::move(c->done);
        done(*c, std::move(r));
        return;
    }
    // Singleflight: an identical request already in flight answers this one too.
    if (auto it = in_flight_.find(key); it != in_flight_.end()) {
        shared.fetch_add(1, std::memory_order_relaxed);
        it->second.calls.emplace_back(c, std::move(c->done));
        return;
    }
    in_flight_[key];
    auto original = std::move(c->done);
    c->done = [this, key, node, canonical, original = std::move(original)](Call& call, Reply&& r) mutable {
        // Stored and committed before anyone sees it: a result the caller has is in
        // the cache even if the process dies right after (and a rerun finds it).
        post([this, key, node, canonical, self = call.shared_from_this(), r = std::move(r),
              original = std::move(original)]() mutable {
            answered(key, node, canonical, self, std::move(r), std::move(original));
        });
    };
    call_backend(c);
}

void ResponseCache::answered(const std::string& key, const std::string& node, const std::string& canonical, const CallPtr& c,
                             Reply&& r, std::function<void(Call&, Reply&&)> done) {
    // Errors, empty and truncated answers are never stored (truncation is an error).
    if (r.status == CallStatus::Ok && !r.text.empty() && (mode_ == CacheMode::ReadWrite || mode_ == CacheMode::Refresh) &&
        !failed_.load(std::memory_order_relaxed)) {
        CacheRecord rec;
        rec.key = key;
        rec.node = node;
        size_t m = canonical.find("model: ");
        rec.model = canonical.substr(m + 7, canonical.find('\n', m) - m - 7);
        size_t b = canonical.find("backend: ");
        rec.backend = canonical.substr(b + 9, canonical.find('\n', b) - b - 9);
        rec.request = canonical;
        rec.entry = {r.text, r.tokens_in, r.tokens_out};
        auto ms = [](TimePoint a, TimePoint b) {
            return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
        };
        if (c->attempt_started != TimePoint{} && c->finished >= c->attempt_started)
            rec.latency_ms = ms(c->attempt_started, c->finished);
        if (c->first_token >= c->attempt_started && c->first_token != TimePoint{})
            rec.first_token_ms = ms(c->attempt_started, c->first_token);
        rec.created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        store_->put(rec);
        writes.fetch_add(1, std::memory_order_relaxed);
    }
    std::vector<std::pair<CallPtr, std::function<void(Call&, Reply&&)>>> waiting;
    if (auto it = in_flight_.find(key); it != in_flight_.end()) {
        waiting = std::move(it->second.calls);
        in_flight_.erase(it);
    }
    for (auto& w : waiting) {  // (clang 14 cannot capture structured bindings)
        after_commit_.push_back([wc = w.first, wdone = std::move(w.second), r]() mutable {
            wc->submitted = wc->finished = Clock::now();
            if (r.status == CallStatus::Ok) wc->stream(r.text);
            wdone(*wc, std::move(r));
        });
    }
    after_commit_.push_back([c, done = std::move(done), r = std::move(r)]() mutable { done(*c, std::move(r)); });
}

// What differs between this request and the last one recorded for the same node.
std::string ResponseCache::explain_miss(const std::string& node, const std::string& canonical) {
    auto rec = store_->latest_for_node(node);
    std::string head = "cache miss in replay mode for node " + node;
    if (!rec) return head + ": nothing was ever recorded for this node (record with --cache rw)";
    const std::string& old = rec->request;
    size_t i = 0;
    while (i < old.size() && i < canonical.size() && old[i] == canonical[i]) ++i;
    size_t line = canonical.rfind('\n', i == 0 ? 0 : i - 1);
    line = line == std::string::npos ? 0 : line + 1;
    std::string field = canonical.substr(line, canonical.find('\n', line) - line);
    // Inside a message body, name the message and the character where they part.
    size_t msg = canonical.rfind("\nmessage ", i);
    auto snippet = [&](const std::string& s) {
        std::string t = s.substr(i, 40);
        for (auto& ch : t)
            if (ch == '\n') ch = ' ';
        return "\"" + t + (s.size() > i + 40 ? "..." : "") + "\"";
    };
    if (field.rfind("message ", 0) == 0) {
        // The header line carries the length: compare the two bodies themselves.
        std::string role = field.substr(8, field.find(' ', 8) - 8);
        auto body = [&](const std::string& s) {
            size_t start = s.find('\n', line) + 1;
            size_t len = std::strtoull(s.c_str() + s.rfind(' ', start - 1) + 1, nullptr, 10);
            return s.substr(start, len);
        };
        std::string a = body(old), b = body(canonical);
        size_t k = 0;
        while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
        // Quote from the start of the word the difference falls in ("formal" against
        // "friendly", not "ormal" against "riendly"); the prefix is common to both.
        size_t w = k;
        while (w > 0 && k - w < 24 && !std::isspace(static_cast<unsigned char>(b[w - 1]))) --w;
        auto cut = [&](const std::string& t) {
            std::string x = t.substr(w, k - w + 40);
            for (auto& ch : x)
                if (ch == '\n') ch = ' ';
            return "\"" + x + (t.size() > k + 40 ? "..." : "") + "\"";
        };
        return head + ": the " + role + " message differs from the recorded one at character " + std::to_string(k) +
               ": recorded " + cut(a) + ", now " + cut(b);
    }
    if (msg != std::string::npos && msg < i) {
        size_t hdr_end = canonical.find('\n', msg + 1);
        std::string which = canonical.substr(msg + 9, canonical.find(' ', msg + 9) - msg - 9);
        return head + ": the " + which + " message differs from the recorded one at character " +
               std::to_string(i - hdr_end - 1) + ": recorded " + snippet(old) + ", now " + snippet(canonical);
    }
    std::string old_line = old.substr(line, old.find('\n', line) - line);
    return head + ": recorded '" + old_line + "', now '" + field + "'";
}

}  // namespace moa
