#include "backends/sim.hpp"

#include <array>
#include <cstring>

namespace moa::sim {

namespace {

inline uint64_t mix(uint64_t x) {  // splitmix64 finaliser
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

inline double unit(uint64_t x) { return static_cast<double>(mix(x) >> 11) * 0x1.0p-53; }

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
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

uint64_t hash_bytes(std::string_view s, uint64_t seed) {
    // 8 bytes at a time: prompts of aggregators run to tens of kilobytes.
    uint64_t h = mix(seed ^ s.size());
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        h = (h ^ mix(w)) * 0x9FB21C651E98DF25ULL;
    }
    uint64_t tail = 0;
    std::memcpy(&tail, s.data() + i, s.size() - i);
    return mix(h ^ tail ^ (s.size() - i));
}

uint64_t request_hash(const Call& c) {
    uint64_t h = hash_bytes(c.agent->model, 0x6d6f61);
    for (const auto& m : c.messages) h = hash_bytes(m.content, h ^ static_cast<uint64_t>(m.role[0]));
    h = mix(h ^ (c.agent->seed ? static_cast<uint64_t>(*c.agent->seed) : 0) ^ c.seed);
    return mix(h + static_cast<uint64_t>(c.replica) * 0x51ED27ULL);
}

std::string tag_of(std::string_view answer) {
    if (answer.empty() || answer[0] != '[') return "";
    size_t close = answer.find(']');
    return close == std::string_view::npos ? "" : std::string(answer.substr(0, close + 1));
}

Reply answer(const Call& c, uint64_t hash) {
    Reply r;
    // A scripted backend (`reply = "..."`) says exactly that; a picking call (`result =
    // pick`) gets the number of one of its responses, as a ranker model would reply.
    if (!c.backend->sim_reply.empty() || c.choices > 0) {
        size_t chars = 0;
        for (const auto& m : c.messages) chars += m.content.size();
        r.text = !c.backend->sim_reply.empty() ? c.backend->sim_reply : std::to_string(1 + mix(hash ^ 0x9c4) % c.choices);
        r.tokens_in = static_cast<uint32_t>(chars / 4 + 4 * c.messages.size());
        r.tokens_out = static_cast<uint32_t>(r.text.size() / 4 + 1);
        return r;
    }
    std::string query;
    std::vector<std::string_view> tags;
    size_t chars_in = 0;
    for (const auto& m : c.messages) {
        chars_in += m.content.size();
        if (m.role[0] == 'u') query = m.content;
        if (m.role[0] != 's') continue;
        // Numbered responses: lines "N. [tag] ..."
        std::string_view s = m.content;
        for (size_t pos = 0; pos < s.size();) {
            size_t eol = s.find('\n', pos);
            if (eol == std::string_view::npos) eol = s.size();
            std::string_view line = s.substr(pos, eol - pos);
            size_t d = 0;
            while (d < line.size() && std::isdigit(static_cast<unsigned char>(line[d]))) ++d;
            if (d > 0 && line.compare(d, 3, ". [") == 0) {
                size_t close = line.find(']', d + 3);
                if (close != std::string_view::npos) tags.push_back(line.substr(d + 2, close - d - 1));
            }
            pos = eol + 1;
        }
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

}  // namespace moa::sim
