// The cache records how long each stored answer took (latency_ms, first_token_ms), so
// `moa plan` can profile real models from earlier runs; older caches gain the columns
// when opened for writing, and export/import carry them.
#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cache/cache.hpp"
#include "engine_test_util.hpp"
#include "moa/cache_admin.hpp"
#include "moa/plan.hpp"

using namespace moa;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
    fs::path p = fs::temp_directory_path() / ("moa-cache-latency-" + name + "-" + std::to_string(getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
}

void exec(const std::string& db, const std::string& sql) {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
    char* err = nullptr;
    int rc = sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &err);
    INFO((err ? err : ""));
    sqlite3_free(err);
    sqlite3_close(h);
    REQUIRE(rc == SQLITE_OK);
}

CacheRecord record(const std::string& key_char, const std::string& model, int64_t latency) {
    CacheRecord r;
    r.key = std::string(32, key_char[0]);
    r.node = "n";
    r.model = model;
    r.backend = "openai https://api.example.com/v1";
    r.request = "request";
    r.entry = {"an answer of some length", 10, 6};
    r.created = 1700000000;
    r.latency_ms = latency;
    return r;
}

}  // namespace

TEST_CASE("a cache written before latencies were recorded gains the columns; its old rows have none", "[plan][cache]") {
    fs::path dir = temp_dir("migrate");
    std::string db = (dir / "cache.db").string();
    // The schema of earlier versions, with one answer in it.
    exec(db, "CREATE TABLE responses(key TEXT PRIMARY KEY, node TEXT, model TEXT, backend TEXT, request TEXT, text TEXT, "
             "tokens_in INTEGER, tokens_out INTEGER, created INTEGER);"
             "CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER);"
             "INSERT INTO responses VALUES ('" + std::string(32, 'a') + "', 'n', 'old-model', 'b', 'r', 'old answer', 3, 2, 1600000000);");
    // Read access leaves it as it is, and profiles nothing from it.
    CHECK(read_latency_profiles(db).empty());
    {
        auto store = open_sqlite_store(db, CacheAccess::Write);
        store->put(record("b", "new-model", 1234));
        REQUIRE(store->failure().empty());
        REQUIRE(store->get(std::string(32, 'a')));  // the old answer is still served
    }
    auto profiles = read_latency_profiles(db);
    REQUIRE(profiles.size() == 1);
    REQUIRE(profiles.count("new-model"));
    CHECK(profiles["new-model"].latency_ms == std::vector<double>{1234});
    CHECK(profiles["new-model"].chars == std::vector<size_t>{24});
    CHECK(profiles["new-model"].first_token_ms.empty());

    // Export: the latency where recorded, no field where not; import brings it back.
    std::string file = (dir / "export.jsonl").string();
    cache_export(db, file);
    std::ifstream in(file);
    std::string old_line, new_line;
    std::getline(in, old_line);
    std::getline(in, new_line);
    CHECK(old_line.find("latency_ms") == std::string::npos);
    CHECK(new_line.find("\"latency_ms\":1234") != std::string::npos);
    CHECK(new_line.find("first_token_ms") == std::string::npos);
    std::string copy = (dir / "copy.db").string();
    CHECK(cache_import(copy, file) == 2);
    auto imported = read_latency_profiles(copy);
    REQUIRE(imported.count("new-model"));
    CHECK(imported["new-model"].latency_ms == std::vector<double>{1234});
    CHECK_FALSE(imported.count("old-model"));
    fs::remove_all(dir);
}

TEST_CASE("every answer the engine stores carries its latency, and a streamed one its first token", "[plan][cache]") {
    fs::path dir = temp_dir("engine");
    std::string db = (dir / "cache.db").string();
    GraphSpec g = test::load(R"(
backend slow {
  kind = sim
  latency {
    first_token = 40ms
    tokens_per_second = 1000
  }
}
template agg = "Responses:\n{{responses}}"
agent a { backend = slow  model = "m/alpha" }
agent b { backend = slow  model = "m/beta" }
layer p = [a, b]
layer f = a { inputs = p  prompt = agg }
output o = f
)");
    EngineOptions eo;
    eo.cache_mode = CacheMode::ReadWrite;
    eo.cache_path = db;
    {
        Engine engine(g, eo);
        std::string streamed;
        JobResult r = engine.run_one("what is latency?", [&](const StreamChunk& c) { streamed += c.text; });
        REQUIRE(r.ok);
        REQUIRE(!streamed.empty());
    }
    auto profiles = read_latency_profiles(db);
    REQUIRE(profiles.count("m/alpha"));
    REQUIRE(profiles.count("m/beta"));
    CHECK(profiles["m/alpha"].latency_ms.size() == 2);  // the proposer and the aggregator
    CHECK(profiles["m/beta"].latency_ms.size() == 1);
    for (auto& [model, p] : profiles)
        for (double ms : p.latency_ms) CHECK(ms >= 40);  // never before the first token is due
    // Only the final answer streamed: one first-token time, within its latency.
    REQUIRE(profiles["m/alpha"].first_token_ms.size() == 1);
    CHECK(profiles["m/alpha"].first_token_ms[0] >= 40);
    CHECK(profiles["m/beta"].first_token_ms.empty());
    fs::remove_all(dir);
}
