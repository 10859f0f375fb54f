// `moa run --trace / --report / --junit` and the GitHub step summary, end to end: the
// files parse, hold the run's calls and jobs, nest, escape untrusted text, and are
// whole after a signal. The trace is checked by tests/cli/check_trace.py.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "shell.hpp"

namespace fs = std::filesystem;

namespace {

fs::path dir(const std::string& name) {
    fs::path d = fs::temp_directory_path() / "moa-report-test" / name;
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
}

void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

moa::test::Run moa_run(const std::string& args, const std::string& env = "") {
    return moa::test::shell("cd " MOA_SOURCE_DIR " && NO_COLOR=1 " + env + " " MOA_BIN " " + args + " 2>&1");
}

// check_trace.py's counts, or its complaint.
moa::test::Run check_trace(const fs::path& trace) {
    return moa::test::shell("python3 " MOA_SOURCE_DIR "/tests/cli/check_trace.py " + trace.string() + " 2>&1");
}

// A value of the JSON report, read by Python: `expr` indexes `r`.
std::string json_value(const fs::path& file, const std::string& expr) {
    auto r = moa::test::shell("python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); v=(" + expr +
                              "); print(*(v if isinstance(v, tuple) else (v,)))' " +
                              file.string() + " 2>&1");
    return r.out.substr(0, r.out.find_last_not_of('\n') + 1);
}

// Three proposers and an aggregator on a simulated backend that fails a quarter of its
// attempts (retried): 4 calls per job, retries, and every phase of a call.
const char* kFlaky = R"(backend sim {
  kind = sim
  latency {
    first_token = 20ms
    tokens_per_second = 2000
  }
  faults {
    server_error = 0.25
  }
  retry {
    attempts = 8
    base_delay = 1ms
    max_delay = 5ms
  }
}
template agg = "{{responses}}"
price pa { model = "m-a"  input = 3.0  output = 15.0 }
price pb { model = "m-b"  input = 0.5  output = 1.25 }
agent a { backend = sim  model = "m-a" }
agent b { backend = sim  model = "m-b" }
agent c { backend = sim  model = "m-c" }
layer propose = [a, b, c]
layer final = a { inputs = propose  prompt = agg }
output answer = final
)";

std::string batch(int n) {
    std::string s;
    for (int i = 1; i <= n; ++i) s += "{\"id\":\"q" + std::to_string(i) + "\",\"prompt\":\"question " + std::to_string(i) + "\"}\n";
    return s;
}

}  // namespace

TEST_CASE("a trace parses as JSON with ph/ts/dur/pid/tid on every slice, nests on each track, and counts the run's calls and attempts") {
    fs::path d = dir("trace");
    write(d / "g.moa", kFlaky);
    write(d / "in.jsonl", batch(6));
    auto r = moa_run("run " + (d / "g.moa").string() + " --cache off --input " + (d / "in.jsonl").string() + " --output " +
                 (d / "out.jsonl").string() + " --trace " + (d / "t.json").string() + " --report " + (d / "r.json").string());
    INFO(r.out);
    REQUIRE(r.code == 0);
    CHECK_FALSE(fs::exists(d / "t.json.partial"));
    auto c = check_trace(d / "t.json");
    INFO(c.out);
    REQUIRE(c.code == 0);
    // 6 jobs x 4 nodes; every attempt of the run is a slice, retries wait between them.
    CHECK(c.out.find("\"calls\": 24") != std::string::npos);
    CHECK(c.out.find("\"jobs\": 6") != std::string::npos);
    CHECK(c.out.find("\"tracks\": 24") != std::string::npos);
    CHECK(c.out.find("\"cache_hits\": 0") != std::string::npos);
    CHECK(json_value(d / "r.json", "r[\"totals\"][\"calls\"]") == "24");
    std::string attempts = json_value(d / "r.json", "r[\"totals\"][\"attempts\"]");
    std::string retries = json_value(d / "r.json", "r[\"totals\"][\"retries\"]");
    CHECK(c.out.find("\"attempts\": " + attempts + ",") != std::string::npos);
    CHECK(c.out.find("\"retry_waits\": " + retries + ",") != std::string::npos);
    CHECK(retries != "0");  // the faults were met: retry waits are in the trace
    // Every successful attempt streamed its answer after a first token.
    CHECK(c.out.find("\"streaming\": 24") != std::string::npos);
    // Money: the priced calls' costs add up to the run's; m-c has no price (6 calls), said as unknown.
    CHECK(c.out.find("\"unknown_cost\": 6") != std::string::npos);
    CHECK(json_value(d / "r.json", "r[\"totals\"][\"unknown_cost_calls\"]") == "6");
    std::string cost = json_value(d / "r.json", "\"%.9f\" % r[\"totals\"][\"cost_usd\"]");
    CHECK(cost != "0.000000000");
    CHECK(c.out.find("\"cost_usd\": \"" + cost + "\"") != std::string::npos);
}

TEST_CASE("a rerun answered by the cache traces every call as a cache hit without attempts") {
    fs::path d = dir("trace-cache");
    write(d / "g.moa", kFlaky);
    write(d / "in.jsonl", batch(3));
    std::string base = "run " + (d / "g.moa").string() + " --cache rw --cache-db " + (d / "c.db").string() + " --input " +
                       (d / "in.jsonl").string() + " --trace " + (d / "t.json").string() + " -q > /dev/null";
    REQUIRE(moa_run(base).code == 0);
    auto first = check_trace(d / "t.json");
    CHECK(first.out.find("\"cache_hits\": 0") != std::string::npos);
    REQUIRE(moa_run(base).code == 0);
    auto c = check_trace(d / "t.json");
    INFO(c.out);
    REQUIRE(c.code == 0);
    CHECK(c.out.find("\"calls\": 12") != std::string::npos);
    CHECK(c.out.find("\"cache_hits\": 12") != std::string::npos);
    CHECK(c.out.find("\"attempts\": 0") != std::string::npos);
}

TEST_CASE("the HTML report escapes answers, errors and ids; JSON, JUnit and the step summary hold the run") {
    fs::path d = dir("report");
    // The ranker's reply names no response: the node fails with the reply quoted in its error.
    write(d / "g.moa", R"(backend sim { kind = sim }
backend judge { kind = sim  reply = "<script>alert('x')</script> & </pre>" }
template rank = "{{responses}}"
agent a { backend = sim  model = "m-a" }
agent j { backend = judge  model = "m-j" }
layer propose = a
layer pick = j { inputs = propose  prompt = rank  result = pick }
output answer = pick
)");
    write(d / "in.jsonl", "{\"id\":\"<img src=x onerror=alert(1)>\\u0001\",\"prompt\":\"q\"}\n{\"id\":\"two\",\"prompt\":\"q2\"}\n");
    fs::path summary = d / "summary.md";
    write(summary, "earlier step\n");
    std::string run = "run " + (d / "g.moa").string() + " --cache off --input " + (d / "in.jsonl").string() +
                      " --output " + (d / "out.jsonl").string() + " --junit " + (d / "j.xml").string() + " --report ";
    auto r = moa_run(run + (d / "r.html").string(), "GITHUB_STEP_SUMMARY=" + summary.string());
    INFO(r.out);
    CHECK(r.code == 1);  // the jobs failed
    REQUIRE(moa_run(run + (d / "r.json").string() + " --overwrite", "GITHUB_STEP_SUMMARY=" + summary.string()).code == 1);

    std::string html = slurp(d / "r.html");
    CHECK(html.find("<script>alert") == std::string::npos);
    CHECK(html.find("<img src=x") == std::string::npos);
    CHECK(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;/pre&gt;") != std::string::npos);
    CHECK(html.find("&lt;img src=x onerror=alert(1)&gt;") != std::string::npos);  // the failed job's id
    CHECK(html.find("id=\"graph\"") != std::string::npos);
    CHECK(html.find("http://") == html.find("http://www.w3.org"));  // nothing fetched: SVG namespaces only
    CHECK(html.find("src=\"http") == std::string::npos);

    CHECK(json_value(d / "r.json", "r[\"moa_report\"], r[\"totals\"][\"jobs\"], r[\"totals\"][\"jobs_failed\"], len(r[\"nodes\"])") ==
          "1 2 2 2");
    CHECK(json_value(d / "r.json", "r[\"failures\"][0][\"error_kind\"], *sorted(r[\"nodes\"][1][\"latency_ms\"])") == "pick max p50 p95");

    // JUnit: one test case per job, each failed job a <failure>; control characters gone.
    auto x = moa::test::shell("python3 -c 'import sys,xml.etree.ElementTree as E; t=E.parse(sys.argv[1]).getroot(); "
                              "c=t.findall(\".//testcase\"); print(len(c), len(t.findall(\".//failure\")), c[0].get(\"name\"))' " +
                              (d / "j.xml").string() + " 2>&1");
    CHECK(x.out == "2 2 job <img src=x onerror=alert(1)>\n");
    CHECK(slurp(d / "j.xml").find('\x01') == std::string::npos);

    // The step summary is appended to (one per run), never rewritten.
    std::string md = slurp(summary);
    CHECK(md.rfind("earlier step\n", 0) == 0);
    size_t first = md.find("### moa run:");
    REQUIRE(first != std::string::npos);
    CHECK(md.find("### moa run:", first + 1) != std::string::npos);
    CHECK(md.find("<script>") == std::string::npos);
}

TEST_CASE("a --report file named neither .html nor .json is a usage error and is not written") {
    fs::path d = dir("report-name");
    write(d / "g.moa", kFlaky);
    auto r = moa_run("run " + (d / "g.moa").string() + " --cache off --report " + (d / "r.txt").string() + " q");
    CHECK(r.code == 2);
    CHECK(r.out.find("--report") != std::string::npos);
    CHECK_FALSE(fs::exists(d / "r.txt"));
}

TEST_CASE("a batch stopped by SIGINT still ends with its trace, report and JUnit file whole") {
    fs::path d = dir("signal");
    std::string slow = kFlaky;
    slow.replace(slow.find("first_token = 20ms"), 18, "first_token = 300ms");
    write(d / "g.moa", slow);
    write(d / "in.jsonl", batch(400));
    std::string cmd = "cd " MOA_SOURCE_DIR " && (" MOA_BIN " run " + (d / "g.moa").string() + " --cache off --max-jobs 4 --grace 0 --input " +
                      (d / "in.jsonl").string() + " --output " + (d / "out.jsonl").string() + " --trace " +
                      (d / "t.json").string() + " --report " + (d / "r.html").string() + " --junit " +
                      (d / "j.xml").string() + " 2>/dev/null & p=$!; sleep 1.5; kill -INT $p; wait $p; echo rc=$?)";
    auto r = moa::test::shell(cmd);
    INFO(r.out);
    CHECK(r.out.find("rc=130") != std::string::npos);
    CHECK_FALSE(fs::exists(d / "t.json.partial"));
    auto c = check_trace(d / "t.json");
    INFO(c.out);
    CHECK(c.code == 0);
    CHECK(slurp(d / "r.html").find("</html>") != std::string::npos);
    auto x = moa::test::shell("python3 -c 'import sys,xml.etree.ElementTree as E; E.parse(sys.argv[1])' " + (d / "j.xml").string());
    CHECK(x.code == 0);
}
