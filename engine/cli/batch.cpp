// `moa run --input`: the batch front. Rows are keyed by input line (the "line" field),
// so duplicate ids are answered each; resume trusts only verified rows of the same
// fingerprint; one writer per output (a lock); SIGINT/SIGTERM stop cleanly.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <streambuf>
#include <unordered_set>

#include "moa/batch_io.hpp"
#include "interrupt.hpp"
#include "log.hpp"
#include "output_file.hpp"
#include "output_target.hpp"
#include "progress.hpp"
#include "run.hpp"

namespace moa::cli {

namespace {

bool is_regular_or_absent(const std::string& path) {
    struct stat st{};
    return stat(path.c_str(), &st) != 0 || S_ISREG(st.st_mode);
}

// Reads the input, skips lines already answered, stops when told, warns about
// duplicate ids, and remembers each started job's input line until it is written.
class Feeder : public QuerySource {
public:
    Feeder(JsonlSource& src, const ResumeScan& done, std::atomic<bool>& stop, bool quiet)
        : src_(src), done_(done), stop_(stop), quiet_(quiet) {}
    std::optional<Query> next() override {
        for (;;) {
            if (stop_.load()) return std::nullopt;
            auto q = src_.next();
            if (!q) {
                // Rows past the input's end answer lines that are gone: not answers of this input.
                if (done_.last_line() > last_line_ && mismatch_line == 0) mismatch_line = done_.last_line();
                return q;
            }
            const InputLine& in = src_.last();
            last_line_ = in.line;
            check_id(in);
            if (done_.done(in.line)) {
                if (done_.state[in.line].input_hash != input_hash(in)) {  // the input changed under the rows
                    mismatch_line = in.line;
                    stop_ = true;
                    return std::nullopt;
                }
                ++skipped;
                continue;
            }
            std::lock_guard lock(mu_);
            lines_[seq_++] = in;
            return q;
        }
    }
    uint64_t last_line() const { return last_line_; }
    InputLine take(uint64_t seq) {
        std::lock_guard lock(mu_);
        auto it = lines_.find(seq);
        InputLine in = std::move(it->second);
        lines_.erase(it);
        return in;
    }
    size_t skipped = 0, duplicate_ids = 0;
    uint64_t mismatch_line = 0;  // the first input line whose row answered another input

private:
    void check_id(const InputLine& in) {
        if (!in.has_id) return;
        if (seen_.insert(std::hash<std::string>{}(in.id)).second) return;
        if (!duplicate_ids++ && !quiet_)
            std::cerr << "warning: input line " << in.line << " repeats the id \"" << in.id
                      << "\"; rows are keyed by input line (the \"line\" field), so every line is answered\n";
    }
    JsonlSource& src_;
    const ResumeScan& done_;
    std::atomic<bool>& stop_;
    bool quiet_;
    std::mutex mu_;
    std::map<uint64_t, InputLine> lines_;  // bounded by the engine's reorder window
    uint64_t seq_ = 0, last_line_ = 0;
    std::unordered_set<size_t> seen_;
};

void report_resume(const ResumeScan& scan, const std::string& path) {
    if (scan.rows() || scan.failed_dropped) {
        std::cerr << "resuming " << path << ": " << scan.rows() << " input lines already answered";
        if (scan.failed_kept) std::cerr << " (" << scan.failed_kept << " failed, kept by --keep-failed)";
        if (scan.failed_dropped) std::cerr << "; " << scan.failed_dropped << " failed rows will be retried";
        std::cerr << "\n";
    }
    if (scan.invalid)
        std::cerr << "warning: " << path << ": dropped " << scan.invalid << " row(s) that are not complete results (first: line "
                  << scan.first_invalid_line << " of the file); their inputs run again\n";
    if (scan.torn) std::cerr << "warning: " << path << ": cut off a partial last row (left by a killed run)\n";
}

// The input, read with poll() on its fd and the interrupt's wake fd: after a signal,
// a read waiting on a pipe or terminal ends (EOF) instead of waiting for more lines.
class StoppableInput : public std::streambuf {
public:
    StoppableInput(int fd, bool owned) : fd_(fd), owned_(owned) {}
    void set_wake_fd(int fd) { wake_ = fd; }
    ~StoppableInput() override {
        if (owned_) close(fd_);
    }

protected:
    int_type underflow() override {
        if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
        for (;;) {
            pollfd p[2] = {{fd_, POLLIN, 0}, {wake_, POLLIN, 0}};
            int n = poll(p, wake_ >= 0 ? 2 : 1, -1);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 || (wake_ >= 0 && (p[1].revents & POLLIN))) return traits_type::eof();
            ssize_t r = ::read(fd_, buf_, sizeof buf_);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return traits_type::eof();
            setg(buf_, buf_, buf_ + r);
            return traits_type::to_int_type(*gptr());
        }
    }

private:
    int fd_;
    bool owned_;
    int wake_ = -1;
    char buf_[1 << 16];
};

const char* signal_name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal"; }

// Where a batch's rows go: checked against the input, locked, resumed, opened.
struct Target {
    OutputFormat format = OutputFormat::Jsonl;
    bool to_file = false;   // a regular file (or a new one): locked, resumed, replaced
    bool stream = false;    // stdout, a device or a FIFO: written in place, not resumed
    std::string path;       // the output with symlinks followed
    std::string rows_path;  // the JSONL rows: the output, or AlpacaEval's journal
    OutputLock lock;
    ResumeScan scan;
    FdWriter out;
};

int usage_error(const std::string& msg) {
    log::error(msg);
    return 2;
}

// Everything that can fail about the output, checked before any job starts.
int check_target(const RunArgs& a, Target& t) {
    t.format = a.format.value_or(OutputFormat::Jsonl);
    const bool named = !a.output.empty() && a.output != "-";
    if (!named) return t.stream = true, 0;
    OutputPath op;
    std::string error;
    if (!resolve_output(a.output, op, error)) return usage_error(error);
    if (op.kind == TargetKind::Directory) return usage_error("--output " + a.output + " is a directory; name a file in it");
    t.path = op.resolved;
    t.stream = op.kind == TargetKind::Stream;
    t.to_file = !t.stream;
    // AlpacaEval's list is rewritten whole (temp + rename next to the target) from a journal of rows.
    t.rows_path = !t.to_file ? "" : t.format == OutputFormat::AlpacaEval ? t.path + ".moa.jsonl" : t.path;
    for (const auto& p : {a.output, t.rows_path})
        if (!p.empty() && same_file(a.input, p))
            return usage_error("--output " + p + " is the input file " + a.input +
                               " (the same file under another name or link); writing it would destroy the input: choose another --output");
    if (t.to_file && t.rows_path != t.path && !is_regular_or_absent(t.rows_path))
        return usage_error("the journal " + t.rows_path + " of --output " + a.output + " is not a regular file");
    if (t.to_file && t.format == OutputFormat::AlpacaEval) {  // the list's temp file must be creatable now, not after the run
        std::string tmp = t.path + ".tmp";
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) return log::error("cannot write " + with_reason(tmp)), 1;
        close(fd);
        unlink(tmp.c_str());
    }
    return 0;
}

// 0, or the exit code after an error message.
int open_target(const RunArgs& a, const std::string& fp, Target& t) {
    if (int rc = check_target(a, t)) return rc;
    std::string error;
    bool busy = false;
    const bool alpaca_file = t.to_file && t.format == OutputFormat::AlpacaEval;
    if (t.to_file && (!t.lock.acquire(t.path, error, busy) || !t.lock.lock_file(t.rows_path, a.output, error, busy) ||
                      (alpaca_file && !t.lock.lock_file(t.path, a.output, error, busy)))) {
        log::error(error);
        return 1;
    }
    // Resume: trusted rows of an earlier run stay; their lines are not run again.
    const bool resumable = t.to_file && t.format != OutputFormat::Text;
    if (resumable && !a.overwrite && !scan_output(t.rows_path, fp, a.keep_failed, t.scan, error)) {
        log::error(error);
        return t.scan.refused ? 2 : 1;  // a wrong --output is a usage error; I/O is not
    }
    struct stat st{};
    if (alpaca_file && !a.overwrite && t.scan.rows() + t.scan.failed_dropped == 0 && stat(t.path.c_str(), &st) == 0 &&
        st.st_size > 0)
        return usage_error(a.output + " exists and is not an AlpacaEval list of this moa run (no journal " + t.rows_path +
                           " with its rows); use --overwrite to replace it, or choose another --output");
    if (!t.to_file) {
        if (t.path.empty())
            t.out.use_stdout();
        else if (!t.out.open_append(t.path, false))
            return log::error("cannot write " + with_reason(a.output)), 1;
    } else if (!t.out.open_append(t.rows_path, !resumable || a.overwrite)) {
        log::error("cannot write " + with_reason(t.rows_path));
        return 1;
    } else if (!t.lock.lock_file(t.rows_path, a.output, error, busy)) {  // a new file: lock it as well
        log::error(error);
        return 1;
    }
    if (!a.quiet) report_resume(t.scan, t.rows_path);
    return 0;
}

// What the result callback did with the batch's results.
struct Tally {
    std::string write_error;  // the first failed write: the batch stops at once
    size_t written = 0, failed = 0, unfinished = 0, cancelled = 0;
};

// Writes each result as a row in input order, or holds it back after a stop or a failed write.
class RowSink {
public:
    struct Context {
        Feeder& feeder;
        FdWriter& out;
        const RowOptions& ro;
        Engine& engine;
        Interrupts& interrupts;
        std::atomic<bool>& stop;
        const std::string& out_name;
        bool alpaca_stdout;
        bool quiet;
        OutputFormat format;
    };
    RowSink(Context c, Tally& n) : c_(c), n_(n) {}

    void operator()(JobResult&& r) {
        InputLine line = c_.feeder.take(r.seq);
        // After a stop, a failed job was (probably) cut short: leave it for the resume.
        if (!n_.write_error.empty() || (c_.stop && !r.ok)) {
            ++n_.unfinished;
            n_.cancelled += !r.ok;
            return;
        }
        std::string row = format_row(r, line, c_.ro);
        if (c_.alpaca_stdout && !row.empty()) row = (n_.written ? ",\n " : "\n ") + row;
        if (!row.empty() && !c_.out.write(row)) {
            n_.write_error = "writing " + c_.out_name + " failed: " + std::strerror(errno) +
                             "; stopped at once (" + std::to_string(c_.engine.progress().started) + " jobs started)";
            c_.stop = true;
            c_.interrupts.stop_now();
            ++n_.unfinished;
            return;
        }
        if (!r.ok && ++n_.failed <= 10 && c_.format == OutputFormat::AlpacaEval && !c_.quiet)
            std::cerr << "input line " << line.line << " failed (not written as an answer): "
                      << (r.error_node.empty() ? "" : r.error_node + ": ") << r.error << "\n";
        n_.written += !row.empty();
    }

private:
    Context c_;
    Tally& n_;
};

// First signal: no new jobs, then the grace period; second: exit now.
Interrupts::Hooks batch_hooks(const RunArgs& a, Engine& engine, std::atomic<bool>& stop, bool to_file,
                              const std::string& rows_path) {
    return {[&a, &stop](int sig) {
                stop = true;
                std::cerr << "\n" << signal_name(sig) << ": no new jobs; waiting up to " << a.grace
                          << " s for the jobs in flight, then cancelling them (again to exit now)\n";
            },
            [&engine] { engine.cancel(); },
            [to_file, &rows_path](int sig) {
                std::cerr << "\n" << signal_name(sig) << " again: exiting now; " << (to_file ? rows_path : "the output")
                          << " keeps every row written so far; run the same command to resume\n";
            }};
}

// 0, or the exit code after an error message; fd is the input's (stdin for -).
int open_input(const RunArgs& a, int& fd) {
    if (!a.question.empty()) {
        log::error("give a question or --input FILE, not both (the question \"" + a.question + "\" would be ignored)");
        return 2;
    }
    fd = STDIN_FILENO;
    if (a.input != "-" && (fd = ::open(a.input.c_str(), O_RDONLY | O_CLOEXEC)) < 0) {
        log::error("cannot open " + with_reason(a.input));
        return 2;
    }
    return 0;
}

// A resumed output whose rows answered other inputs than the input now holds: refused.
int input_changed(const Feeder& feeder, const std::string& rows_path, const std::string& input) {
    const uint64_t n = feeder.mismatch_line;
    bool beyond = n > feeder.last_line();
    log::error(rows_path + ": the row for input line " + std::to_string(n) + " (id " + row_id(rows_path, n) + ") " +
               (beyond ? "is past the end of " + input + " (" + std::to_string(feeder.last_line()) + " lines)"
                       : "answered another input than line " + std::to_string(n) + " of " + input + " now holds") +
               ": the input changed since that run, so its rows would be attached to the wrong prompts. "
               "Use --overwrite to start again, or choose another --output");
    return 2;
}

// AlpacaEval to a file: the list is rendered from the journal once all rows are in.
// Returns its entries; a failure goes to write_error.
size_t write_alpaca_list(const Target& t, const std::string& fp, const std::string& generator,
                         std::string& write_error) {
    std::ostringstream list;
    std::string error;
    size_t entries = 0;
    try {
        entries = render_alpaca(t.rows_path, fp, generator, list);
        if (!replace_file(t.path, list.str(), error)) write_error = error;
    } catch (const Error& e) {
        write_error = e.what();
    }
    return entries;
}

void print_summary(const RunArgs& a, const RunStats& stats, const Feeder& feeder, const Tally& n, const Target& t,
                   size_t alpaca_entries) {
    stats.print(std::cerr);
    if (feeder.duplicate_ids)
        std::cerr << feeder.duplicate_ids << " input line(s) repeated an earlier id (each was answered)\n";
    if (t.format == OutputFormat::AlpacaEval && n.failed > 10)
        std::cerr << "... and " << n.failed - 10 << " more failed jobs, not written as answers\n";
    if (t.format == OutputFormat::AlpacaEval && t.to_file) {
        std::cerr << a.output << ": " << alpaca_entries << " answers";
        if (n.failed + t.scan.failed_kept)
            std::cerr << "; failed jobs are not in it (their errors are in " << t.rows_path << "; run again to retry them)";
        std::cerr << "\n";
    }
}

int interrupted(int sig, const Tally& n, const Target& t) {
    std::cerr << "interrupted by " << signal_name(sig) << ": " << n.unfinished << " job(s) in flight not written; "
              << "run the same command again to resume";
    if (t.to_file) std::cerr << " (" << t.rows_path << " is complete up to here)";
    std::cerr << "\n";
    return 128 + sig;
}

}  // namespace

int run_batch(const RunArgs& a, Engine& engine, const std::string& fp, const std::string& generator) {
    int in_fd = -1;
    if (int rc = open_input(a, in_fd)) return rc;
    StoppableInput input_buf(in_fd, a.input != "-");  // closes the file on every return
    Target t;
    if (int rc = open_target(a, fp, t)) return rc;
    const OutputFormat format = t.format;
    const bool to_file = t.to_file;
    const std::string out_name = to_file ? t.rows_path : t.path.empty() ? std::string("stdout") : a.output;

    std::atomic<bool> stop{false};
    Tally n;
    Interrupts interrupts(batch_hooks(a, engine, stop, to_file, t.rows_path), a.grace);
    input_buf.set_wake_fd(interrupts.wake_fd());
    std::istream in(&input_buf);
    JsonlSource jsonl(in);
    Feeder feeder(jsonl, t.scan, stop, a.quiet);
    RowOptions ro{format, generator, a.emit_all, fp, format == OutputFormat::AlpacaEval && to_file};
    if (ro.journal) ro.format = OutputFormat::Jsonl;
    const bool alpaca_stdout = format == OutputFormat::AlpacaEval && !to_file;  // stdout, a device, a FIFO
    if (alpaca_stdout) t.out.write("[");
    std::unique_ptr<ProgressBar> bar;
    if (a.progress && !a.quiet && isatty(STDERR_FILENO))
        bar = std::make_unique<ProgressBar>(engine, a.input == "-" ? 0 : count_jobs(a.input), t.scan.rows());
    RowSink sink({feeder, t.out, ro, engine, interrupts, stop, out_name, alpaca_stdout, a.quiet, format}, n);
    RunStats stats = engine.run_batch(feeder, [&sink](JobResult&& r) { sink(std::move(r)); });
    bar.reset();
    if (alpaca_stdout && n.write_error.empty()) t.out.write(n.written ? "\n]\n" : "]\n");
    int sig = interrupts.signal();
    if (feeder.mismatch_line) return input_changed(feeder, t.rows_path, a.input);
    size_t alpaca_entries = 0;
    if (format == OutputFormat::AlpacaEval && to_file && n.write_error.empty())
        alpaca_entries = write_alpaca_list(t, fp, generator, n.write_error);
    if (!n.write_error.empty()) {
        log::error(n.write_error);
        return 1;
    }
    stats.jobs_cancelled = n.cancelled;
    if (!a.quiet) print_summary(a, stats, feeder, n, t, alpaca_entries);
    // The cache failed: the run stopped early (results in hand are written above).
    if (std::string e = engine.cache_error(); !e.empty())
        return log::error(e + "; the run stopped early: answers already stored stay, and every result above is in the output"), 1;
    if (sig) return interrupted(sig, n, t);
    // A budget stopped the run: the jobs not started are not in the output (a resumed
    // run with a larger budget answers them).
    if (std::string b = engine.budget_reached(); !b.empty())
        return log::error("budget " + b + " reached: the run stopped early (jobs not started are left for a resumed run)"), kExitBudget;
    return n.failed + t.scan.failed_kept ? 1 : 0;  // failures in the file stay loud
}

}  // namespace moa::cli
