#include "trace_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "moa/json_writer.hpp"

namespace moa::cli {

std::string trace_us(int64_t ns) {
    if (ns < 0) ns = 0;
    char b[32];
    std::snprintf(b, sizeof b, "%lld.%03lld", static_cast<long long>(ns / 1000), static_cast<long long>(ns % 1000));
    return b;
}

namespace {

constexpr size_t kFlushBytes = 256 * 1024;

void head(JsonWriter& w, const char* name, const char* cat, const char* ph, uint64_t pid, int tid, int64_t ts) {
    w.begin_object().key("name").value(name);
    if (cat) w.key("cat").value(cat);
    w.key("ph").value(ph).key("ts").raw(trace_us(ts)).key("pid").value(pid).key("tid").value(tid);
}

std::string slice_of(const Phase& p, uint64_t pid, int tid) {
    std::string s, name = to_string(p.kind);
    if (p.kind == Phase::Kind::Attempt) name += " " + std::to_string(p.attempt);
    JsonWriter w(s);
    head(w, name.c_str(), "phase", "X", pid, tid, p.start);
    w.key("dur").raw(trace_us(p.end - p.start)).key("args").begin_object();
    if (!p.backend.empty()) w.key("backend").value(p.backend);
    if (p.attempt) w.key("attempt").value(p.attempt);
    if (!p.status.empty()) w.key("status").value(p.status);
    if (!p.error_kind.empty()) w.key("error_kind").value(p.error_kind);
    if (!p.error.empty()) w.key("error").value(p.error);
    if (p.kind == Phase::Kind::RetryWait) w.key("wait_ms").value(p.wait_ms);
    w.end_object().end_object();
    return s;
}

std::string call_slice(const CallRecord& c, uint64_t pid, int tid) {
    std::string s;
    JsonWriter w(s);
    head(w, c.node.c_str(), "call", "X", pid, tid, c.start);
    w.key("dur").raw(trace_us(c.end - c.start)).key("args").begin_object();
    w.key("job").value(c.job).key("node").value(c.node).key("agent").value(c.agent).key("model").value(c.model);
    w.key("backend").value(c.backend).key("attempts").value(c.attempts).key("status").value(to_string(c.status));
    w.key("tokens_in").value(c.tokens_in).key("tokens_out").value(c.tokens_out).key("cache_hit").value(c.cache_hit);
    if (c.tokens_estimated) w.key("tokens_estimated").value(true);
    // An unknown price is said, never a silent 0.
    if (!c.cost_known) w.key("cost_usd").value("unknown");
    else if (c.cache_hit) w.key("cost_usd").number(0).key("saved_usd").number(c.saved_usd);
    else w.key("cost_usd").number(c.cost_usd);
    if (!c.error_kind.empty() && !c.cache_hit) w.key("error_kind").value(c.error_kind);
    if (!c.error.empty()) w.key("error").value(c.error);
    w.end_object().end_object();
    return s;
}

std::string name_event(const char* what, uint64_t pid, int tid, const std::string& name, int64_t sort) {
    std::string s;
    JsonWriter w(s);
    w.begin_object().key("name").value(what).key("ph").value("M").key("pid").value(pid).key("tid").value(tid);
    w.key("args").begin_object().key("name").value(name).end_object().end_object();
    s += ",\n";
    JsonWriter w2(s);
    std::string sort_what = std::string(what) == "process_name" ? "process_sort_index" : "thread_sort_index";
    w2.begin_object().key("name").value(sort_what).key("ph").value("M").key("pid").value(pid).key("tid").value(tid);
    w2.key("args").begin_object().key("sort_index").value(sort).end_object().end_object();
    return s;
}

}  // namespace

TraceFile::TraceFile(std::vector<std::string> node_ids) {
    for (size_t i = 0; i < node_ids.size(); ++i) tids_.emplace(node_ids[i], static_cast<int>(i) + 1);
}

TraceFile::~TraceFile() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

bool TraceFile::open(const std::string& path, std::string& error) {
    path_ = path;
    partial_ = path + ".partial";
    if (!out_.open_append(partial_, true) || !out_.write("[\n")) {
        error = "--trace: cannot write " + with_reason(partial_);
        return false;
    }
    thread_ = std::thread([this] { writer(); });
    return true;
}

void TraceFile::append(const std::string& event) {
    if (!first_) buf_ += ",\n";
    first_ = false;
    buf_ += event;
}

void TraceFile::metadata(uint64_t pid, int tid, const CallRecord& c) {
    if (named_.insert(pid << 24).second) append(name_event("process_name", pid, 0, "job " + std::to_string(pid) + ": " + c.job, static_cast<int64_t>(pid)));
    if (named_.insert(pid << 24 | static_cast<uint64_t>(tid)).second) append(name_event("thread_name", pid, tid, c.node, tid));
}

void TraceFile::add(const CallRecord& c) {
    uint64_t pid = c.job_seq + 1;
    auto t = tids_.find(c.node);
    int tid = t == tids_.end() ? 0 : t->second;
    std::string call = call_slice(c, pid, tid);
    std::lock_guard lock(mu_);
    metadata(pid, tid, c);
    append(call);
    for (const auto& p : c.phases) append(slice_of(p, pid, tid));
    if (buf_.size() >= kFlushBytes) cv_.notify_one();
}

// The writer thread: the engine's threads only append to the buffer.
void TraceFile::writer() {
    std::unique_lock lock(mu_);
    for (;;) {
        cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_ || buf_.size() >= kFlushBytes; });
        if (stop_) return;
        if (buf_.empty()) continue;
        std::string chunk;
        chunk.swap(buf_);
        lock.unlock();
        bool ok = out_.write(chunk);
        int e = errno;
        lock.lock();
        if (!ok && !write_errno_) write_errno_ = e;
    }
}

void TraceFile::discard() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    unlink(partial_.c_str());
}

bool TraceFile::finish(const std::vector<CallLog::Running>& running, std::string& error) {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    // Process 0: one counter track per backend, the attempts running on it.
    if (!running.empty()) {
        append(name_event("process_name", 0, 0, "backends", -1));
        for (const auto& r : running)
            for (const auto& [ns, n] : r.steps) {
                std::string s;
                JsonWriter w(s);
                std::string name = "running on " + r.backend;
                head(w, name.c_str(), "backend", "C", 0, 0, ns);
                w.key("args").begin_object().key("running").value(n).end_object().end_object();
                append(s);
            }
    }
    buf_ += "\n]\n";
    bool ok = !write_errno_ && out_.write(buf_) && fsync(out_.fd()) == 0;
    if (!ok) {
        if (write_errno_) errno = write_errno_;
        error = "--trace: cannot write " + with_reason(partial_);
        return false;
    }
    if (std::rename(partial_.c_str(), path_.c_str()) != 0) {
        error = "--trace: cannot rename " + partial_ + " to " + with_reason(path_);
        return false;
    }
    return true;
}

}  // namespace moa::cli
