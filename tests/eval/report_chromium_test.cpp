// The HTML report opened in headless Chromium: it renders (the DOM has the table and the
// chart) with no console message. Skipped, with a warning, when no chromium is installed
// (Debian: apt-get install chromium).
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "moa/eval_stats.hpp"

namespace {

std::string chromium_path() {
    for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
        const std::string cmd = std::string("command -v ") + name + " 2>/dev/null";
        if (FILE* p = popen(cmd.c_str(), "r")) {
            char buf[512] = {};
            const bool found = fgets(buf, sizeof buf, p) != nullptr;
            pclose(p);
            if (found) {
                std::string path(buf);
                while (!path.empty() && (path.back() == '\n' || path.back() == '\r')) path.pop_back();
                return path;
            }
        }
    }
    return "";
}

std::string tmp_dir() {
    const char* t = std::getenv("TMPDIR");
    return t && *t ? t : "/tmp";
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct Rendered {
    std::string dom;
    std::string console;  // every console line Chromium logged
};

Rendered open_in_chromium(const std::string& chromium, const std::string& html, const std::string& tag) {
    const std::string dir = tmp_dir() + "/moa_eval_chromium_" + tag;
    std::system(("rm -rf '" + dir + "' && mkdir -p '" + dir + "'").c_str());
    std::ofstream(dir + "/report.html") << html;
    const std::string cmd = "'" + chromium + "' --headless --disable-gpu --no-sandbox --enable-logging=stderr " +
                            "--user-data-dir='" + dir + "/profile' --dump-dom 'file://" + dir + "/report.html' > '" +
                            dir + "/dom.html' 2> '" + dir + "/stderr.txt'";
    REQUIRE(std::system(cmd.c_str()) == 0);
    Rendered r{slurp(dir + "/dom.html"), ""};
    std::istringstream err(slurp(dir + "/stderr.txt"));
    for (std::string line; std::getline(err, line);)
        if (line.find(":CONSOLE") != std::string::npos) r.console += line + "\n";
    return r;
}

std::string sample_report() {
    using namespace moa::eval;
    CandidateRow a;
    a.name = "moa <paper>";
    a.queries = 805;
    a.win_rate = Interval{65, 62, 68};
    a.lc_win_rate = Interval{61, 58, 64};
    a.cost_per_query = 0.012;
    CandidateRow b = a;
    b.name = "self-moa";
    b.lc_win_rate = Interval{63, 60, 66};
    b.cost_per_query = 0.009;
    CandidateRow c = a;
    c.name = "unpriced";
    c.cost_per_query.reset();
    std::ostringstream out;
    write_eval_report_html(out, {a, b, c}, ReportMeta{});
    return out.str();
}

}  // namespace

TEST_CASE("the HTML report renders in headless Chromium with no console errors") {
    const std::string chromium = chromium_path();
    if (chromium.empty()) {
        WARN("skipped: no chromium on PATH (apt-get install chromium)");
        return;
    }
    const std::string html = sample_report();
    const Rendered ok = open_in_chromium(chromium, html, "ok");
    CHECK(ok.console.empty());
    CHECK(ok.dom.find("<table>") != std::string::npos);
    CHECK(ok.dom.find("<svg") != std::string::npos);
    CHECK(ok.dom.find("self-moa") != std::string::npos);

    // The same check catches a script error: inject one and see it reported.
    std::string broken = html;
    broken.insert(broken.find("</body>"), "<script>undefined_function();</script>\n");
    const Rendered bad = open_in_chromium(chromium, broken, "injected");
    CHECK(bad.console.find("undefined_function") != std::string::npos);
}
