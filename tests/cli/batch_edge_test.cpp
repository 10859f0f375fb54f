// Edges of the batch front: a BOM, null fields, flag ranges, --emit-all on resume, and
// summaries that say what happened (no failures claimed that did not happen).
#include <catch2/catch.hpp>

#include "batch_util.hpp"

using namespace batch_test;

namespace {

std::string graph(const char* first_token) {
    return std::string("backend sim {\n  kind = sim\n  latency {\n    first_token = ") + first_token +
           "\n  }\n}\n\nagent a {\n  backend = sim\n  model = \"m\"\n}\n\nlayer ask = a\n\noutput answer = ask\n";
}

fs::path setup(const std::string& name, const std::string& input, const char* first_token = "1ms") {
    fs::path d = dir(name);
    write(d / "g.moa", graph(first_token));
    write(d / "in.jsonl", input);
    return d;
}

std::string moa_run(const fs::path& d, const std::string& more) {
    return "run " + (d / "g.moa").string() + " --cache off --no-progress --input " + (d / "in.jsonl").string() + " " + more;
}

}  // namespace

TEST_CASE("a UTF-8 BOM before the first line and a null dataset are accepted") {
    fs::path d = setup("bom", "\xEF\xBB\xBF{\"id\":1,\"prompt\":\"a\",\"dataset\":null}\n{\"prompt\":\"b\"}\n");
    auto r = run(moa_run(d, "--format alpaca-eval --output " + (d / "out.json").string()), d / "log");
    CHECK(r.code == 0);
    std::vector<Entry> entries;
    std::string why;
    REQUIRE(read_alpaca(d / "out.json", entries, why));
    REQUIRE(entries.size() == 2);
    CHECK((entries[0].instruction == "a" && entries[0].dataset == "moa"));
    CHECK(r.out.find("failed jobs are not in it") == std::string::npos);  // none failed
}

TEST_CASE("flag values out of range are usage errors with a plain message") {
    fs::path d = setup("ranges", "{\"prompt\":\"a\"}\n");
    for (std::string bad : {"--output ''", "--grace nan", "--grace 1e300", "--grace -1", "--grace 3601", "--max-jobs 0", "--max-jobs x"}) {
        INFO(bad);
        auto r = run(moa_run(d, bad), d / "log");
        CHECK(r.code == 2);
        CHECK(r.out.size() < 400);  // not a 300-digit range
        CHECK(r.out.find(" ok, ") == std::string::npos);  // nothing ran
    }
    CHECK(run(moa_run(d, "--max-jobs 0"), d / "log").out.find("--max-jobs takes a whole number from 1") != std::string::npos);
    CHECK(run(moa_run(d, "--grace 2.5 --max-jobs 3 -q"), d / "log").code == 0);
}

TEST_CASE("rows of --emit-all and plain rows are never mixed by a resume") {
    fs::path d = setup("emit-all", "{\"prompt\":\"a\"}\n{\"prompt\":\"b\"}\n");
    std::string out = " --output " + (d / "out.jsonl").string();
    write(d / "one.jsonl", "{\"prompt\":\"a\"}\n");
    REQUIRE(run("run " + (d / "g.moa").string() + " --cache off --input " + (d / "one.jsonl").string() + out, d / "log").code == 0);
    auto r = run(moa_run(d, "--emit-all" + out), d / "log");
    CHECK(r.code == 2);
    CHECK(r.out.find("different graph or settings") != std::string::npos);
    CHECK(run(moa_run(d, "--emit-all --overwrite" + out), d / "log").code == 0);
    std::string rows = slurp(d / "out.jsonl");
    CHECK(std::count(rows.begin(), rows.end(), '\n') == 2);
    CHECK(rows.find("\"nodes\"") != std::string::npos);
}

TEST_CASE("a batch stopped by a signal reports the jobs it cut short as cancelled and not written, not as failed") {
    std::string in;
    for (int i = 1; i <= 40; ++i) in += "{\"prompt\":\"q" + std::to_string(i) + "\"}\n";
    fs::path d = setup("cancelled-summary", in, "400ms");
    Child c = start(moa_run(d, "--max-jobs 4 --grace 0 --output " + (d / "out.jsonl").string()), d / "log");
    std::this_thread::sleep_for(std::chrono::milliseconds(150));  // calls in flight, none done
    kill(c.pid, SIGINT);
    CHECK(c.wait() == 130);
    std::string log = slurp(d / "log");
    INFO(log);
    CHECK(log.find(" cancelled, not written") != std::string::npos);
    CHECK(log.find("ok, 0 failed") != std::string::npos);
}

TEST_CASE("moa run --grace takes a duration of the language as well as bare seconds, up to an hour") {
    fs::path d = setup("grace-duration", "{\"prompt\":\"a\"}\n");
    for (std::string ok : {"--grace 500ms", "--grace 2min", "--grace 1h", "--grace 0.25"}) {
        INFO(ok);
        CHECK(run(moa_run(d, ok + " -q"), d / "log").code == 0);
    }
    for (std::string bad : {"--grace 61min", "--grace 5days", "--grace -1s"}) {
        INFO(bad);
        auto r = run(moa_run(d, bad), d / "log");
        CHECK(r.code == 2);
        CHECK(r.out.find("--grace takes seconds from 0 to 3600") != std::string::npos);
    }
}
