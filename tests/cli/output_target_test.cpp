// What --output really is: a symlink is followed, a device or FIFO is written in place,
// a directory or a file that is not ours is refused before any job runs, and the
// one-writer lock holds through links to the same file.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <iostream>
#include <set>

#include "batch_util.hpp"

using namespace batch_test;

namespace {

std::string prompts(int n) {
    std::string s;
    for (int i = 1; i <= n; ++i) s += "{\"id\":" + std::to_string(i) + ",\"prompt\":\"q" + std::to_string(i) + "\"}\n";
    return s;
}

std::string moa_run(const fs::path& d, const std::string& more) {
    return "run " + (d / "g.moa").string() + " --cache off --no-progress --input " + (d / "in.jsonl").string() + " " + more;
}

fs::path setup(const std::string& name, int n) {
    fs::path d = dir(name);
    write(d / "g.moa", kOneAgentGraph);
    write(d / "in.jsonl", prompts(n));
    return d;
}

}  // namespace

TEST_CASE("an --output symlink is followed: its target gets the rows and the list, the link stays a link") {
    fs::path d = setup("out-symlink", 3);
    fs::create_symlink("real.json", d / "link.json");
    auto r = run(moa_run(d, "--format alpaca-eval --output " + (d / "link.json").string()), d / "log");
    CHECK(r.code == 0);
    CHECK(fs::is_symlink(d / "link.json"));
    std::vector<Entry> entries;
    std::string why;
    REQUIRE(read_alpaca(d / "real.json", entries, why));
    CHECK(entries.size() == 3);
    // JSONL: a resume that drops a bad row rewrites the target, not the link
    fs::create_symlink("real.jsonl", d / "link.jsonl");
    write(d / "in.jsonl", prompts(2));
    REQUIRE(run(moa_run(d, "--output " + (d / "link.jsonl").string()), d / "log").code == 0);
    std::ofstream(d / "real.jsonl", std::ios::app) << "garbage\n";
    write(d / "in.jsonl", prompts(3));
    auto j = run(moa_run(d, "--output " + (d / "link.jsonl").string()), d / "log");
    CHECK(j.code == 0);
    CHECK(fs::is_symlink(d / "link.jsonl"));
    std::vector<Row> rows;
    REQUIRE(read_rows(d / "real.jsonl", rows, false, why));
    CHECK(rows.size() == 3);
}

TEST_CASE("a FIFO or a device as --output is written in place: no temp file, no rename, no journal") {
    fs::path d = setup("out-fifo", 3);
    REQUIRE(mkfifo((d / "fifo").c_str(), 0644) == 0);
    auto r = run_shell("cat '" + (d / "fifo").string() + "' > '" + (d / "got.json").string() + "' & env NO_COLOR=1 " + moa_bin() +
                           " " + moa_run(d, "--format alpaca-eval --output " + (d / "fifo").string()) + "; rc=$?; wait; exit $rc",
                       d / "log");
    CHECK(r.code == 0);
    struct stat st{};
    REQUIRE(lstat((d / "fifo").c_str(), &st) == 0);
    CHECK(S_ISFIFO(st.st_mode));
    CHECK(!fs::exists(d / "fifo.moa.jsonl"));
    std::vector<Entry> entries;
    std::string why;
    REQUIRE(read_alpaca(d / "got.json", entries, why));
    CHECK(entries.size() == 3);
    // A device node made here (never the real /dev/full): needs CAP_MKNOD.
    if (mknod((d / "full").c_str(), S_IFCHR | 0666, makedev(1, 7)) != 0 ||
        mknod((d / "null").c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
        std::cout << "skipping the device part: mknod is not permitted here (" << std::strerror(errno) << ")\n";
        return;
    }
    for (const char* fmt : {"alpaca-eval", "jsonl"}) {
        INFO(fmt);
        auto n = run(moa_run(d, std::string("--format ") + fmt + " --output " + (d / "null").string()), d / "log");
        CHECK(n.code == 0);
        auto f = run(moa_run(d, std::string("--format ") + fmt + " --output " + (d / "full").string()), d / "log");
        CHECK(f.code == 1);
        CHECK(f.out.find("No space left on device") != std::string::npos);
        for (const char* dev : {"null", "full"}) {
            REQUIRE(lstat((d / dev).c_str(), &st) == 0);
            CHECK(S_ISCHR(st.st_mode));
            CHECK(!fs::exists(d / (std::string(dev) + ".moa.jsonl")));
        }
    }
}

TEST_CASE("an --output that is a directory or whose temp file cannot be made fails before any job runs") {
    fs::path d = setup("out-dir", 3);
    fs::create_directories(d / "outdir");
    for (const char* fmt : {"alpaca-eval", "jsonl"}) {
        auto r = run(moa_run(d, std::string("--format ") + fmt + " --output " + (d / "outdir").string()), d / "log");
        CHECK(r.code == 2);
        CHECK(r.out.find("is a directory") != std::string::npos);
        CHECK(r.out.find("jobs:") == std::string::npos);  // no summary: nothing ran
    }
    CHECK(!fs::exists(d / "outdir.moa.jsonl"));
}

TEST_CASE("alpaca-eval refuses to replace a file that is not its own list unless --overwrite") {
    fs::path d = setup("out-precious", 2);
    write(d / "precious.json", "my precious notes\n");
    auto r = run(moa_run(d, "--format alpaca-eval --output " + (d / "precious.json").string()), d / "log");
    CHECK(r.code == 2);
    CHECK(r.out.find("is not an AlpacaEval list") != std::string::npos);
    CHECK(slurp(d / "precious.json") == "my precious notes\n");
    CHECK(run(moa_run(d, "--format alpaca-eval --overwrite --output " + (d / "precious.json").string()), d / "log").code == 0);
    // its own list (journal beside it) resumes
    write(d / "in.jsonl", prompts(3));
    auto again = run(moa_run(d, "--format alpaca-eval --output " + (d / "precious.json").string()), d / "log");
    CHECK(again.code == 0);
    std::vector<Entry> entries;
    std::string why;
    REQUIRE(read_alpaca(d / "precious.json", entries, why));
    CHECK(entries.size() == 3);
}

TEST_CASE("the one-writer lock holds through a symlink and a hard link to the same output") {
    // 400 jobs two at a time (about 2 s): the first run must still hold the lock when
    // the two slower runs under ASan start (60 jobs finished first there, once in 4).
    fs::path d = setup("out-lock-links", 400);
    for (const char* fmt : {"jsonl", "alpaca-eval"}) {
        INFO(fmt);
        fs::remove(d / "out");
        fs::remove(d / "hard");
        fs::remove(d / "sym");
        fs::remove(d / "out.moa.jsonl");
        bool alpaca = std::string(fmt) == "alpaca-eval";
        if (alpaca) write(d / "out", "[]\n");  // a list from an earlier run, replaced
        Child first = start(moa_run(d, std::string("--max-jobs 2 --format ") + fmt + (alpaca ? " --overwrite" : "") +
                                           " --output " + (d / "out").string()),
                            d / "first.log");
        REQUIRE(wait_rows(first, d / (alpaca ? "out.moa.jsonl" : "out"), 1));
        fs::create_hard_link(d / "out", d / "hard");
        fs::create_symlink("out", d / "sym");
        for (const char* name : {"hard", "sym"}) {
            INFO(name);
            auto second = run(moa_run(d, std::string("--format ") + fmt + " --output " + (d / name).string()), d / "second.log");
            CHECK(second.code == 1);
            CHECK(second.out.find("is being written by another moa run") != std::string::npos);
        }
        CHECK(first.wait() == 0);
    }
}

TEST_CASE("a file whose only line has no newline is not a torn row of ours: resume refuses it and keeps it") {
    fs::path d = setup("out-no-newline", 2);
    write(d / "p.txt", "my precious notes");
    auto r = run(moa_run(d, "--output " + (d / "p.txt").string()), d / "log");
    CHECK(r.code == 2);
    CHECK(r.out.find("is not a moa result file") != std::string::npos);
    CHECK(slurp(d / "p.txt") == "my precious notes");
    // after a row of ours, the same unterminated tail is a torn row and is cut
    REQUIRE(run(moa_run(d, "--overwrite --output " + (d / "p.txt").string()), d / "log").code == 0);
    std::string two = slurp(d / "p.txt");
    write(d / "p.txt", two.substr(0, two.find('\n') + 1) + "{\"id\":\"2\",\"li");
    auto t = run(moa_run(d, "--output " + (d / "p.txt").string()), d / "log");
    CHECK(t.code == 0);
    CHECK(t.out.find("cut off a partial last row") != std::string::npos);
    std::vector<Row> rows;
    std::string why;
    REQUIRE(read_rows(d / "p.txt", rows, false, why));
    CHECK(rows.size() == 2);
}

TEST_CASE("resume trusts a row only for the same input line: an edited input stops with the line, the row's id and the way out") {
    fs::path d = setup("input-changed", 3);
    std::string out = (d / "out.jsonl").string();
    REQUIRE(run(moa_run(d, "--output " + out), d / "log").code == 0);
    std::string rows = slurp(out);
    CHECK(rows.find("\"input_hash\":\"") != std::string::npos);
    auto same = run(moa_run(d, "--output " + out), d / "log");
    CHECK(same.code == 0);
    CHECK(same.out.find("jobs: 0 ok") != std::string::npos);
    // a line inserted at the top: every row now sits on another prompt
    write(d / "in.jsonl", "{\"id\":\"new\",\"prompt\":\"inserted\"}\n" + prompts(3));
    auto r = run(moa_run(d, "--output " + out), d / "log");
    CHECK(r.code == 2);
    CHECK(r.out.find("the row for input line 1 (id \"1\") answered another input") != std::string::npos);
    CHECK(r.out.find("--overwrite") != std::string::npos);
    CHECK(slurp(out) == rows);
    // the input cut short: the rows past its end are not answers of it
    write(d / "in.jsonl", prompts(2));
    auto s = run(moa_run(d, "--output " + out), d / "log");
    CHECK(s.code == 2);
    CHECK(s.out.find("the row for input line 3 (id \"3\") is past the end") != std::string::npos);
    // the same for the AlpacaEval journal
    write(d / "in.jsonl", prompts(3));
    std::string list = (d / "list.json").string();
    REQUIRE(run(moa_run(d, "--format alpaca-eval --output " + list), d / "log").code == 0);
    std::string before = slurp(list);
    write(d / "in.jsonl", "{\"id\":\"new\",\"prompt\":\"inserted\"}\n" + prompts(3));
    auto a = run(moa_run(d, "--format alpaca-eval --output " + list), d / "log");
    CHECK(a.code == 2);
    CHECK(slurp(list) == before);
}

TEST_CASE("an edited input's error names the row's id as a JSON string, escaped") {
    fs::path d = setup("input-changed-id", 1);
    write(d / "in.jsonl", "{\"id\":\"a\\\"b\\\\c\",\"prompt\":\"first\"}\n");
    std::string out = (d / "out.jsonl").string();
    REQUIRE(run(moa_run(d, "--output " + out), d / "log").code == 0);
    write(d / "in.jsonl", "{\"id\":\"a\\\"b\\\\c\",\"prompt\":\"edited\"}\n");
    auto r = run(moa_run(d, "--output " + out), d / "log");
    CHECK(r.code == 2);
    CHECK(r.out.find("the row for input line 1 (id \"a\\\"b\\\\c\") answered another input") != std::string::npos);
}
