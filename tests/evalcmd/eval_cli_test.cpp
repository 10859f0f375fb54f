// `moa eval` end to end, against the real binary and scripted simulated judges: the
// statistics through the whole pipeline, the table of the paper's sim graphs, what a
// rerun pays for, interruption and resume, and the loud failures.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <regex>

#include "batch_util.hpp"

using namespace batch_test;

namespace {

const std::string kSource = MOA_SOURCE_DIR;

// A single-agent graph on a zero-latency simulated backend; `model` tags its answers
// ("[model:hash] ..."), which a scripted judge's marker can prefer.
std::string single(const std::string& model, const std::string& latency = "") {
    std::string lat = latency.empty() ? "" : "  latency {\n    first_token = " + latency + "\n  }\n";
    return "backend sim {\n  kind = sim\n  max_concurrent = 256\n" + lat + "}\n\nagent a {\n  backend = sim\n  model = \"" +
           model + "\"\n}\n\nlayer ask = a\n\noutput answer = ask\n";
}

// A pairwise judge on the simulator whose replies follow `prefer` (a marker string in
// quotes, or first, second, longer, shorter) with probability `p`.
std::string judge(const std::string& prefer, double p) {
    return "backend sim {\n  kind = sim\n  max_concurrent = 256\n  judge {\n    prefer = " + prefer +
           "\n    p = " + std::to_string(p) +
           "\n  }\n}\n\ntemplate compare = \"For {{query}}, which is better? A: {{answer_a}} B: {{answer_b}} "
           "Reply [[A]] or [[B]].\"\n\nagent referee {\n  backend = sim\n  model = \"referee\"\n  user = compare\n}\n\n"
           "layer judge = referee\n\nverdict pairwise {\n  on = judge\n  a = \"[[A]]\"\n  b = \"[[B]]\"\n}\n";
}

std::string queries(int n) {
    std::string s;
    for (int i = 1; i <= n; ++i) s += "{\"id\": " + std::to_string(i) + ", \"prompt\": \"question number " + std::to_string(i) + "\"}\n";
    return s;
}

// One CSV table line's cells (no quoted commas in these tables).
std::vector<std::string> csv_cells(std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // RFC 4180 lines end in CRLF
    std::vector<std::string> out;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) out.push_back(c);
    return out;
}

// The CSV row whose first cell is `name`, as header -> cell.
std::map<std::string, std::string> csv_row(const std::string& csv, const std::string& name) {
    std::stringstream ss(csv);
    std::string header_line, line;
    std::getline(ss, header_line);
    auto header = csv_cells(header_line);
    while (std::getline(ss, line)) {
        auto cells = csv_cells(line);
        if (cells.empty() || cells[0] != name) continue;
        std::map<std::string, std::string> row;
        for (size_t i = 0; i < header.size() && i < cells.size(); ++i) row[header[i]] = cells[i];
        return row;
    }
    return {};
}

struct Summary {
    long cand_backend = -1, cand_cache = -1, reused = -1, judge_backend = -1, judge_cache = -1;
};

// The stderr line "moa eval: candidates: N calls to backends, M answered by the cache,
// K answers reused from DIR; judge: X calls to backends, Y answered by the cache".
Summary summary(const std::string& log) {
    std::smatch m;
    Summary s;
    static const std::regex re("candidates: (\\d+) calls to backends, (\\d+) answered by the cache, (\\d+) answers "
                               "reused from [^;]*; judge: (\\d+) calls to backends, (\\d+) answered by the cache");
    if (std::regex_search(log, m, re)) {
        s = {std::stol(m[1]), std::stol(m[2]), std::stol(m[3]), std::stol(m[4]), std::stol(m[5])};
    }
    return s;
}

struct Split {
    int code = -1;
    std::string out, err;
};

// `moa eval` with stdout and stderr apart (`tag` names the files in `d`).
Split eval_split(const fs::path& d, const std::string& args, const std::string& tag) {
    fs::path out = d / (tag + ".out"), err = d / (tag + ".err");
    Result r = run_shell("{ exec env NO_COLOR=1 " + moa_bin() + " " + args + " >'" + out.string() + "' 2>'" + err.string() + "'; }",
                         d / (tag + ".log"));
    return {r.code, slurp(out), slurp(err)};
}

std::string eval_cmd(const fs::path& d, const std::string& rest) {
    return "eval --cache-db " + (d / "cache.db").string() + " --state-dir " + (d / "state").string() + " --input " +
           (d / "q.jsonl").string() + " " + rest;
}

}  // namespace

TEST_CASE("a judge preferring the candidate with probability 0.7 over 2,000 queries gives a 95% CI containing 70%",
          "[evalcmd][cli]") {
    fs::path d = dir("evalcmd-p07");
    write(d / "q.jsonl", queries(2000));
    write(d / "cand.moa", single("cand"));
    write(d / "base.moa", single("base"));
    write(d / "judge.moa", judge("\"[cand:\"", 0.7));
    Split r = eval_split(d, eval_cmd(d, (d / "cand.moa").string() + " --baseline " + (d / "base.moa").string() +
                                            " --judge " + (d / "judge.moa").string() + " --format csv --seed 3"),
                         "run");
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
    auto row = csv_row(r.out, "cand");
    REQUIRE(!row.empty());
    double low = std::stod(row["win_rate_low"]), high = std::stod(row["win_rate_high"]);
    double value = std::stod(row["win_rate"]);
    CHECK(low <= 70.0);
    CHECK(high >= 70.0);
    CHECK(high - low < 6);  // 2,000 queries: about +-2 points
    CHECK(value == Approx(70).margin(3));
    CHECK(row["unparsable_verdicts"] == "0");
    CHECK(row["queries"] == "2000");
}

TEST_CASE("a judge that always picks the first position gives 50% once positions are swapped", "[evalcmd][cli]") {
    fs::path d = dir("evalcmd-first");
    write(d / "q.jsonl", queries(500));
    write(d / "cand.moa", single("cand"));
    write(d / "base.moa", single("base"));
    write(d / "judge.moa", judge("first", 1));
    Split r = eval_split(d, eval_cmd(d, (d / "cand.moa").string() + " --baseline " + (d / "base.moa").string() +
                                            " --judge " + (d / "judge.moa").string() + " --format csv"),
                         "run");
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
    auto row = csv_row(r.out, "cand");
    REQUIRE(!row.empty());
    CHECK(std::stod(row["win_rate"]) == Approx(50).margin(2));
    CHECK(std::stod(row["lc_win_rate"]) == Approx(50).margin(2));
}

TEST_CASE("rerunning with one more candidate makes only that candidate's calls and its judge calls", "[evalcmd][cli]") {
    fs::path d = dir("evalcmd-grow");
    const int n = 40;
    write(d / "q.jsonl", queries(n));
    for (const char* m : {"base", "a", "b", "c"}) write(d / (std::string(m) + ".moa"), single(m));
    write(d / "judge.moa", judge("longer", 1));
    std::string common = " --baseline " + (d / "base.moa").string() + " --judge " + (d / "judge.moa").string();
    Split first = eval_split(d, eval_cmd(d, (d / "a.moa").string() + " " + (d / "b.moa").string() + common), "first");
    INFO(first.out << first.err);
    REQUIRE(first.code == 0);
    Summary s1 = summary(first.err);
    CHECK(s1.cand_backend == 3 * n);  // base, a, b: one call per query
    CHECK(s1.judge_backend == 2 * 2 * n);  // two candidates, two orders

    Split again = eval_split(
        d, eval_cmd(d, (d / "a.moa").string() + " " + (d / "b.moa").string() + " " + (d / "c.moa").string() + common),
        "again");
    INFO(again.out << again.err);
    REQUIRE(again.code == 0);
    Summary s2 = summary(again.err);
    CHECK(s2.cand_backend == n);         // c only
    CHECK(s2.reused == 3 * n);           // base, a and b from their journals
    CHECK(s2.cand_cache == 0);
    CHECK(s2.judge_backend == 2 * n);    // c's two orders per query
    CHECK(s2.judge_cache == 2 * 2 * n);  // a's and b's verdicts again, free
    for (const char* name : {"base (baseline)", "a ", "b ", "c "}) CHECK(again.out.find(name) != std::string::npos);
}

TEST_CASE("an eval interrupted by SIGINT resumes without repaying a finished call and prints the same verdicts",
          "[evalcmd][cli]") {
    fs::path d = dir("evalcmd-sigint");
    const int n = 300;
    write(d / "q.jsonl", queries(n));
    write(d / "base.moa", single("base"));
    // Slow enough to be caught mid-run: 4 calls at a time, 15 ms each.
    std::string slow = single("slow", "15ms");
    slow.replace(slow.find("max_concurrent = 256"), 20, "max_concurrent = 4");
    write(d / "slow.moa", slow);
    write(d / "judge.moa", judge("\"[slow:\"", 0.6));
    std::string args = (d / "slow.moa").string() + " --baseline " + (d / "base.moa").string() + " --judge " +
                       (d / "judge.moa").string() + " --format csv --grace 0";
    Child c = start(eval_cmd(d, args), d / "first.log");
    // Wait for the baseline's n rows and some of the candidate's in the journals.
    bool reached = false;
    for (int i = 0; i < 5000 && !reached; ++i) {
        size_t rows = 0;
        if (fs::exists(d / "state"))
            for (const auto& e : fs::directory_iterator(d / "state"))
                if (e.path().extension() == ".jsonl") rows += count_lines(e.path());  // the answers journals
        reached = rows >= static_cast<size_t>(n + 30);
        if (!reached) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    REQUIRE(reached);
    kill(c.pid, SIGINT);
    int code = c.wait();
    std::string log1 = slurp(d / "first.log");
    INFO(log1);
    REQUIRE(code == 130);
    CHECK(log1.find("rerun the same command to resume") != std::string::npos);
    long stored = 0;  // every call that finished in the first run
    {
        sqlite3* db = nullptr;
        REQUIRE(sqlite3_open((d / "cache.db").string().c_str(), &db) == SQLITE_OK);
        sqlite3_stmt* st = nullptr;
        REQUIRE(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM responses", -1, &st, nullptr) == SQLITE_OK);
        REQUIRE(sqlite3_step(st) == SQLITE_ROW);
        stored = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    CHECK(stored >= n + 30);
    CHECK(stored < 2 * n);

    Split again = eval_split(d, eval_cmd(d, args), "again");
    std::string log2 = again.err;
    INFO(log2);
    REQUIRE(again.code == 0);
    Summary s = summary(log2);
    CHECK(s.cand_backend == 2 * n - stored);  // only the calls that had not finished
    CHECK(s.reused >= n + 30);
    CHECK(s.reused + s.cand_cache + s.cand_backend == 2 * n);
    CHECK(s.judge_backend == 2 * n);

    // The same verdicts as an eval that was never interrupted.
    fs::path clean = dir("evalcmd-sigint-clean");
    write(clean / "q.jsonl", queries(n));
    for (const char* f : {"base.moa", "slow.moa", "judge.moa"}) fs::copy_file(d / f, clean / f);
    std::string clean_args = (clean / "slow.moa").string() + " --baseline " + (clean / "base.moa").string() +
                             " --judge " + (clean / "judge.moa").string() + " --format csv";
    Split ref = eval_split(clean, eval_cmd(clean, clean_args), "ref");
    REQUIRE(ref.code == 0);
    auto a = csv_row(again.out, "slow"), b = csv_row(ref.out, "slow");
    REQUIRE(!a.empty());
    CHECK(a["win_rate"] == b["win_rate"]);
    CHECK(a["win_rate_low"] == b["win_rate_low"]);
    CHECK(a["lc_win_rate"] == b["lc_win_rate"]);
}

TEST_CASE("an AlpacaEval outputs file as the baseline is judged like the graph that wrote it", "[evalcmd][cli]") {
    fs::path d = dir("evalcmd-outputs");
    write(d / "q.jsonl", queries(60));
    write(d / "cand.moa", single("cand"));
    write(d / "base.moa", single("base"));
    write(d / "judge.moa", judge("\"[cand:\"", 0.7));
    std::string j = " --judge " + (d / "judge.moa").string() + " --format csv";
    Split graph = eval_split(d, eval_cmd(d, (d / "cand.moa").string() + " --baseline " + (d / "base.moa").string() + j +
                                                " --outputs-dir " + (d / "out").string()),
                             "graph");
    REQUIRE(graph.code == 0);
    REQUIRE(fs::exists(d / "out" / "base.json"));
    REQUIRE(fs::exists(d / "out" / "cand.json"));
    Split file = eval_split(d, eval_cmd(d, (d / "cand.moa").string() + " --baseline " + (d / "out" / "base.json").string() + j),
                            "file");
    INFO(file.out << file.err);
    REQUIRE(file.code == 0);
    CHECK(csv_row(file.out, "cand")["win_rate"] == csv_row(graph.out, "cand")["win_rate"]);
    auto base = csv_row(file.out, "base (baseline)");
    CHECK(base["calls_per_query"] == "0");  // a file's answers cost nothing measurable
    CHECK(base["cost_per_query"].empty());
}

TEST_CASE("moa eval refuses loudly what it cannot judge", "[evalcmd][cli]") {
    fs::path d = dir("evalcmd-errors");
    write(d / "q.jsonl", queries(3));
    write(d / "cand.moa", single("cand"));
    write(d / "base.moa", single("base"));
    write(d / "judge.moa", judge("first", 1));
    std::string c = (d / "cand.moa").string(), b = " --baseline " + (d / "base.moa").string();
    std::string j = " --judge " + (d / "judge.moa").string();
    auto go = [&](const std::string& args) { return run(eval_cmd(d, args + " 2>&1"), d / "log"); };

    Result not_judge = go(c + b + " --judge " + (d / "base.moa").string());
    CHECK(not_judge.code == 1);
    CHECK_THAT(not_judge.out, Catch::Contains("is not a judge: it has no `verdict` declaration"));

    Result no_baseline = go(c + j);
    CHECK(no_baseline.code == 2);
    CHECK_THAT(no_baseline.out, Catch::Contains("give --baseline"));

    write(d / "partial.json", R"([{"instruction": "question number 1", "output": "x", "generator": "g"}])");
    Result partial = go((d / "partial.json").string() + b + j);
    CHECK(partial.code == 1);
    CHECK_THAT(partial.out, Catch::Contains("has no answer for 2 of the 3 input queries"));

    write(d / "broken.moa", "backend sim {\n  kind = sim\n  faults {\n    server_error = 1\n  }\n  retry {\n    attempts = 1\n  }\n}\n\n"
                            "agent a {\n  backend = sim\n  model = \"x\"\n}\n\nlayer ask = a\n\noutput answer = ask\n");
    Result broken = go((d / "broken.moa").string() + " " + c + b + j);
    CHECK(broken.code == 1);
    CHECK_THAT(broken.out, Catch::Contains("broken: no answer to any query"));
    CHECK_THAT(broken.out, Catch::Contains("cand"));  // the others' table is still printed

    write(d / "bad.jsonl", "{\"prompt\": \"a\"}\n{\"prompt\": \"\"}\n");
    Result bad = run("eval --cache-db " + (d / "cache.db").string() + " --input " + (d / "bad.jsonl").string() + " " +
                         c + b + j + " 2>&1",
                     d / "log");
    CHECK(bad.code == 1);
    CHECK_THAT(bad.out, Catch::Contains("input line 2: empty prompt"));
}

TEST_CASE("every moa eval flag in --help is documented in docs/cli.md", "[evalcmd][cli]") {
    fs::path d = dir("evalcmd-help");
    Result h = run("eval --help", d / "help.log");
    REQUIRE(h.code == 0);
    std::string doc = slurp(fs::path(kSource) / "docs" / "cli.md");
    size_t at = doc.find("## `moa eval`");
    REQUIRE(at != std::string::npos);
    std::string section = doc.substr(at);
    std::regex flag("(--[a-z][a-z-]+)");
    size_t flags = 0;
    for (std::sregex_iterator it(h.out.begin(), h.out.end(), flag), end; it != end; ++it) {
        std::string f = (*it)[1];
        if (f == "--help") continue;
        ++flags;
        INFO(f);
        CHECK(section.find(f) != std::string::npos);
    }
    CHECK(flags >= 14);
}

namespace {

std::string find_chromium() {
    for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
        Result r = run_shell(std::string("command -v ") + name, fs::temp_directory_path() / "evalcmd-which.log");
        if (r.code == 0 && !r.out.empty()) return r.out.substr(0, r.out.find('\n'));
    }
    return "";
}

}  // namespace

TEST_CASE("moa eval of the paper's sim graphs against one model prints their rows, and its report renders in Chromium",
          "[evalcmd][cli][paper]") {
    fs::path d = dir("evalcmd-paper");
    fs::copy_file(fs::path(kSource) / "examples" / "eval-queries.jsonl", d / "q.jsonl");
    std::string g = kSource + "/graphs/";
    fs::path html = d / "eval.html";
    Split r = eval_split(d, eval_cmd(d, g + "paper-moa-sim.moa " + g + "paper-moa-lite-sim.moa " + g +
                                            "self-moa-sim.moa --baseline " + g + "single-sim.moa --judge " + kSource +
                                            "/graphs/judge-pairwise-sim.moa --report " + html.string()),
                         "paper");
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
    std::vector<std::string> lines;
    std::stringstream ss(r.out);
    for (std::string l; std::getline(ss, l);) lines.push_back(l);
    REQUIRE(lines.size() == 5);  // the header, the baseline, three candidates
    CHECK(lines[0].rfind("candidate", 0) == 0);
    CHECK(lines[1].rfind("single-sim (baseline)", 0) == 0);
    CHECK(lines[2].rfind("paper-moa-sim ", 0) == 0);
    CHECK(lines[3].rfind("paper-moa-lite-sim ", 0) == 0);
    CHECK(lines[4].rfind("self-moa-sim ", 0) == 0);
    for (size_t i = 1; i < lines.size(); ++i) CHECK_THAT(lines[i], Catch::Contains(" 12 "));  // queries
    std::string page = slurp(html);
    CHECK_THAT(page, Catch::Contains("<svg"));
    CHECK_THAT(page, Catch::Contains("paper-moa-lite-sim"));

    std::string chromium = find_chromium();
    if (chromium.empty()) {
        WARN("no chromium installed: the report was not rendered (apt-get install chromium)");
        return;
    }
    Result shown = run_shell(chromium + " --headless --no-sandbox --disable-gpu --enable-logging=stderr --v=0 "
                                        "--dump-dom file://" + html.string(),
                             d / "chromium.log");
    INFO(shown.out);
    CHECK(shown.code == 0);
    CHECK_THAT(shown.out, Catch::Contains("<svg"));
    CHECK(shown.out.find("CONSOLE") == std::string::npos);  // no console message, error or other
    CHECK(shown.out.find("Uncaught") == std::string::npos);
}

TEST_CASE("moa eval --vary evaluates one variant per value, named G[NAME=v], each with its own answers", "[evalcmd][cli]") {
    fs::path d = dir("evalcmd-vary");
    write(d / "q.jsonl", queries(30));
    std::string g = single("cand");
    g.replace(g.find("agent a {"), 9, "param temp = 0.5\n\nagent a {\n  temperature = temp");
    write(d / "g.moa", g);
    write(d / "base.moa", single("base"));
    write(d / "judge.moa", judge("longer", 1));
    std::string rest = " --baseline " + (d / "base.moa").string() + " --judge " + (d / "judge.moa").string() + " --format csv";
    Split r = eval_split(d, eval_cmd(d, (d / "g.moa").string() + " --vary temp=0.1,0.9" + rest + " --outputs-dir " + (d / "out").string()),
                         "vary");
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
    CHECK(!csv_row(r.out, "g[temp=0.1]").empty());
    CHECK(!csv_row(r.out, "g[temp=0.9]").empty());
    CHECK(csv_row(r.out, "g").empty());
    Summary s = summary(r.err);
    CHECK(s.cand_backend == 3 * 30);  // the baseline and two variants: different requests
    CHECK(slurp(d / "out" / "g[temp=0.1].json") != slurp(d / "out" / "g[temp=0.9].json"));

    Split p = eval_split(d, eval_cmd(d, (d / "g.moa").string() + " --param temp=0.9" + rest), "param");
    INFO(p.out << p.err);
    REQUIRE(p.code == 0);
    CHECK(csv_row(p.out, "g")["win_rate"] == csv_row(r.out, "g[temp=0.9]")["win_rate"]);
    CHECK(summary(p.err).cand_backend == 0);  // the same graph as the variant: all reused
}

TEST_CASE("a score judge scores each candidate and the baseline, with a mean and its interval", "[evalcmd][cli]") {
    fs::path d = dir("evalcmd-score");
    write(d / "q.jsonl", queries(40));
    write(d / "cand.moa", single("cand"));
    write(d / "base.moa", single("base"));
    Split r = eval_split(d, eval_cmd(d, (d / "cand.moa").string() + " --baseline " + (d / "base.moa").string() +
                                            " --judge " + kSource + "/graphs/judge-score-sim.moa --format csv"),
                         "score");
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
    for (const char* name : {"base (baseline)", "cand"}) {
        auto row = csv_row(r.out, name);
        REQUIRE(!row.empty());
        CHECK(row["win_rate"].empty());
        double score = std::stod(row["score"]);
        CHECK(score >= 1);
        CHECK(score <= 10);
        CHECK(std::stod(row["score_low"]) <= score);
        CHECK(std::stod(row["score_high"]) >= score);
    }
}
