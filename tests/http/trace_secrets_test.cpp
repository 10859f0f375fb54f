// Traces and run reports never hold a key or a URL password: the real `moa` binary
// against the loopback server (tests/http/fake_llm.py), whose scripted faults echo the
// request (headers, Basic auth decoded) in error bodies that land in the trace's and
// the reports' error messages.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "fake_server.hpp"

namespace fs = std::filesystem;
using moa::test::FakeServer;

namespace {

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), {});
}

std::string shell(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
    return out;
}

// Any 10-character piece of `secret` in `text`.
bool leaks(const std::string& text, const std::string& secret) {
    for (size_t i = 0; i + 10 <= secret.size(); ++i)
        if (text.find(secret.substr(i, 10)) != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("a trace, the HTML and JSON reports, JUnit and the step summary hold no key or URL password") {
    static FakeServer server;
    const std::string key = "sk-live-TRACEKEY-5e6f7a8b9c", password = "pw-TRACEPW-1234ab";
    setenv("MOA_TRACE_KEY", key.c_str(), 1);
    fs::path d = fs::temp_directory_path() / "moa-trace-secrets";
    fs::remove_all(d);
    fs::create_directories(d);
    std::string u = "http://moauser:" + password + "@127.0.0.1:" + std::to_string(server.port());
    std::string g = "template agg = \"{{responses}}\"\n"
                    "backend oa { kind = openai  base_url = \"" + u + "/v1\"  api_key_env = \"MOA_TRACE_KEY\" "
                    " retry { attempts = 2  base_delay = 1ms  max_delay = 2ms } }\n"
                    "agent k { backend = oa  model = \"echo-key:tr\" }\n"
                    "agent j { backend = oa  model = \"echo-json-503:tr\" }\n"
                    "agent t { backend = oa  model = \"echo-text-401:tr\" }\n"
                    "agent ok { backend = oa  model = \"delay-300:tr\" }\n"
                    "layer p = [k, j, t, ok]\n"
                    "layer f = ok { inputs = p  prompt = agg  fan_in = at_least(1) }\noutput o = f\n";
    std::ofstream(d / "g.moa") << g;
    std::ofstream(d / "in.jsonl") << "{\"id\":\"1\",\"prompt\":\"q1\"}\n";
    std::string base = "NO_COLOR=1 GITHUB_STEP_SUMMARY=" + (d / "summary.md").string() + " " MOA_BIN " run " +
                       (d / "g.moa").string() + " --cache off --input " + (d / "in.jsonl").string() + " --output " +
                       (d / "out.jsonl").string() + " --overwrite --trace " + (d / "t.json").string() + " --junit " +
                       (d / "j.xml").string() + " --report ";
    std::string out = shell(base + (d / "r.html").string() + " 2>&1") + shell(base + (d / "r.json").string() + " 2>&1");
    std::string trace = slurp(d / "t.json");
    // The echoing faults really echoed (scrubbed) into the trace, so the checks below mean something.
    CHECK(trace.find("***") != std::string::npos);
    CHECK(trace.find("http 401") != std::string::npos);
    for (const char* f : {"t.json", "r.html", "r.json", "j.xml", "summary.md"}) {
        std::string text = slurp(d / f);
        INFO(f << ": " << text.substr(0, 3000));
        CHECK(!text.empty());
        CHECK_FALSE(leaks(text, key));
        CHECK_FALSE(leaks(text, password));
    }
    CHECK_FALSE(leaks(out, key));
}
