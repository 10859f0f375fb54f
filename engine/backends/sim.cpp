// The simulated backend (`kind = sim`): in-process, deterministic, for trying
// topologies, tests and benchmarks. It is a simulator, not a model: its text is
// built from a hash of (model, messages, seed, sample index) and says what the
// agent received (an aggregator cites the tags of the responses it was shown), so
// topology bugs show in the output. Latency, streaming and faults (timeouts, 429s,
// 503s) are reactor timers drawn from the same hash and the attempt number.
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "backends/backend.hpp"
#include "runtime/hash.hpp"
#include "runtime/reactor.hpp"
#include "moa/ascii.hpp"

namespace moa {

namespace {

inline double unit(uint64_t x) { return static_cast<double>(mix(x) >> 11) * 0x1.0p-53; }

// ---- the simulator as a judge (`judge { ... }` on a sim backend) -----------------
// A panel node's reply is a verdict of the graph's rule, chosen from the request's
// hash, so a test knows how the judge behaves (prefers the marked answer with
// probability p, always the first, the longer one...) and every run with the same
// seed answers the same. The answers judged come from the job's variables.

std::string_view var(const Call& c, const char* name) {
    for (const auto& [k, v] : *c.vars)
        if (k == name) return v;
    return {};
}

size_t code_points(std::string_view s) {
    size_t n = 0;
    for (char ch : s) n += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
    return n;
}

// Which answer the judge leans to: 0 = A, 1 = B, -1 = neither.
int preferred(const SimJudge& j, std::string_view a, std::string_view b) {
    using P = SimJudge::Prefer;
    switch (j.prefer) {
        case P::Random: return -1;
        case P::First: return 0;
        case P::Second: return 1;
        case P::Marker: {
            bool ma = a.find(j.marker) != std::string_view::npos, mb = b.find(j.marker) != std::string_view::npos;
            return ma == mb ? -1 : ma ? 0 : 1;
        }
        case P::Longer:
        case P::Shorter: {
            size_t la = code_points(a), lb = code_points(b);
            if (la == lb) return -1;
            return (la > lb) == (j.prefer == P::Longer) ? 0 : 1;
        }
    }
    return -1;
}

std::string pairwise_reply(const Call& c, const VerdictSpec& v, uint64_t hash) {
    const SimJudge& j = c.backend->sim_judge;
    double u = unit(hash ^ 0x1D6E);
    if (u < j.unparsable) return "I cannot decide.";
    if (u < j.unparsable + j.tie && !v.tie.empty()) return "Verdict: " + v.tie.front();
    int side = preferred(j, var(c, kVarAnswerA), var(c, kVarAnswerB));
    double w = unit(hash ^ 0x51DE);
    if (side < 0) side = w < 0.5 ? 0 : 1;
    else if (w >= j.p) side = 1 - side;  // with probability 1 - p, the other answer
    return "Verdict: " + (side == 0 ? v.first.front() : v.second.front());
}

std::string score_reply(const Call& c, const VerdictSpec& v, uint64_t hash) {
    const SimJudge& j = c.backend->sim_judge;
    if (unit(hash ^ 0x1D6E) < j.unparsable) return "I cannot decide.";
    double lo = std::ceil(v.min), hi = std::floor(v.max);
    if (hi < lo) hi = lo = v.min;
    double score = lo + std::floor(unit(hash ^ 0x5C0E) * (hi - lo + 1));
    if (score > hi) score = hi;
    if (j.prefer == SimJudge::Prefer::Marker) {  // the marked answer gets the top score with probability p
        bool marked = var(c, kVarAnswer).find(j.marker) != std::string_view::npos;
        bool follow = unit(hash ^ 0x51DE) < j.p;
        score = marked == follow ? hi : lo;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", score);
    return "Rating: " + v.score_prefix + buf + v.score_suffix;
}

bool sim_judges(const Call& c) { return c.verdict && c.vars && c.backend->sim_judge.enabled; }

std::string sim_judge_reply(const Call& c, uint64_t hash) {
    const VerdictSpec& v = *c.verdict;
    return v.mode == VerdictMode::Pairwise ? pairwise_reply(c, v, hash) : score_reply(c, v, hash);
}

void sim_judge_identity(const Call& c, std::string& s) {
    const SimJudge& j = c.backend->sim_judge;
    const VerdictSpec& v = *c.verdict;
    char buf[160];
    std::snprintf(buf, sizeof buf, "sim_judge: %d %.17g %.17g %.17g ", static_cast<int>(j.prefer), j.p, j.tie,
                  j.unparsable);
    s += buf + std::to_string(j.marker.size()) + ":" + j.marker;
    // The labels it answers with, and the answers it compares (they may be absent
    // from the messages if a template shows them only in part).
    for (const auto* l : {&v.first, &v.second, &v.tie})
        s += " " + std::to_string(l->empty() ? 0 : l->front().size()) + ":" + (l->empty() ? "" : l->front());
    s += " " + std::to_string(v.score_prefix.size()) + ":" + v.score_prefix + std::to_string(v.score_suffix.size()) +
         ":" + v.score_suffix;
    std::snprintf(buf, sizeof buf, " %.17g %.17g", v.min, v.max);
    s += buf;
    for (const auto& [k, val] : *c.vars) s += " " + k + "=" + std::to_string(hash_bytes(val, 0x5A));
    s += "\n";
}

constexpr std::array<std::string_view, 64> kWords = {
    "the", "answer", "depends", "on", "context", "and", "careful", "reasoning", "first", "consider",
    "each", "option", "then", "weigh", "evidence", "clearly", "because", "several", "sources", "agree",
    "however", "some", "details", "differ", "in", "practice", "most", "cases", "show", "that",
    "a", "simple", "approach", "works", "well", "with", "small", "inputs", "while", "larger",
    "ones", "need", "more", "structure", "overall", "this", "suggests", "balanced", "view", "where",
    "trade-offs", "matter", "for", "users", "who", "value", "accuracy", "over", "speed", "so",
    "we", "recommend", "testing", "it"};

std::string short_model(const std::string& model) {
    std::string s = model.substr(model.rfind('/') == std::string::npos ? 0 : model.rfind('/') + 1);
    ascii::lower_in_place(s);
    return s;
}

// The character each role was hashed with before roles were an enum (keeps answers,
// and so recorded runs, the same).
uint64_t role_char(Role r) { return r == Role::System ? 's' : 'u'; }

uint64_t request_hash(const Call& c) {
    uint64_t h = hash_bytes(c.agent->model, 0x6d6f61);
    for (const auto& m : c.messages) h = hash_bytes(m.content, h ^ role_char(m.role));
    h = mix(h ^ (c.agent->seed ? static_cast<uint64_t>(*c.agent->seed) : 0) ^ c.seed);
    return mix(h + static_cast<uint64_t>(c.replica) * 0x51ED27ULL);
}

// A scripted backend (`reply = "..."`) says exactly that; a picking call (`result =
// pick`) gets the number of one of its responses, as a ranker model would reply.
Reply scripted_answer(const Call& c, uint64_t hash) {
    Reply r;
    size_t chars = 0;
    for (const auto& m : c.messages) chars += m.content.size();
    r.text = sim_judges(c)                  ? sim_judge_reply(c, hash)
             : !c.backend->sim_reply.empty() ? c.backend->sim_reply
                                             : std::to_string(1 + mix(hash ^ 0x9c4) % c.choices);
    r.tokens_in = static_cast<uint32_t>(chars / 4 + 4 * c.messages.size());
    r.tokens_out = static_cast<uint32_t>(r.text.size() / 4 + 1);
    return r;
}

// The tags of the numbered responses ("N. [tag] ...") a system message shows.
void cited_tags(std::string_view s, std::vector<std::string_view>& tags) {
    for (size_t pos = 0; pos < s.size();) {
        size_t eol = s.find('\n', pos);
        if (eol == std::string_view::npos) eol = s.size();
        std::string_view line = s.substr(pos, eol - pos);
        size_t d = 0;
        while (d < line.size() && ascii::is_digit(line[d])) ++d;
        if (d > 0 && line.compare(d, 3, ". [") == 0) {
            size_t close = line.find(']', d + 3);
            if (close != std::string_view::npos) tags.push_back(line.substr(d + 2, close - d - 1));
        }
        pos = eol + 1;
    }
}

// The answer to a call (text and token counts); a pure function of the request.
Reply answer(const Call& c, uint64_t hash) {
    if (sim_judges(c) || !c.backend->sim_reply.empty() || c.choices > 0) return scripted_answer(c, hash);
    Reply r;
    std::string query;
    std::vector<std::string_view> tags;
    size_t chars_in = 0;
    for (const auto& m : c.messages) {
        chars_in += m.content.size();
        if (m.role == Role::User) query = m.content;
        else cited_tags(m.content, tags);
    }
    char hex[8];
    std::snprintf(hex, sizeof hex, "%06llx", static_cast<unsigned long long>(hash & 0xFFFFFF));
    std::string& t = r.text;
    t.reserve(600);
    t += "[" + short_model(c.agent->model) + ":" + hex + "] ";
    if (tags.empty()) {
        t += "answer to \"";
        t += query.size() > 48 ? query.substr(0, 45) + "..." : query;
        t += "\":";
    } else {
        t += "synthesis of " + std::to_string(tags.size()) + " responses";
        for (auto tag : tags) {
            t += ' ';
            t += tag;
        }
        t += ':';
    }
    uint64_t max_out = c.agent->max_tokens ? static_cast<uint64_t>(*c.agent->max_tokens) : 4096;
    uint64_t n = 24 + mix(hash ^ 0x7e57) % 73;
    if (n > max_out) n = max_out;
    uint64_t x = hash;
    for (uint64_t i = 0; i < n; ++i) {
        x = mix(x);
        t += ' ';
        t += kWords[x & 63];
    }
    t += '.';
    r.tokens_out = static_cast<uint32_t>(n + 4 + 2 * tags.size());
    r.tokens_in = static_cast<uint32_t>(chars_in / 4 + 4 * c.messages.size());
    return r;
}

// Outcome of one attempt: a fault, or the latency until the full answer.
struct Attempt {
    enum class Kind { Ok, Timeout, RateLimited, ServerError } kind = Kind::Ok;
    int64_t latency_us = 0;  // Ok: time to the last token; faults: time to the failure
    int64_t first_token_us = 0;
    int64_t retry_after_ms = -1;
};

Attempt attempt(const BackendSpec& b, uint64_t hash, int attempt_no, uint32_t tokens_out) {
    Attempt a;
    uint64_t h = mix(hash ^ (0xA77E + static_cast<uint64_t>(attempt_no) * 0x9E3779B1ULL));
    double u = unit(h);
    const SimFaults& f = b.faults;
    int64_t ttft_us = b.latency.first_token_ms * 1000;
    double j = b.latency.jitter;
    double f1 = 1 + j * (2 * unit(h ^ 1) - 1);
    double f2 = 1 + j * (2 * unit(h ^ 2) - 1);
    a.first_token_us = static_cast<int64_t>(static_cast<double>(ttft_us) * f1);
    if (u < f.timeout) {
        a.kind = Attempt::Kind::Timeout;
        a.latency_us = (b.timeouts.total_ms > 0 ? b.timeouts.total_ms : 30000) * 1000;
        return a;
    }
    u -= f.timeout;
    if (u < f.rate_limited) {
        a.kind = Attempt::Kind::RateLimited;
        a.latency_us = a.first_token_us / 4;
        a.retry_after_ms = 100 + static_cast<int64_t>(mix(h ^ 3) % 400);
        return a;
    }
    u -= f.rate_limited;
    if (u < f.server_error) {
        a.kind = Attempt::Kind::ServerError;
        a.latency_us = a.first_token_us / 2;
        return a;
    }
    double gen_us = b.latency.tokens_per_second > 0 ? tokens_out / b.latency.tokens_per_second * 1e6 * f2 : 0;
    a.latency_us = a.first_token_us + static_cast<int64_t>(gen_us);
    return a;
}

Reply fault_reply(const Attempt& a) {
    Reply r;
    r.status = CallStatus::Error;
    r.transient = true;
    switch (a.kind) {
        case Attempt::Kind::Ok: break;
        case Attempt::Kind::Timeout:
            r.error_kind = ErrorKind::Timeout;
            r.text = "timed out (simulated)";
            break;
        case Attempt::Kind::RateLimited:
            r.error_kind = ErrorKind::Http;
            r.http_status = 429;
            r.text = "rate limited (simulated 429)";
            r.retry_after_ms = a.retry_after_ms;
            break;
        case Attempt::Kind::ServerError:
            r.error_kind = ErrorKind::Http;
            r.http_status = 503;
            r.text = "server error (simulated 503)";
            break;
    }
    return r;
}

// Per call: the answer (computed off the reactor) and the running attempt's timers.
struct SimCall : BackendState {
    uint64_t hash = 0;
    Reply reply;
    uint64_t finish_timer = 0;
    std::vector<uint64_t> chunk_timers;
};

class SimBackend final : public Backend {
public:
    SimBackend(const BackendSpec& spec, Reactor& reactor) : spec_(spec), reactor_(reactor) {}

    void prepare(Call& c) override {
        auto s = std::make_unique<SimCall>();
        s->hash = request_hash(c);
        s->reply = answer(c, s->hash);
        c.jitter_seed = s->hash;  // a rerun retries after the same delays
        c.backend_state = std::move(s);
    }

    void start(const CallPtr& c, AttemptDone done) override {
        SimCall& s = state(*c);
        Attempt a = attempt(spec_, s.hash, c->attempts, s.reply.tokens_out);
        TimePoint now = Clock::now();
        s.chunk_timers.clear();
        if (c->on_chunk && a.kind == Attempt::Kind::Ok) stream(c, s, a, now);
        TimePoint first = a.kind == Attempt::Kind::Ok ? now + std::chrono::microseconds(a.first_token_us) : TimePoint{};
        s.finish_timer = reactor_.at(now + std::chrono::microseconds(a.latency_us), [c, a, first, done = std::move(done)] {
            SimCall& st = state(*c);
            st.finish_timer = 0;
            st.chunk_timers.clear();  // all fired: they were due no later than this
            Reply r = a.kind == Attempt::Kind::Ok ? st.reply : fault_reply(a);
            r.first_token = first;
            done(std::move(r));
        });
    }

    void cancel(const CallPtr& c) override {
        SimCall& s = state(*c);
        if (s.finish_timer) reactor_.cancel(s.finish_timer);
        for (uint64_t t : s.chunk_timers) reactor_.cancel(t);
        s.finish_timer = 0;
        s.chunk_timers.clear();
    }

    // A simulated call takes the time its latency says; no deadline applies.
    bool uses_deadline() const override { return false; }

private:
    static SimCall& state(Call& c) { return static_cast<SimCall&>(*c.backend_state); }

    // Streams the answer in word-sized chunks spread over the generation time.
    void stream(const CallPtr& c, SimCall& s, const Attempt& a, TimePoint now) {
        const std::string& text = s.reply.text;
        std::vector<size_t> cuts;
        for (size_t i = text.find(' '); i != std::string::npos; i = text.find(' ', i + 1)) cuts.push_back(i);
        cuts.push_back(text.size());
        size_t prev = 0;
        int64_t span = std::max<int64_t>(0, a.latency_us - a.first_token_us);
        for (size_t k = 0; k < cuts.size(); ++k) {
            auto when = now + std::chrono::microseconds(a.first_token_us + span * static_cast<int64_t>(k) /
                                                                               static_cast<int64_t>(cuts.size()));
            std::string_view piece(text.data() + prev, cuts[k] - prev);
            prev = cuts[k];
            s.chunk_timers.push_back(reactor_.at(when, [c, piece] { c->stream(piece); }));
        }
    }

    const BackendSpec& spec_;
    Reactor& reactor_;
};

// The run seed, a scripted reply and a pick's number of choices decide a simulated
// answer too. (Each line is absent when it does not apply, so older keys still match.)
void cache_identity(const Call& c, std::string& s) {
    const BackendSpec& b = *c.backend;
    s += "sim_seed: " + std::to_string(c.seed) + "\n";
    if (!b.sim_reply.empty()) s += "sim_reply: " + std::to_string(b.sim_reply.size()) + ":" + b.sim_reply + "\n";
    if (c.choices > 0) s += "sim_choices: " + std::to_string(c.choices) + "\n";
    if (sim_judges(c)) sim_judge_identity(c, s);
}

// For `moa plan`: this file's answers and attempts, and the longest text answer() can
// write (its tag, what it cites, at most 96 words of at most 10 letters each).
void longest(const AgentSpec& a, const BackendSpec& b, const std::vector<std::string>& input_models, size_t query_bytes,
             size_t choices, double& tokens, double& bytes) {
    if (!b.sim_reply.empty() || choices > 0) {
        std::string text = !b.sim_reply.empty() ? b.sim_reply : std::to_string(choices);
        tokens = static_cast<double>(text.size() / 4 + 1);
        bytes = static_cast<double>(text.size());
        return;
    }
    double words = std::min<double>(96, a.max_tokens ? static_cast<double>(*a.max_tokens) : 4096);
    double s = static_cast<double>(short_model(a.model).size()) + 10;  // "[model:hex6] "
    if (input_models.empty()) s += 13 + static_cast<double>(std::min<size_t>(query_bytes, 48));
    else s += 24 + static_cast<double>(std::to_string(input_models.size()).size());
    for (const auto& m : input_models) s += 10 + static_cast<double>(short_model(m).size());
    tokens = words + 4 + 2 * static_cast<double>(input_models.size());
    bytes = s + 11 * words + 1;
}

CallModel::Attempt model_attempt(const BackendSpec& b, uint64_t hash, int attempt_no, uint32_t tokens_out) {
    Attempt a = attempt(b, hash, attempt_no, tokens_out);
    return {a.kind == Attempt::Kind::Ok, a.latency_us, a.retry_after_ms};
}

const CallModel kSimModel{"simulator", answer, model_attempt, longest};

}  // namespace

extern const Provider kSimProvider{
    .kind = BackendKind::Sim,
    .remote = false,
    .make = [](const BackendSpec& spec, BackendContext& ctx) -> std::unique_ptr<Backend> {
        return std::make_unique<SimBackend>(spec, ctx.reactor);
    },
    .cache_identity = cache_identity,
    .wire = nullptr,
    .model = &kSimModel,
};

}  // namespace moa
