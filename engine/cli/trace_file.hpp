// `moa run --trace FILE`: the run's calls as Chrome trace-event JSON (the JSON Array
// Format that Perfetto and chrome://tracing open). Layout and guarantees: docs/cli.md.
//
// One process per job (pid = its input position + 1, named "job N: ID") and in it one
// thread per node (tid = the node's position in the graph + 1): every node makes at
// most one call per job, so a call and its phases nest on their track and never
// overlap another call. Process 0 ("backends") holds a counter per backend: attempts
// running. Events are written to FILE.partial as calls finish (by a writer thread,
// never by the engine's threads) and the file is renamed to FILE when the run ends:
// FILE is always whole, and a FILE.partial left by a killed run still loads (the
// format allows a missing closing bracket).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "call_log.hpp"
#include "output_file.hpp"

namespace moa::cli {

class TraceFile {
public:
    explicit TraceFile(std::vector<std::string> node_ids);
    ~TraceFile();  // stops the writer thread; an unfinished trace stays FILE.partial
    TraceFile(const TraceFile&) = delete;
    TraceFile& operator=(const TraceFile&) = delete;

    bool open(const std::string& path, std::string& error);  // creates FILE.partial
    void add(const CallRecord& c);                            // a CallLog sink: appends to a buffer
    // Writes the backends' counters, closes the array, fsyncs and renames to FILE.
    bool finish(const std::vector<CallLog::Running>& running, std::string& error);
    void discard();  // the run never started: FILE.partial is removed

private:
    void writer();
    void append(const std::string& event);  // under mu_
    void metadata(uint64_t pid, int tid, const CallRecord& c);

    std::map<std::string, int> tids_;  // node id -> tid
    std::string path_, partial_;
    FdWriter out_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::string buf_;
    bool first_ = true, stop_ = false;
    int write_errno_ = 0;
    std::set<uint64_t> named_;  // pid << 24 | tid already named
    std::thread thread_;
};

// Microseconds with three decimals ("12.345") from nanoseconds: exact, so slices
// that touch or nest in nanoseconds still do in the file.
std::string trace_us(int64_t ns);

}  // namespace moa::cli
