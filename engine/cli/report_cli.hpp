// `moa run --trace FILE`, `--report FILE.html|FILE.json`, `--junit FILE`, and the
// GitHub Actions step summary ($GITHUB_STEP_SUMMARY): what a run records for them
// and the files it writes when it ends (also after SIGINT/SIGTERM). docs/cli.md.
#pragma once

#include <memory>
#include <string>

#include "call_log.hpp"
#include "moa/engine.hpp"
#include "report_data.hpp"
#include "trace_file.hpp"

namespace moa::cli {

struct RunArgs;

class Reporting {
public:
    // 0 and `out` (null when nothing is asked for: no flag, no step summary), or the
    // exit code after an error message (2: a --report name that is neither .html nor
    // .json; 1: a file that cannot be created).
    static int open(const RunArgs& a, const GraphSpec& g, CallObserver& notices, std::unique_ptr<Reporting>& out);
    ~Reporting();
    CallObserver* observer() { return &log_; }
    void job(const JobResult& r) { report_.add_job(r); }
    void stats(const RunStats& s) { report_.set_stats(s, s.wall_ms); }
    // Writes every file asked for; false after logging the first that failed.
    bool finish();
    // No job ran and the run failed before it began (a usage error, a locked output,
    // an engine that could not start): no file is written, FILE.partial is removed.
    void discard();
    bool any_job() const { return !report_.jobs().empty(); }

private:
    Reporting(const RunArgs& a, const GraphSpec& g, CallObserver& notices);
    std::string trace_path_, report_path_, junit_path_, summary_path_;
    bool report_json_ = false;
    CallLog log_;
    RunReport report_;
    std::unique_ptr<TraceFile> trace_;
};

}  // namespace moa::cli
