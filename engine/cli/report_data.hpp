// What `moa run --report/--junit` and the GitHub step summary show: the run's calls
// (from CallLog), its jobs (from the results), its totals (RunStats), aggregated per
// node and per layer. Writers: report_html.cpp, report_files.cpp.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "call_log.hpp"
#include "moa/engine.hpp"
#include "moa/graph_spec.hpp"

namespace moa::cli {

struct JobRecord {
    uint64_t seq = 0;
    std::string id;
    bool ok = false;
    std::string error_node, error;
    double wall_ms = 0;
};

struct Latency {
    size_t n = 0;
    double p50 = 0, p95 = 0, max = 0;
};
// Nearest-rank percentiles of `ms` (sorted in place).
Latency latency_of(std::vector<double>& ms);

struct NodeRow {
    std::string node, layer, agent, model, backend;  // the agent of the graph (a fallback shows in failures)
    size_t calls = 0, failed = 0, cancelled = 0, cache_hits = 0, attempts = 0;
    uint64_t tokens_in = 0, tokens_out = 0;
    double cost_usd = 0, saved_usd = 0;  // of the calls (hits) with a known price
    size_t unknown_cost = 0;             // calls and hits whose model has no price
    bool estimated = false;              // some tokens are estimates
    Latency latency;  // the call's whole time: made to answered, queueing and retries included
};

struct LayerRow {
    std::string layer;
    size_t calls = 0, failed = 0, cache_hits = 0;
    uint64_t tokens_in = 0, tokens_out = 0;
    double cost_usd = 0, saved_usd = 0;
    size_t unknown_cost = 0;
    Latency latency;
};

// A call in the timeline: times in ms since the run's origin.
struct TimelineCall {
    uint64_t job_seq = 0;
    int node = 0;           // index into the graph's nodes
    double start = 0, sent = -1, end = 0;  // sent: the first attempt started (-1: never sent)
    std::string status;     // "ok", "error", "cancelled", "cache"
};

class RunReport {
public:
    RunReport(const GraphSpec& g, std::string graph_file);
    void add_call(const CallRecord& c);  // a CallLog sink
    void add_job(const JobResult& r);    // caller's thread
    void set_stats(const RunStats& s, double wall_ms);

    // After the run.
    std::vector<NodeRow> nodes() const;
    std::vector<LayerRow> layers() const;
    const GraphSpec& graph() const { return graph_; }
    const std::string& graph_file() const { return file_; }
    const RunStats& stats() const { return stats_; }
    double wall_ms() const { return wall_ms_; }
    const std::vector<JobRecord>& jobs() const { return jobs_; }
    size_t jobs_failed() const;
    struct Failure {
        std::string job, node, agent, error_kind, error;
    };
    const std::vector<Failure>& failures() const { return failures_; }
    const std::vector<TimelineCall>& timeline() const { return timeline_; }
    static constexpr size_t kTimelineJobs = 200;  // the timeline draws the first jobs only

private:
    int node_index(const std::string& id) const;
    GraphSpec graph_;
    std::string file_;
    mutable std::mutex mu_;
    struct PerNode {
        NodeRow row;
        std::vector<double> ms;
    };
    std::vector<PerNode> per_node_;
    std::vector<TimelineCall> timeline_;
    std::vector<Failure> failures_;
    std::vector<JobRecord> jobs_;
    RunStats stats_;
    double wall_ms_ = 0;
};

// Escapes for the formats the report is written in (untrusted text: answers, errors).
std::string html_escape(std::string_view s);
// XML text or attribute: & < > " ' escaped, control characters (but tab, LF, CR)
// removed, invalid UTF-8 bytes replaced by '?' (XML 1.0 allows neither).
std::string xml_escape(std::string_view s);

// "$0.0123", or "$0.0123 + 2 unpriced" when some calls' models have no price (never a silent 0).
std::string cost_text(double usd, size_t unknown);

// Writers (report_html.cpp, report_files.cpp). Each returns the whole file's text.
std::string report_html(const RunReport& r);
std::string report_json(const RunReport& r);
std::string report_junit(const RunReport& r);
std::string report_markdown(const RunReport& r);

}  // namespace moa::cli
