// End-to-end tests of the `moa` executable: exit codes, output formats, and the
// repository's own graphs.
#include <catch2/catch.hpp>

#include "shell.hpp"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

namespace fs = std::filesystem;

namespace {

using moa::test::Run;

Run run(const std::string& args) {
    std::string cmd = "cd " MOA_SOURCE_DIR " && NO_COLOR=1 " MOA_BIN " " + args + " 2>&1";
    moa::test::Run r = moa::test::shell(cmd);
    return r;
}

fs::path temp_file(const std::string& name, const std::string& text) {
    fs::path dir = fs::temp_directory_path() / "moa-cli-test";
    fs::create_directories(dir);
    fs::path p = dir / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
}

std::vector<std::string> repo_graphs() {
    std::vector<std::string> files;
    for (const char* dir : {"graphs", "examples"}) {
        fs::path root = fs::path(MOA_SOURCE_DIR) / dir;
        if (!fs::exists(root)) continue;
        for (const auto& e : fs::directory_iterator(root))
            if (e.path().extension() == ".moa") files.push_back(fs::relative(e.path(), MOA_SOURCE_DIR).string());
    }
    std::sort(files.begin(), files.end());
    return files;
}

}  // namespace

TEST_CASE("moa --version and --help exit 0") {
    auto v = run("--version");
    CHECK(v.code == 0);
    CHECK(v.out.rfind("moa ", 0) == 0);
    for (const char* sub : {"", "check ", "graph ", "fmt "}) {
        auto h = run(std::string(sub) + "--help");
        INFO(sub);
        CHECK(h.code == 0);
        CHECK(h.out.find("Usage") != std::string::npos);
    }
}

TEST_CASE("usage errors exit 2") {
    CHECK(run("").code == 2);
    CHECK(run("frobnicate").code == 2);
    CHECK(run("check").code == 2);
    CHECK(run("check does/not/exist.moa").code == 2);
    CHECK(run("graph graphs/paper-moa-sim.moa --format png").code == 2);
}

TEST_CASE("moa check: 0 valid, 1 errors, warnings fail only with --werror") {
    CHECK(run("check graphs/paper-moa-sim.moa").code == 0);
    auto bad = temp_file("bad.moa", "agent a { model = 1 }\n");
    auto r = run("check " + bad.string());
    CHECK(r.code == 1);
    CHECK(r.out.find("bad.moa:1:19: error: 'model' expects a string, found a number") != std::string::npos);
    CHECK(r.out.find("error: agent 'a' has no 'backend'") != std::string::npos);
    auto warn = temp_file("warn.moa",
                          "backend s { kind = sim }\nagent a { backend = s  model = \"m\" }\n"
                          "agent unused { backend = s  model = \"m\" }\nlayer l = a\noutput o = l\n");
    auto w = run("check " + warn.string());
    CHECK(w.code == 0);
    CHECK(w.out.find("warning: agent 'unused' is never used") != std::string::npos);
    CHECK(run("check --werror " + warn.string()).code == 1);
}

TEST_CASE("moa check --format github and json") {
    auto bad = temp_file("gh.moa", "agent a {\n  model = 1\n}\n");
    auto gh = run("check --format github " + bad.string());
    CHECK(gh.code == 1);
    CHECK(gh.out.find("::error file=" + bad.string() + ",line=2,col=11::'model' expects a string, found a number\n") !=
          std::string::npos);
    auto js = run("check --format json " + bad.string());
    CHECK(js.code == 1);
    CHECK(js.out.find("{\"severity\":\"error\",\"file\":\"" + bad.string() +
                      "\",\"line\":2,\"column\":11,\"message\":\"'model' expects a string, found a number\"}") !=
          std::string::npos);
}

TEST_CASE("moa graph renders text, json, dot and mermaid") {
    auto t = run("graph graphs/paper-moa-sim.moa");
    CHECK(t.code == 0);
    CHECK(t.out.find("output answer = aggregate.qwen110\n") != std::string::npos);
    auto j = run("graph --format json graphs/paper-moa-sim.moa");
    CHECK(j.code == 0);
    CHECK(j.out.find("\"outputs\": [") != std::string::npos);
    auto d = run("graph --format dot graphs/paper-moa-sim.moa");
    CHECK(d.code == 0);
    CHECK(d.out.rfind("digraph moa {", 0) == 0);
    CHECK(d.out.find("rank=same") != std::string::npos);
    CHECK(d.out.find("Qwen/Qwen1.5-110B-Chat") != std::string::npos);
    auto m = run("graph --format mermaid graphs/paper-moa-sim.moa");
    CHECK(m.code == 0);
    CHECK(m.out.rfind("flowchart TD", 0) == 0);
    auto bad = temp_file("g.moa", "agent a {}\n");
    CHECK(run("graph " + bad.string()).code == 1);
}

TEST_CASE("the DOT output renders with graphviz when it is installed") {
    if (std::system("command -v dot >/dev/null 2>&1") != 0) {
        WARN("graphviz not installed; DOT rendering not exercised");
        return;
    }
    fs::path png = fs::temp_directory_path() / "moa-cli-test" / "paper.png";
    fs::create_directories(png.parent_path());
    auto r = run("graph --format dot graphs/paper-moa-sim.moa | dot -Tpng -o " + png.string());
    CHECK(r.code == 0);
    CHECK(fs::file_size(png) > 10000);
}

TEST_CASE("moa fmt --check and in-place formatting") {
    auto f = temp_file("fmt.moa", "agent a{model=\"m\"}\n");
    auto c = run("fmt --check " + f.string());
    CHECK(c.code == 1);
    CHECK(c.out.find("not formatted") != std::string::npos);
    CHECK(run("fmt " + f.string()).code == 0);
    CHECK(run("fmt --check " + f.string()).code == 0);
    std::ifstream in(f);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    CHECK(text == "agent a {\n  model = \"m\"\n}\n");
    auto bad = temp_file("fmtbad.moa", "agent a { model = }\n");
    CHECK(run("fmt " + bad.string()).code == 1);
}

TEST_CASE("every graph and example in the repository checks clean and is formatted") {
    auto files = repo_graphs();
    REQUIRE_FALSE(files.empty());
    for (const auto& f : files) {
        INFO(f);
        auto c = run("check --werror " + f);
        INFO(c.out);
        CHECK(c.code == 0);
        CHECK(run("fmt --check " + f).code == 0);
    }
    CHECK(run("fmt --check stdlib/moa.moa").code == 0);
}

TEST_CASE("moa run: one question streams the paper MoA's answer (sim backend)") {
    auto r = run("run --cache off graphs/paper-moa-sim.moa --set sim.latency={first_token=1ms} \"What is MoA?\"");
    CHECK(r.code == 0);
    // the aggregator (Qwen1.5-110B) cites the six refined answers
    CHECK(r.out.rfind("[qwen1.5-110b-chat:", 0) == 0);
    CHECK(r.out.find("synthesis of 6 responses") != std::string::npos);
}

TEST_CASE("moa run: a batch keeps input order, ids, and turns bad lines into error records") {
    auto in = temp_file("in.jsonl",
                        "{\"id\":\"first\",\"prompt\":\"one\"}\n"
                        "this is not json\n"
                        "{\"instruction\":\"three\"}\n"
                        "{\"id\":42}\n");
    auto out = fs::temp_directory_path() / "moa-cli-test" / "out.jsonl";
    fs::remove(out);  // an existing output would be resumed
    auto r = run("run --cache off graphs/paper-moa-sim.moa --set sim.latency={first_token=1ms} --no-progress --input " + in.string() +
                 " --output " + out.string());
    CHECK(r.code == 1);  // some jobs failed
    CHECK(r.out.find("jobs: 2 ok, 2 failed") != std::string::npos);
    std::ifstream f(out);
    std::vector<std::string> lines;
    for (std::string line; std::getline(f, line);) lines.push_back(line);
    REQUIRE(lines.size() == 4);
    // Rows are keyed by input line; a line without an id has a null id (see docs/cli.md).
    CHECK(lines[0].rfind("{\"id\":\"first\",\"line\":1,\"ok\":true,\"output\":\"[qwen1.5-110b-chat:", 0) == 0);
    CHECK(lines[1].rfind("{\"id\":null,\"line\":2,\"ok\":false,\"error\":\"input line 2: not valid JSON\",\"node\":\"\",\"fingerprint\":\"", 0) == 0);
    CHECK(lines[2].rfind("{\"id\":null,\"line\":3,\"ok\":true,", 0) == 0);
    CHECK(lines[3].rfind("{\"id\":\"42\",\"line\":4,\"ok\":false,\"error\":\"input line 4: no \\\"prompt\\\" (or \\\"instruction\\\") field\",\"node\":\"\",", 0) == 0);
}

TEST_CASE("moa run: alpaca-eval output and --emit-all") {
    auto in = temp_file("alpaca.jsonl", "{\"instruction\":\"Say \\\"hi\\\"\"}\n{\"instruction\":\"two\"}\n");
    auto r = run("run --cache off graphs/paper-moa-sim.moa --set sim.latency={first_token=1ms} --no-progress -q --format alpaca-eval "
                 "--generator paper-moa --input " + in.string());
    CHECK(r.code == 0);
    CHECK(r.out.rfind("[\n {\"instruction\":\"Say \\\"hi\\\"\",\"output\":\"[qwen1.5-110b-chat:", 0) == 0);
    CHECK(r.out.find("\"generator\":\"paper-moa\"") != std::string::npos);
    CHECK(r.out.find("\n]\n") != std::string::npos);
    auto all = run("run --cache off graphs/paper-moa-sim.moa --set sim.latency={first_token=1ms} --emit-all --format jsonl \"q\"");
    CHECK(all.code == 0);
    CHECK(all.out.find("\"node\":\"propose.dbrx\"") != std::string::npos);
    CHECK(all.out.find("\"node\":\"refine.wizardlm\"") != std::string::npos);
}

TEST_CASE("moa run: --set errors point into the argument") {
    auto r = run("run --cache off graphs/paper-moa-sim.moa --set qwen110.temperature=3 \"q\"");
    CHECK(r.code == 1);
    CHECK(r.out.find("--set:1:21: error: 'temperature' must be in [0, 2], found 3\n  qwen110.temperature=3\n"
                     "                      ^\n") != std::string::npos);
    auto u = run("run --cache off graphs/paper-moa-sim.moa --set qwen11.temperature=1 \"q\"");
    CHECK(u.code == 1);
    CHECK(u.out.find("--set:1:1: error: unknown backend or agent 'qwen11'; did you mean 'qwen110'?") != std::string::npos);
    CHECK(run("run --cache off graphs/paper-moa-sim.moa").code == 2);
}

namespace {
// Starts moa in the background; returns its pid.
std::string run_in_background(const std::string& args, const std::string& log) {
    std::string cmd = "cd " MOA_SOURCE_DIR " && { NO_COLOR=1 " MOA_BIN " " + args + " > " + log + " 2>&1 & echo $!; }";
    FILE* p = popen(cmd.c_str(), "r");
    char buf[32] = {0};
    if (!fgets(buf, sizeof buf, p)) buf[0] = 0;
    pclose(p);
    std::string pid(buf);
    while (!pid.empty() && pid.back() == '\n') pid.pop_back();
    return pid;
}
long entries_in(const std::string& db) {
    auto s = run("cache stats --cache-db " + db);
    size_t p = s.out.find("entries: ");
    return p == std::string::npos ? -1 : std::atol(s.out.c_str() + p + 9);
}
long calls_in(const std::string& summary) {
    size_t p = summary.find("\ncalls: ");
    return p == std::string::npos ? -1 : std::atol(summary.c_str() + p + 8);
}
}  // namespace

TEST_CASE("moa run: a batch killed with kill -9 resumes: each id once, finished calls not paid again") {
    fs::path dir = fs::temp_directory_path() / "moa-cli-test" / "resume";
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::string in = (dir / "in.jsonl").string(), out = (dir / "out.jsonl").string(), db = (dir / "cache.db").string();
    {
        std::ofstream f(in);
        for (int i = 1; i <= 300; ++i) f << "{\"id\":\"q" << i << "\",\"prompt\":\"question number " << i << "\"}\n";
    }
    // ~13 calls per job at 10 ms, 16 at a time: about 2.5 s in all; kill it after 1 s.
    std::string args = "run graphs/paper-moa-sim.moa --set sim.latency={first_token=10ms} --set sim.max_concurrent=16 "
                       "--no-progress --cache-db " + db + " --input " + in + " --output " + out;
    auto pid = run_in_background(args, (dir / "first.log").string());
    REQUIRE_FALSE(pid.empty());
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    REQUIRE(std::system(("kill -9 " + pid).c_str()) == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    long cached = entries_in(db);
    size_t lines_before = 0;
    {
        std::ifstream f(out);
        for (std::string l; std::getline(f, l);) ++lines_before;
    }
    INFO("cached after the kill: " << cached << ", output lines: " << lines_before);
    REQUIRE(cached > 0);
    REQUIRE(cached < 300 * 13);
    auto rerun = run(args);
    CHECK(rerun.code == 0);
    // The rerun pays only for the calls the first run had not finished.
    CHECK(calls_in(rerun.out) == 300 * 13 - cached);
    std::ifstream f(out);
    std::map<std::string, int> seen;
    for (std::string l; std::getline(f, l);) {
        CHECK(l.rfind("{\"id\":\"q", 0) == 0);
        CHECK(l.back() == '}');
        CHECK(l.find("\"ok\":true") != std::string::npos);
        seen[l.substr(7, l.find('"', 7) - 7)]++;
    }
    CHECK(seen.size() == 300);
    for (const auto& [id, n] : seen) CHECK(n == 1);
}

TEST_CASE("moa cache stats, export, import and prune") {
    fs::path dir = fs::temp_directory_path() / "moa-cli-test" / "cachecmd";
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::string db = (dir / "a.db").string(), db2 = (dir / "b.db").string(), file = (dir / "export.jsonl").string();
    CHECK(run("run graphs/paper-moa-sim.moa --set sim.latency={first_token=1ms} --cache-db " + db + " \"q\"").code == 0);
    auto stats = run("cache stats --cache-db " + db);
    CHECK(stats.code == 0);
    CHECK(stats.out.find("entries: 13\n") != std::string::npos);
    CHECK(stats.out.find("  Qwen/Qwen1.5-110B-Chat: 3\n") != std::string::npos);
    CHECK(run("cache export " + file + " --cache-db " + db).out == "exported 13 entries to " + file + "\n");
    CHECK(run("cache import " + file + " --cache-db " + db2).out == "imported 13 entries into " + db2 + "\n");
    // The imported cache replays the run: every call a hit, no backend call.
    auto in = temp_file("cachecmd-in.jsonl", "{\"prompt\":\"q\"}\n");
    auto replay = run("run graphs/paper-moa-sim.moa --set sim.latency={first_token=1ms} --cache replay --cache-db " + db2 +
                      " --no-progress --input " + in.string());
    CHECK(replay.code == 0);
    CHECK(replay.out.find("calls: 0 ") != std::string::npos);
    CHECK(replay.out.find("cache: 13 hits, 0 misses") != std::string::npos);
    CHECK(run("cache prune --model databricks/dbrx-instruct --cache-db " + db2).out == "pruned 2 entries\n");
    CHECK(run("cache stats --cache-db " + db2).out.find("entries: 11\n") != std::string::npos);
    CHECK(run("cache prune --cache-db " + db2).code == 2);
}

TEST_CASE("a failed write to stdout is an error in every command: exit 1, 'writing stdout failed' and the reason") {
    fs::path g = temp_file("stdout-full.moa", "backend sim {\n  kind = sim\n}\n\nagent a {\n  backend = sim\n  model = \"m\"\n}\n\nlayer ask = a\n\noutput answer = ask\n");
    std::string f = g.string();
    for (std::string args : {"run " + f + " --cache off hi", "run " + f + " --cache off --format jsonl hi", "graph " + f + " --format dot",
                             "check --format json " + f, "fmt --stdout " + f, std::string("--help"), std::string("run --help")}) {
        INFO(args);
        auto r = run(args + " 2>&1 >/dev/full; #");  // stderr to the pipe, stdout to the full device
        CHECK(r.code == 1);
        CHECK(r.out.find("writing stdout failed: No space left on device") != std::string::npos);
    }
}
