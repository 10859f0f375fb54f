#include "report_cli.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

#include "log.hpp"
#include "moa/ascii.hpp"
#include "output_file.hpp"
#include "run.hpp"

namespace moa::cli {

namespace {

bool ends_with(const std::string& s, const char* suffix) {
    std::string l = ascii::lower(s);
    std::string x = suffix;
    return l.size() >= x.size() && l.compare(l.size() - x.size(), x.size(), x) == 0;
}

// The file is written whole at the end (PATH.tmp, renamed): its directory must take it now.
bool can_create(const std::string& flag, const std::string& path) {
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        log::error(flag + ": cannot write " + with_reason(tmp));
        return false;
    }
    close(fd);
    unlink(tmp.c_str());
    return true;
}

// GitHub Actions: $GITHUB_STEP_SUMMARY names a file every step appends markdown to.
std::string step_summary_path() {
    const char* p = std::getenv("GITHUB_STEP_SUMMARY");
    return p && *p ? p : "";
}

}  // namespace

Reporting::Reporting(const RunArgs& a, const GraphSpec& g, CallObserver& notices)
    : trace_path_(a.trace), report_path_(a.report), junit_path_(a.junit), summary_path_(step_summary_path()),
      log_(notices), report_(g, a.graph) {}

Reporting::~Reporting() = default;

int Reporting::open(const RunArgs& a, const GraphSpec& g, CallObserver& notices, std::unique_ptr<Reporting>& out) {
    bool json = ends_with(a.report, ".json");
    if (!a.report.empty() && !json && !ends_with(a.report, ".html") && !ends_with(a.report, ".htm")) {
        log::error("--report " + a.report + ": name a .html file (a page to read) or a .json file (for programs)");
        return 2;
    }
    std::unique_ptr<Reporting> r(new Reporting(a, g, notices));
    if (a.trace.empty() && a.report.empty() && a.junit.empty() && r->summary_path_.empty()) return 0;
    r->report_json_ = json;
    if (!a.report.empty() && !can_create("--report", a.report)) return 1;
    if (!a.junit.empty() && !can_create("--junit", a.junit)) return 1;
    if (!a.trace.empty()) {
        std::vector<std::string> ids;
        for (const auto& n : g.nodes) ids.push_back(n.id);
        r->trace_ = std::make_unique<TraceFile>(std::move(ids));
        std::string error;
        if (!r->trace_->open(a.trace, error)) return log::error(error), 1;
        TraceFile* t = r->trace_.get();
        r->log_.add_sink([t](const CallRecord& c) { t->add(c); });
    }
    RunReport* rep = &r->report_;
    r->log_.add_sink([rep](const CallRecord& c) { rep->add_call(c); });
    out = std::move(r);
    return 0;
}

void Reporting::discard() {
    if (trace_) trace_->discard();
}

bool Reporting::finish() {
    std::string error;
    bool ok = true;
    auto fail = [&](const std::string& e) {
        log::error(e);
        ok = false;
    };
    if (trace_ && !trace_->finish(log_.running(), error)) fail(error);
    if (!report_path_.empty() &&
        !replace_file(report_path_, report_json_ ? report_json(report_) : report_html(report_), error))
        fail("--report: " + error);
    if (!junit_path_.empty() && !replace_file(junit_path_, report_junit(report_), error)) fail("--junit: " + error);
    if (!summary_path_.empty()) {
        // Appended in one write (O_APPEND): other steps' summaries stay whole.
        FdWriter w;
        if (!w.open_append(summary_path_, false) || !w.write(report_markdown(report_)))
            fail("GITHUB_STEP_SUMMARY: cannot append to " + with_reason(summary_path_));
    }
    return ok;
}

}  // namespace moa::cli
