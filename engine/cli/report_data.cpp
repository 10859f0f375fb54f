#include "report_data.hpp"

#include <algorithm>
#include <cmath>

namespace moa::cli {

Latency latency_of(std::vector<double>& ms) {
    Latency l;
    l.n = ms.size();
    if (ms.empty()) return l;
    std::sort(ms.begin(), ms.end());
    auto rank = [&](double p) {
        size_t k = static_cast<size_t>(std::ceil(p * static_cast<double>(ms.size())));
        return ms[std::clamp<size_t>(k, 1, ms.size()) - 1];
    };
    l.p50 = rank(0.5);
    l.p95 = rank(0.95);
    l.max = ms.back();
    return l;
}

RunReport::RunReport(const GraphSpec& g, std::string graph_file) : graph_(g), file_(std::move(graph_file)) {
    for (const auto& n : graph_.nodes) {
        PerNode p;
        p.row.node = n.id;
        p.row.layer = n.layer;
        p.row.agent = n.agent;
        if (const AgentSpec* a = graph_.agent(n.agent)) p.row.model = a->model, p.row.backend = a->backend;
        per_node_.push_back(std::move(p));
    }
}

int RunReport::node_index(const std::string& id) const {
    for (size_t i = 0; i < graph_.nodes.size(); ++i)
        if (graph_.nodes[i].id == id) return static_cast<int>(i);
    return -1;
}

void RunReport::add_call(const CallRecord& c) {
    int i = node_index(c.node);
    if (i < 0) return;
    double ms = static_cast<double>(c.end - c.start) / 1e6;
    std::lock_guard lock(mu_);
    PerNode& p = per_node_[static_cast<size_t>(i)];
    p.row.calls++;
    p.row.attempts += static_cast<size_t>(c.attempts);
    p.row.tokens_in += c.tokens_in;
    p.row.tokens_out += c.tokens_out;
    p.row.cache_hits += c.cache_hit;
    p.row.cost_usd += c.cost_usd;
    p.row.saved_usd += c.saved_usd;
    p.row.unknown_cost += !c.cost_known;
    p.row.estimated = p.row.estimated || c.tokens_estimated;
    p.row.failed += c.status == CallStatus::Error;
    p.row.cancelled += c.status == CallStatus::Cancelled;
    p.ms.push_back(ms);
    if (c.status == CallStatus::Error)
        failures_.push_back({c.job, c.node, c.agent, c.error_kind, c.error});
    if (c.job_seq < kTimelineJobs) {
        TimelineCall t;
        t.job_seq = c.job_seq;
        t.node = i;
        t.start = static_cast<double>(c.start) / 1e6;
        t.end = static_cast<double>(c.end) / 1e6;
        for (const auto& ph : c.phases)
            if (ph.kind == Phase::Kind::Attempt) {
                t.sent = static_cast<double>(ph.start) / 1e6;
                break;
            }
        t.status = c.cache_hit ? "cache" : to_string(c.status);
        timeline_.push_back(t);
    }
}

void RunReport::add_job(const JobResult& r) {
    std::lock_guard lock(mu_);
    jobs_.push_back({r.seq, r.id, r.ok, r.error_node, r.error, r.wall_ms});
}

void RunReport::set_stats(const RunStats& s, double wall_ms) {
    std::lock_guard lock(mu_);
    stats_ = s;
    wall_ms_ = wall_ms;
    std::sort(jobs_.begin(), jobs_.end(), [](const JobRecord& a, const JobRecord& b) { return a.seq < b.seq; });
}

size_t RunReport::jobs_failed() const {
    return static_cast<size_t>(std::count_if(jobs_.begin(), jobs_.end(), [](const JobRecord& j) { return !j.ok; }));
}

std::vector<NodeRow> RunReport::nodes() const {
    std::lock_guard lock(mu_);
    std::vector<NodeRow> rows;
    for (const auto& p : per_node_) {
        NodeRow r = p.row;
        std::vector<double> ms = p.ms;
        r.latency = latency_of(ms);
        rows.push_back(std::move(r));
    }
    return rows;
}

std::vector<LayerRow> RunReport::layers() const {
    std::lock_guard lock(mu_);
    std::vector<LayerRow> rows;
    for (const auto& l : graph_.layers) {
        LayerRow r;
        r.layer = l.name;
        std::vector<double> ms;
        for (const auto& p : per_node_) {
            if (p.row.layer != l.name) continue;
            r.calls += p.row.calls;
            r.failed += p.row.failed;
            r.cache_hits += p.row.cache_hits;
            r.tokens_in += p.row.tokens_in;
            r.tokens_out += p.row.tokens_out;
            r.cost_usd += p.row.cost_usd;
            r.saved_usd += p.row.saved_usd;
            r.unknown_cost += p.row.unknown_cost;
            ms.insert(ms.end(), p.ms.begin(), p.ms.end());
        }
        r.latency = latency_of(ms);
        rows.push_back(std::move(r));
    }
    return rows;
}

std::string html_escape(std::string_view s) {
    std::string o;
    o.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': o += "&amp;"; break;
            case '<': o += "&lt;"; break;
            case '>': o += "&gt;"; break;
            case '"': o += "&quot;"; break;
            case '\'': o += "&#39;"; break;
            default: o += c;
        }
    }
    return o;
}

namespace {
// Length of the valid UTF-8 sequence at s[i], 0 if invalid.
size_t utf8_len(std::string_view s, size_t i) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = b(i);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return 0;
    for (size_t k = 1; k < n; ++k)
        if ((b(i + k) & 0xC0) != 0x80) return 0;
    if (n == 2 && c < 0xC2) return 0;  // overlong
    return n;
}
}  // namespace

std::string xml_escape(std::string_view s) {
    std::string o;
    o.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        size_t n = utf8_len(s, i);
        if (n == 0) {
            o += '?';
            ++i;
            continue;
        }
        if (n > 1) {
            o.append(s.substr(i, n));
            i += n;
            continue;
        }
        ++i;
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) continue;
        switch (c) {
            case '&': o += "&amp;"; break;
            case '<': o += "&lt;"; break;
            case '>': o += "&gt;"; break;
            case '"': o += "&quot;"; break;
            case '\'': o += "&apos;"; break;
            default: o += static_cast<char>(c);
        }
    }
    return o;
}

}  // namespace moa::cli
