// The interrupted-batch matrix: SIGINT, SIGTERM and kill -9 early, in the middle and
// late, for JSONL and AlpacaEval output, with duplicate ids and failing rows. After the
// rerun every input line is answered exactly once and every file is valid.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <set>

#include "batch_util.hpp"

using namespace batch_test;

namespace {

constexpr int kLines = 80;

const char* kGraph = R"(import "moa.moa"

backend sim {
  kind = sim
  max_concurrent = 8
  latency {
    first_token = 15ms
  }
}

agent a {
  backend = sim
  model = "m-a"
}

agent b {
  backend = sim
  model = "m-b"
}

layer propose = [a, b]

layer final = a {
  inputs = propose
  prompt = aggregate
}

output answer = final
)";

// 80 lines over 40 ids (every id twice), every 10th line without an id.
std::string input() {
    std::string s;
    for (int i = 1; i <= kLines; ++i) {
        s += "{";
        if (i % 10) s += "\"id\":" + std::to_string(i % 40) + ",";
        s += "\"prompt\":\"question " + std::to_string(i) + "\",\"dataset\":\"set" + std::to_string(i % 3) + "\"}\n";
    }
    return s;
}

void interrupted_batch(int sig, size_t point, bool alpaca) {
    std::string name = std::string(sig == SIGINT ? "int" : sig == SIGTERM ? "term" : "kill") + "-" +
                       std::to_string(point) + (alpaca ? "-alpaca" : "-jsonl");
    INFO(name);
    fs::path d = dir(name);
    write(d / "g.moa", kGraph);
    write(d / "in.jsonl", input());
    fs::path out = d / (alpaca ? "out.json" : "out.jsonl");
    fs::path rows_file = alpaca ? fs::path(out.string() + ".moa.jsonl") : out;
    std::string base = "run " + (d / "g.moa").string() + " --cache off --no-progress --max-jobs 4 --input " +
                       (d / "in.jsonl").string() + " --output " + out.string() + (alpaca ? " --format alpaca-eval" : "");
    // A flaky backend: one call in ten fails and is not retried, so rows fail.
    std::string flaky = " --set sim.faults={server_error=0.1} --set sim.retry={attempts=1}";
    // SIGTERM runs get no grace: their calls in flight are cancelled at once.
    std::string first_args = base + flaky + (sig == SIGTERM ? " --grace 0" : "");

    Child c = start(first_args, d / "first.log");
    bool reached = wait_rows(c, rows_file, point);
    int code = 0;
    if (c.pid > 0) {
        kill(c.pid, sig);
        code = c.wait();
    }
    std::string log = slurp(d / "first.log");
    INFO("first run: reached " << reached << ", exit " << code << "\n" << log);
    // Early and midway the signal surely lands mid-run; late, the run may have
    // finished its last rows first (then it exits as a finished run would, or dies
    // by the signal after writing everything).
    bool surely_mid_run = reached && point < static_cast<size_t>(kLines - 10);
    if (sig != SIGKILL && (surely_mid_run || code == 128 + sig)) {
        CHECK(code == 128 + sig);
        CHECK(log.find("run the same command again to resume") != std::string::npos);
        CHECK(log.find("\njobs: ") != std::string::npos);  // the summary
    }
    // Valid at once after the stop: complete rows only (a torn last row only after
    // kill -9), no line twice.
    std::vector<Row> before;
    std::string why;
    REQUIRE(read_rows(rows_file, before, sig == SIGKILL, why));
    std::set<uint64_t> lines_before;
    std::set<uint64_t> failed_before;
    for (const auto& r : before) {
        CHECK(lines_before.insert(r.line).second);
        if (!r.ok) failed_before.insert(r.line);
    }
    if (alpaca && (sig != SIGKILL || fs::exists(out))) {
        std::vector<Entry> entries;
        CHECK(read_alpaca(out, entries, why));
    }

    // The rerun: the outage is over. Middle-point runs keep their failed rows.
    bool keep = point == kLines / 2;
    std::string rerun_args = base + " --set sim.faults={server_error=0}" + (keep ? " --keep-failed" : "");
    Result r = run(rerun_args, d / "second.log");
    INFO("rerun:\n" << r.out);
    CHECK(r.code == (keep && !failed_before.empty() ? 1 : 0));

    std::vector<Row> after;
    REQUIRE(read_rows(rows_file, after, false, why));
    std::map<uint64_t, int> seen;
    std::set<std::string> fingerprints;
    size_t ok_rows = 0;
    for (const auto& row : after) {
        seen[row.line]++;
        fingerprints.insert(row.fingerprint);
        CHECK(row.has_id == (row.line % 10 != 0));
        if (row.has_id) CHECK(row.id == std::to_string(row.line % 40));
        if (row.ok) ++ok_rows;
        else CHECK((keep && failed_before.count(row.line)));  // kept, never new failures
        if (alpaca) {
            CHECK(row.instruction == "question " + std::to_string(row.line));
            CHECK(row.dataset == "set" + std::to_string(row.line % 3));
        }
    }
    CHECK(fingerprints.size() == 1);
    CHECK(seen.size() == static_cast<size_t>(kLines));
    for (const auto& [line, n] : seen) {
        INFO("input line " << line);
        CHECK(line >= 1);
        CHECK(line <= static_cast<uint64_t>(kLines));
        CHECK(n == 1);
    }
    if (!keep) CHECK(ok_rows == static_cast<size_t>(kLines));
    if (alpaca) {
        std::vector<Entry> entries;
        REQUIRE(read_alpaca(out, entries, why));
        CHECK(entries.size() == ok_rows);  // failed rows are not answers
        std::set<std::string> instructions;
        for (const auto& e : entries) {
            CHECK(instructions.insert(e.instruction).second);
            int i = std::atoi(e.instruction.c_str() + 9);
            CHECK(e.dataset == "set" + std::to_string(i % 3));
            CHECK(!e.output.empty());
        }
    }
}

}  // namespace

TEST_CASE("a batch stopped by SIGINT early, midway or late resumes: every input line answered once, files valid") {
    size_t point = GENERATE(1, kLines / 2, kLines - 3);
    bool alpaca = GENERATE(false, true);
    interrupted_batch(SIGINT, point, alpaca);
}

TEST_CASE("a batch stopped by SIGTERM (no grace: calls cancelled) resumes: every input line answered once, files valid") {
    size_t point = GENERATE(1, kLines / 2, kLines - 3);
    bool alpaca = GENERATE(false, true);
    interrupted_batch(SIGTERM, point, alpaca);
}

TEST_CASE("a batch killed with kill -9 early, midway or late resumes: every input line answered once, files valid") {
    size_t point = GENERATE(1, kLines / 2, kLines - 3);
    bool alpaca = GENERATE(false, true);
    interrupted_batch(SIGKILL, point, alpaca);
}

TEST_CASE("a second SIGINT exits at once, the rows written stay valid, and the rerun finishes the batch") {
    fs::path d = dir("second-signal");
    std::string g = kGraph;
    g.replace(g.find("first_token = 15ms"), 18, "first_token = 300ms");
    write(d / "g.moa", g);
    write(d / "in.jsonl", input());
    fs::path out = d / "out.jsonl";
    // A long grace: only the second signal can end the run early.
    std::string args = "run " + (d / "g.moa").string() + " --cache off --no-progress --max-jobs 8 --grace 600 --input " +
                       (d / "in.jsonl").string() + " --output " + out.string();
    Child c = start(args, d / "first.log");
    REQUIRE(wait_rows(c, out, 1));
    kill(c.pid, SIGINT);
    for (int i = 0; i < 500 && slurp(d / "first.log").find("SIGINT: no new jobs") == std::string::npos; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    kill(c.pid, SIGINT);
    int code = c.wait();
    std::string log = slurp(d / "first.log");
    INFO(log);
    CHECK(code == 130);
    CHECK(log.find("SIGINT again: exiting now") != std::string::npos);
    std::vector<Row> rows;
    std::string why;
    REQUIRE(read_rows(out, rows, false, why));
    CHECK(rows.size() < static_cast<size_t>(kLines));
    g.replace(g.find("first_token = 300ms"), 19, "first_token = 1ms");  // latency is not part of the fingerprint
    write(d / "g.moa", g);
    Result r = run(args, d / "second.log");
    CHECK(r.code == 0);
    rows.clear();
    REQUIRE(read_rows(out, rows, false, why));
    std::set<uint64_t> lines;
    for (const auto& row : rows) CHECK(lines.insert(row.line).second);
    CHECK(lines.size() == static_cast<size_t>(kLines));
}

TEST_CASE("SIGINT stops a batch whose input pipe stays open") {
    fs::path d = dir("stdin-pipe");
    write(d / "g.moa", kGraph);
    fs::path fifo = d / "in.fifo";
    REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
    fs::path out = d / "out.jsonl";
    Child c = start("run " + (d / "g.moa").string() + " --cache off --no-progress --input - --output " + out.string() + " < " +
                        fifo.string(),
                    d / "log");
    int w = open(fifo.c_str(), O_WRONLY);  // blocks until moa's shell opened it
    REQUIRE(w >= 0);
    std::string lines = input().substr(0, 200);
    lines = lines.substr(0, lines.rfind('\n') + 1);
    lines += lines.substr(0, lines.find('\n') + 1);  // a repeated id: moa's warning says it is reading
    REQUIRE(::write(w, lines.data(), lines.size()) == static_cast<ssize_t>(lines.size()));
    // moa now waits for more input (results are written between reads).
    for (int i = 0; i < 5000 && slurp(d / "log").find("repeats the id") == std::string::npos; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    kill(c.pid, SIGINT);
    // The writer keeps the pipe open: moa must not wait for more input.
    int code = -100;
    for (int i = 0; i < 1000 && code == -100; ++i) {
        int st = 0;
        if (waitpid(c.pid, &st, WNOHANG) == c.pid) code = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
        else std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    bool ended_with_pipe_open = code != -100;
    close(w);
    if (code == -100) code = c.wait();  // only after the pipe closed: the defect
    CHECK(ended_with_pipe_open);
    INFO(slurp(d / "log"));
    CHECK(code == 130);
    std::vector<Row> rows;
    std::string why;
    CHECK(read_rows(out, rows, false, why));
    CHECK(rows.size() == static_cast<size_t>(std::count(lines.begin(), lines.end(), '\n')));  // what was sent: answered
}

TEST_CASE("a single streamed question stops cleanly on SIGINT: newline on stdout, the summary, exit 130; a second signal exits now") {
    fs::path d = dir("one-question");
    write(d / "g.moa", "backend sim {\n  kind = sim\n  latency {\n    first_token = 1ms\n    tokens_per_second = 20\n  }\n}\n\n"
                       "agent a {\n  backend = sim\n  model = \"m\"\n}\n\nlayer ask = a\n\noutput answer = ask\n");
    for (int signals : {1, 2}) {
        INFO(signals << " signal(s)");
        fs::path out = d / "out.txt", err = d / "err.txt";
        fs::remove(out);
        // stdout and stderr apart; the trailing '#' drops start_shell's own redirection
        Child c = start_shell("exec >'" + out.string() + "' 2>'" + err.string() + "'; exec env NO_COLOR=1 " + moa_bin() + " run " +
                                  (d / "g.moa").string() + " --cache off " + (signals == 2 ? "--grace 600 " : "--grace 0 ") +
                                  "'a question' #",
                              d / "log");
        for (int i = 0; i < 2500 && (!fs::exists(out) || fs::file_size(out) == 0); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        REQUIRE(fs::file_size(out) > 0);  // mid-answer
        kill(c.pid, SIGINT);
        if (signals == 2) {
            for (int i = 0; i < 500 && slurp(err).find("SIGINT: ") == std::string::npos; ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            kill(c.pid, SIGINT);
        }
        CHECK(c.wait() == 130);
        std::string text = slurp(out), log = slurp(err);
        INFO(log);
        CHECK(log.find("SIGINT: ") != std::string::npos);
        CHECK((!text.empty() && text.back() == '\n'));
        if (signals == 1) {
            CHECK(log.find("wall time") != std::string::npos);  // the summary
            CHECK(log.find("interrupted by SIGINT") != std::string::npos);
        } else {
            CHECK(log.find("SIGINT again: exiting now") != std::string::npos);
        }
    }
}
