// Batch output files: never the input, one writer, resume trusts only verified rows
// of the same graph, failed writes stop the run, AlpacaEval output is only answers.
#include <catch2/catch.hpp>

#include <set>

#include "batch_util.hpp"

using namespace batch_test;

namespace {

std::string prompts(int n, int ids) {
    std::string s;
    for (int i = 1; i <= n; ++i)
        s += "{\"id\":" + std::to_string(ids ? i % ids : i) + ",\"prompt\":\"q" + std::to_string(i) + "\"}\n";
    return s;
}

std::string moa_run(const fs::path& d, const std::string& more) {
    return "run " + (d / "g.moa").string() + " --cache off --no-progress " + more;
}

}  // namespace

TEST_CASE("an --output naming the input (same path, another spelling, a hard link, a symlink) is refused, the input is kept") {
    fs::path d = dir("same-file");
    write(d / "g.moa", kOneAgentGraph);
    std::string text = prompts(3, 0);
    write(d / "in.jsonl", text);
    fs::create_hard_link(d / "in.jsonl", d / "hard.jsonl");
    fs::create_symlink(d / "in.jsonl", d / "sym.jsonl");
    fs::create_directories(d / "sub");
    for (std::string out : {(d / "in.jsonl").string(), (d / "sub" / ".." / "in.jsonl").string(), (d / "hard.jsonl").string(),
                            (d / "sym.jsonl").string()}) {
        for (const char* fmt : {"jsonl", "alpaca-eval", "text"}) {
            INFO(out << " " << fmt);
            auto r = run(moa_run(d, "--input " + (d / "in.jsonl").string() + " --output " + out + " --format " + fmt),
                         d / "log");
            CHECK(r.code == 2);
            CHECK(r.out.find("is the input file") != std::string::npos);
            CHECK(slurp(d / "in.jsonl") == text);
        }
    }
    // stdin redirected from the output file
    auto r = run(moa_run(d, "--input - --output " + (d / "hard.jsonl").string() + " < " + (d / "in.jsonl").string()), d / "log");
    CHECK(r.code == 2);
    CHECK(slurp(d / "in.jsonl") == text);
}

TEST_CASE("rows are keyed by input line: duplicate ids are warned about and each answered, a row without an id has a null id") {
    fs::path d = dir("ids");
    write(d / "g.moa", kOneAgentGraph);
    write(d / "in.jsonl", "{\"id\":3,\"prompt\":\"a\"}\n\n{\"prompt\":\"b\"}\n{\"id\":\"3\",\"prompt\":\"c\"}\n");
    auto r = run(moa_run(d, "--input " + (d / "in.jsonl").string() + " --output " + (d / "out.jsonl").string()), d / "log");
    CHECK(r.code == 0);
    CHECK(r.out.find("warning: input line 4 repeats the id \"3\"") != std::string::npos);
    std::vector<Row> rows;
    std::string why;
    REQUIRE(read_rows(d / "out.jsonl", rows, false, why));
    REQUIRE(rows.size() == 3);
    CHECK((rows[0].line == 1 && rows[0].has_id && rows[0].id == "3"));
    CHECK((rows[1].line == 3 && !rows[1].has_id));  // not "3": generated ids never collide
    CHECK((rows[2].line == 4 && rows[2].id == "3"));
}

TEST_CASE("a second moa run on the same --output fails at once and the first one's file stays valid") {
    fs::path d = dir("lock");
    write(d / "g.moa", kOneAgentGraph);
    write(d / "in.jsonl", prompts(60, 0));
    std::string args = moa_run(d, "--max-jobs 2 --input " + (d / "in.jsonl").string() + " --output " + (d / "out.jsonl").string());
    Child first = start(args, d / "first.log");
    REQUIRE(wait_rows(first, d / "out.jsonl", 1));
    auto second = run(args, d / "second.log");
    CHECK(second.code == 1);
    CHECK(second.out.find("is being written by another moa run (pid " + std::to_string(first.pid) + ")") != std::string::npos);
    CHECK(first.wait() == 0);
    std::vector<Row> rows;
    std::string why;
    REQUIRE(read_rows(d / "out.jsonl", rows, false, why));
    std::set<uint64_t> lines;
    for (const auto& r : rows) CHECK(lines.insert(r.line).second);
    CHECK(lines.size() == 60);
}

TEST_CASE("resume runs again the lines whose rows are torn, not valid JSON, or only start like a result") {
    fs::path d = dir("validate");
    write(d / "g.moa", kOneAgentGraph);
    write(d / "in.jsonl", prompts(6, 0));
    std::string args = moa_run(d, "--input " + (d / "in.jsonl").string() + " --output " + (d / "out.jsonl").string());
    REQUIRE(run(args, d / "log").code == 0);
    std::vector<Row> rows;
    std::string why;
    REQUIRE(read_rows(d / "out.jsonl", rows, false, why));
    // Damage it the way interleaved writers and a crash do.
    std::string all = slurp(d / "out.jsonl");
    std::vector<std::string> lines;
    std::istringstream ss(all);
    for (std::string l; std::getline(ss, l);) lines.push_back(l);
    REQUIRE(lines.size() == 6);
    lines[1] = lines[1].substr(0, 40);                                    // cut short
    lines[2] = "{\"id\":\"3\",\"line\":3,\"ok\":true" + lines[3].substr(10);  // looks like a result
    lines[4] = "garbage";
    std::string damaged;
    for (const auto& l : lines) damaged += l + "\n";
    damaged += lines[5].substr(0, 30);  // a torn last row
    write(d / "out.jsonl", damaged);
    auto r = run(args, d / "log");
    CHECK(r.code == 0);
    CHECK(r.out.find("dropped 3 row(s) that are not complete results (first: line 2 of the file)") != std::string::npos);
    CHECK(r.out.find("cut off a partial last row") != std::string::npos);
    rows.clear();
    REQUIRE(read_rows(d / "out.jsonl", rows, false, why));
    std::map<uint64_t, int> seen;
    for (const auto& row : rows) seen[row.line]++;
    CHECK(seen.size() == 6);
    for (const auto& [line, n] : seen) CHECK(n == 1);
    CHECK(r.out.find("jobs: 3 ok, 0 failed") != std::string::npos);  // lines 2, 3 and 5 ran again
}

TEST_CASE("resume refuses an output written by another graph or settings, --overwrite starts it again") {
    fs::path d = dir("fingerprint");
    write(d / "g.moa", kOneAgentGraph);
    std::string other = kOneAgentGraph;
    other.replace(other.find("\"m-a\""), 5, "\"m-z\"");
    write(d / "other.moa", other);
    write(d / "in.jsonl", prompts(4, 0));
    std::string io = " --cache off --no-progress --input " + (d / "in.jsonl").string() + " --output " + (d / "out.jsonl").string();
    write(d / "in.jsonl", prompts(2, 0));
    REQUIRE(run("run " + (d / "g.moa").string() + io, d / "log").code == 0);
    write(d / "in.jsonl", prompts(4, 0));
    auto r = run("run " + (d / "other.moa").string() + io, d / "log");
    CHECK(r.code == 2);
    CHECK(r.out.find("holds results of a different graph or settings") != std::string::npos);
    CHECK(r.out.find("--overwrite") != std::string::npos);
    CHECK(count_lines(d / "out.jsonl") == 2);  // untouched
    // Operational settings (latency, faults, timeouts, limits) are not the graph's answers.
    CHECK(run("run " + (d / "g.moa").string() + io + " --set sim.latency={first_token=1ms}", d / "log").code == 0);
    CHECK(count_lines(d / "out.jsonl") == 4);
    auto o = run("run " + (d / "other.moa").string() + io + " --overwrite", d / "log");
    CHECK(o.code == 0);
    std::vector<Row> rows;
    std::string why;
    REQUIRE(read_rows(d / "out.jsonl", rows, false, why));
    CHECK(rows.size() == 4);
    for (const auto& row : rows) CHECK(row.output.rfind("[m-z:", 0) == 0);
    // a file that is not a moa output at all is left alone
    write(d / "notes.jsonl", "{\"my\":\"notes\"}\n");
    auto n = run("run " + (d / "g.moa").string() + " --cache off --input " + (d / "in.jsonl").string() + " --output " +
                     (d / "notes.jsonl").string(),
                 d / "log");
    CHECK(n.code == 2);
    CHECK(n.out.find("is not a moa result file") != std::string::npos);
    CHECK(slurp(d / "notes.jsonl") == "{\"my\":\"notes\"}\n");
}

TEST_CASE("a failed write stops the batch at once, naming the path and the reason") {
    fs::path d = dir("write-error");
    write(d / "g.moa", kOneAgentGraph);
    write(d / "in.jsonl", prompts(200, 0));
    auto r = run(moa_run(d, "--max-jobs 2 --input " + (d / "in.jsonl").string() + " --output /dev/full"), d / "log");
    CHECK(r.code == 1);
    CHECK(r.out.find("writing /dev/full failed: No space left on device") != std::string::npos);
    size_t p = r.out.find("jobs started");
    REQUIRE(p != std::string::npos);
    long started = std::atol(r.out.c_str() + r.out.rfind('(', p) + 1);
    CHECK(started < 20);  // not the 200 calls of the whole input
    auto m = run(moa_run(d, "--input " + (d / "in.jsonl").string() + " --output " + (d / "no" / "such" / "out.jsonl").string()),
                 d / "log");
    CHECK(m.code == 1);
    CHECK(m.out.find((d / "no" / "such" / "out.jsonl").string()) != std::string::npos);
    CHECK(m.out.find("No such file or directory") != std::string::npos);
}

TEST_CASE("alpaca-eval output holds only answers, keeps the input's dataset, and is valid JSON") {
    fs::path d = dir("alpaca");
    write(d / "g.moa", kOneAgentGraph);
    write(d / "in.jsonl", "{\"instruction\":\"a\",\"dataset\":\"helpful_base\"}\n{\"instruction\":\"b\"}\n{\"instruction\":\"\"}\n");
    auto r = run(moa_run(d, "--format alpaca-eval --generator g1 --input " + (d / "in.jsonl").string() + " --output " +
                                (d / "out.json").string()),
                 d / "log");
    CHECK(r.code == 1);  // line 3 failed
    CHECK(r.out.find("input line 3 failed (not written as an answer): input line 3: empty prompt") != std::string::npos);
    std::vector<Entry> entries;
    std::string why;
    REQUIRE(read_alpaca(d / "out.json", entries, why));
    REQUIRE(entries.size() == 2);
    CHECK((entries[0].instruction == "a" && entries[0].dataset == "helpful_base" && entries[0].generator == "g1"));
    CHECK((entries[1].instruction == "b" && entries[1].dataset == "moa"));
    // to stdout as well
    auto s = run(moa_run(d, "-q --format alpaca-eval --input " + (d / "in.jsonl").string()), d / "log");
    std::string json = s.out.substr(s.out.find('['));
    write(d / "stdout.json", json);
    entries.clear();
    REQUIRE(read_alpaca(d / "stdout.json", entries, why));
    CHECK(entries.size() == 2);
}

TEST_CASE("with several outputs the graph file's own answers first, --output-node picks, a note names the choice") {
    fs::path d = dir("outputs");
    std::string g = kOneAgentGraph;
    g.replace(g.find("output answer = ask"), 19, "agent b {\n  backend = sim\n  model = \"m-b\"\n}\n\nlayer two = b\n\n"
                                                   "output zeta = ask\noutput alpha = two");
    write(d / "g.moa", g);
    auto r = run(moa_run(d, "--format jsonl \"q\""), d / "log");
    CHECK(r.code == 0);
    CHECK(r.out.find("note: the graph has 2 outputs (zeta, alpha); answering with 'zeta'") != std::string::npos);
    CHECK(r.out.find("\"output\":\"[m-a:") != std::string::npos);
    auto p = run(moa_run(d, "--output-node alpha --format jsonl \"q\""), d / "log");
    CHECK(p.code == 0);
    CHECK(p.out.find("\"output\":\"[m-b:") != std::string::npos);
    auto u = run(moa_run(d, "--output-node beta \"q\""), d / "log");
    CHECK(u.code == 2);
    CHECK(u.out.find("its outputs are: zeta alpha") != std::string::npos);
    // an imported topology's output comes after the file's own
    write(d / "lite.moa", "import \"moa.moa\"\n\n" + std::string(kOneAgentGraph).substr(0, std::string(kOneAgentGraph).find("layer ask")) +
                              "agent b {\n  backend = sim\n  model = \"m-b\"\n}\n\n"
                              "use moa_lite(proposers = [a, b], aggregator = a) as lite\n\nlayer mine = b\n\noutput result = mine\n");
    auto l = run("run " + (d / "lite.moa").string() + " --cache off --format jsonl \"q\"", d / "log");
    CHECK(l.code == 0);
    CHECK(l.out.find("answering with 'result'") != std::string::npos);
    CHECK(l.out.find("\"output\":\"[m-b:") != std::string::npos);
}

TEST_CASE("resume streams the output: a large output file is not held in memory") {
    fs::path d = dir("big");
    write(d / "g.moa", kOneAgentGraph);
    const int n = 200000;
    {
        std::ofstream in(d / "in.jsonl");
        for (int i = 1; i <= n; ++i) in << "{\"prompt\":\"q\"}\n";
    }
    write(d / "one.jsonl", "{\"prompt\":\"q\"}\n");
    REQUIRE(run(moa_run(d, "--input " + (d / "one.jsonl").string() + " --output " + (d / "out.jsonl").string()), d / "log").code == 0);
    std::string row = slurp(d / "out.jsonl");
    std::string pad(400, 'x');
    {
        std::ofstream out(d / "out.jsonl", std::ios::binary);
        for (int i = 1; i <= n; ++i)
            out << "{\"id\":null,\"line\":" << i << ",\"ok\":true,\"output\":\"" << pad << "\""
                << row.substr(row.find(",\"fingerprint\""));
    }
    auto size_mb = static_cast<long>(fs::file_size(d / "out.jsonl") >> 20);
    REQUIRE(size_mb > 80);
    auto r = run(moa_run(d, "--input " + (d / "in.jsonl").string() + " --output " + (d / "out.jsonl").string()), d / "log");
    CHECK(r.code == 0);
    CHECK(r.out.find("200000 input lines already answered") != std::string::npos);
    INFO("output " << size_mb << " MB, peak RSS " << r.max_rss_kb / 1024 << " MB");
#if !defined(__SANITIZE_ADDRESS__)
    CHECK(r.max_rss_kb / 1024 < size_mb / 2);
#endif
}

TEST_CASE("a question with --input is a usage error, an empty prompt in a batch is a row error naming its line") {
    fs::path d = dir("usage");
    write(d / "g.moa", kOneAgentGraph);
    write(d / "in.jsonl", "{\"prompt\":\"a\"}\n\n   \n{\"prompt\":\"  \"}\n");
    auto both = run(moa_run(d, "\"hi\" --input " + (d / "in.jsonl").string()), d / "log");
    CHECK(both.code == 2);
    CHECK(both.out.find("not both") != std::string::npos);
    CHECK(run(moa_run(d, "\"\""), d / "log").code == 2);
    auto r = run(moa_run(d, "--input " + (d / "in.jsonl").string() + " --output " + (d / "out.jsonl").string()), d / "log");
    CHECK(r.code == 1);
    std::string out = slurp(d / "out.jsonl");
    CHECK(count_lines(d / "out.jsonl") == 2);  // blank lines are not jobs
    CHECK(out.find("\"line\":4,\"ok\":false,\"error\":\"input line 4: empty prompt\"") != std::string::npos);
}

TEST_CASE("every moa run flag in --help is documented in docs/cli.md") {
    fs::path d = dir("help");
    auto h = run("run --help", d / "log");
    CHECK(h.code == 0);
    std::string doc = slurp(fs::path(MOA_SOURCE_DIR) / "docs" / "cli.md");
    std::set<std::string> flags;
    for (size_t p = h.out.find("--"); p != std::string::npos; p = h.out.find("--", p + 2)) {
        size_t e = p + 2;
        while (e < h.out.size() && (std::isalnum(static_cast<unsigned char>(h.out[e])) || h.out[e] == '-')) ++e;
        if (e > p + 2) flags.insert(h.out.substr(p, e - p));
    }
    flags.erase("--help");
    CHECK(flags.size() >= 15);
    for (const auto& flag : flags) {
        INFO(flag);
        // a row of the flag table: "| `--flag" or "| `-x, --flag"
        CHECK((doc.find("| `" + flag) != std::string::npos || doc.find(", " + flag) != std::string::npos));
    }
}

TEST_CASE("the progress bar counts non-blank lines, starts a resumed run at the rows already there, and tells running from queued calls") {
    if (!fs::exists("/usr/bin/script")) {
        WARN("no /usr/bin/script to give moa a terminal: skipped");
        return;
    }
    fs::path d = dir("progress");
    write(d / "g.moa", kOneAgentGraph);
    write(d / "one.jsonl", "{\"prompt\":\"a\"}\n");
    std::string in;
    for (int i = 0; i < 30; ++i) in += "{\"prompt\":\"q" + std::to_string(i) + "\"}\n\n";
    in.replace(0, in.find('\n'), "{\"prompt\":\"a\"}");
    write(d / "in.jsonl", in);  // 30 jobs on 60 lines, the first the same as one.jsonl's
    std::string out = (d / "out.jsonl").string();
    REQUIRE(run(moa_run(d, "--input " + (d / "one.jsonl").string() + " --output " + out), d / "log").code == 0);
    // `script` runs moa on a pseudo-terminal, where the bar is drawn.
    std::string cmd = "/usr/bin/script -qfec \"" + moa_bin() + " " +
                      "run " + (d / "g.moa").string() + " --cache off --max-jobs 4 --set sim.max_concurrent=1 --input " +
                      (d / "in.jsonl").string() + " --output " + out +
                      "\" /dev/null";
    auto r = run_shell(cmd, d / "log");
    std::string screen = r.out;
    std::replace(screen.begin(), screen.end(), '\r', '\n');
    INFO(screen);
    CHECK(screen.find("] 1/30 jobs") != std::string::npos);  // line 1 was answered before
    CHECK(screen.find("] 30/30 jobs") != std::string::npos);
    CHECK(screen.find("/60 jobs") == std::string::npos);
    bool queued_seen = false;
    for (size_t p = screen.find(" calls running, "); p != std::string::npos; p = screen.find(" calls running, ", p + 1)) {
        long running = std::atol(screen.c_str() + screen.rfind(' ', p - 1) + 1);
        long queued = std::atol(screen.c_str() + p + 16);
        CHECK(running <= 1);  // max_concurrent = 1: the queued ones are not "running"
        queued_seen = queued_seen || queued > 0;
    }
    CHECK(queued_seen);
}
