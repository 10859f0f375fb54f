// `moa plan` end to end: the text report of a repository graph (golden), JSON for CI,
// no API key needed, an unknown figure said to be unknown, recorded latencies used.
#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "shell.hpp"

namespace fs = std::filesystem;

namespace {

// Runs moa in a fresh directory (no .moa/cache.db there unless the test makes one).
moa::test::Run plan_in(const fs::path& dir, const std::string& args, bool with_stderr = true) {
    std::string cmd = "cd '" + dir.string() + "' && NO_COLOR=1 " MOA_BIN " plan " + args + (with_stderr ? " 2>&1" : " 2>/dev/null");
    return moa::test::shell(cmd);
}

fs::path fresh_dir(const std::string& name) {
    fs::path d = fs::temp_directory_path() / ("moa-plan-cli-" + name + "-" + std::to_string(getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

const std::string kSrc = MOA_SOURCE_DIR;

}  // namespace

TEST_CASE("moa plan prints the golden text report of MoA-Lite on sim", "[plan]") {
    fs::path dir = fresh_dir("golden");
    auto r = plan_in(dir, kSrc + "/graphs/paper-moa-lite-sim.moa", false);
    REQUIRE(r.code == 0);
    fs::path golden = fs::path(kSrc) / "tests/cli/golden/plan-paper-moa-lite-sim.txt";
    if (std::getenv("MOA_UPDATE_GOLDEN")) std::ofstream(golden, std::ios::binary) << r.out;
    CHECK(r.out == read(golden));
    fs::remove_all(dir);
}

TEST_CASE("moa plan needs no API key and says which figures are unknown", "[plan]") {
    fs::path dir = fresh_dir("nokeys");
    // graphs/paper-moa.moa calls Together AI: its key variable is unset here.
    auto r = plan_in(dir, kSrc + "/graphs/paper-moa.moa", false);
    INFO(r.out);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("calls per query: 13;") != std::string::npos);
    CHECK(r.out.find("critical path (one query, * above): unknown") != std::string::npos);
    CHECK(r.out.find("unknown: node ") != std::string::npos);
    auto j = plan_in(dir, kSrc + "/graphs/paper-moa.moa --format json", false);
    REQUIRE(j.code == 0);
    CHECK(j.out.find("\"schema\": \"moa-plan/1\"") != std::string::npos);
    CHECK(j.out.find("\"critical_path_ms\": null") != std::string::npos);
    CHECK(j.out.find("\"wall_ms\": null") != std::string::npos);
    fs::remove_all(dir);
}

TEST_CASE("moa plan takes a batch from --input and the concurrency limits of moa run", "[plan]") {
    fs::path dir = fresh_dir("batch");
    std::ofstream(dir / "in.jsonl") << "{\"prompt\": \"one\"}\n{\"prompt\": \"two\"}\n{\"prompt\": \"three\"}\n";
    auto r = plan_in(dir, kSrc + "/graphs/self-moa-sim.moa --input in.jsonl --max-jobs 1 --concurrency 2 --format json", false);
    INFO(r.out);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("\"count\": 3") != std::string::npos);
    CHECK(r.out.find("\"max_jobs\": 1") != std::string::npos);
    CHECK(r.out.find("\"concurrency\": 2") != std::string::npos);
    fs::remove_all(dir);
}

TEST_CASE("moa plan profiles a real model from the latencies recorded in --cache-db", "[plan]") {
    fs::path dir = fresh_dir("profile");
    std::string db = (dir / "rec.db").string();
    fs::path graph = dir / "remote.moa";
    std::ofstream(graph) << "backend remote { kind = openai  base_url = \"https://api.example.com/v1\"  api_key_env = \"MOA_PLAN_CLI_UNSET\" }\n"
                            "agent r { backend = remote  model = \"recorded-model\"  max_tokens = 100 }\n"
                            "layer only = r\noutput answer = only\n";
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
    std::string sql =
        "CREATE TABLE responses(key TEXT PRIMARY KEY, node TEXT, model TEXT, backend TEXT, request TEXT, text TEXT, "
        "tokens_in INTEGER, tokens_out INTEGER, created INTEGER, latency_ms INTEGER, first_token_ms INTEGER);"
        "CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER);";
    for (int i = 0; i < 5; ++i)
        sql += "INSERT INTO responses VALUES ('" + std::string(31, 'k') + std::to_string(i) +
               "', 'only.r', 'recorded-model', 'b', 'r', 'answer', 5, 40, 1700000000, 2500, NULL);";
    REQUIRE(sqlite3_exec(h, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(h);
    auto r = plan_in(dir, "remote.moa --cache-db rec.db", false);
    INFO(r.out);
    REQUIRE(r.code == 0);
    CHECK(r.out.find("cache (5 answers)") != std::string::npos);
    CHECK(r.out.find("critical path (one query, * above): 2500 ms") != std::string::npos);
    auto missing = plan_in(dir, "remote.moa --cache-db nowhere.db");
    CHECK(missing.code == 1);
    CHECK(missing.out.find("no cache at nowhere.db") != std::string::npos);
    fs::remove_all(dir);
}

TEST_CASE("every moa plan flag in --help is documented in docs/cli.md, and moa --help lists plan", "[plan]") {
    fs::path dir = fresh_dir("help");
    auto h = plan_in(dir, "--help");
    REQUIRE(h.code == 0);
    std::string doc = read(fs::path(kSrc) / "docs" / "cli.md");
    size_t section = doc.find("# `moa plan`");
    REQUIRE(section != std::string::npos);
    doc = doc.substr(section);
    int flags = 0;
    for (size_t p = h.out.find("--"); p != std::string::npos; p = h.out.find("--", p + 2)) {
        size_t e = p + 2;
        while (e < h.out.size() && (std::isalnum(static_cast<unsigned char>(h.out[e])) || h.out[e] == '-')) ++e;
        std::string flag = h.out.substr(p, e - p);
        if (e == p + 2 || flag == "--help") continue;
        ++flags;
        INFO(flag);
        CHECK((doc.find("| `" + flag) != std::string::npos || doc.find(", " + flag) != std::string::npos));
    }
    CHECK(flags >= 7);
    // Every default is stated.
    for (const char* d : {"default text", "default 0", "typical query of 200", "default .moa/cache.db", "at least 256"})
        CHECK(h.out.find(d) != std::string::npos);
    auto top = moa::test::shell("NO_COLOR=1 " MOA_BIN " --help");
    CHECK(top.out.find("plan") != std::string::npos);
    fs::remove_all(dir);
}
