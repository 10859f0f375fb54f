// The `moa cache` library calls (moa/cache_admin.hpp) and render_alpaca report failure
// one way: a moa::Error whose message names the path and whose kind says what failed.
// They return their results as values and print nothing.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "moa/batch_io.hpp"
#include "moa/cache_admin.hpp"
#include "cache/cache.hpp"

using namespace moa;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
    fs::path p = fs::temp_directory_path() / ("moa-cache-admin-" + name + "-" + std::to_string(getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
}

// `what` thrown as a moa::Error of `kind` whose message contains `needle`.
template <typename Fn>
void check_error(Fn&& what, Error::Kind kind, const std::string& needle) {
    try {
        what();
        FAIL("no moa::Error thrown");
    } catch (const Error& e) {
        INFO(e.what());
        CHECK(e.kind() == kind);
        CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
}

CacheRecord record(const std::string& key, const std::string& model, const std::string& text) {
    CacheRecord r;
    r.key = key;
    r.node = "n";
    r.model = model;
    r.backend = "sim";
    r.request = "req";
    r.entry = {text, 3, 5};
    r.created = 1000;
    return r;
}

void fill(const std::string& db) {
    std::string err;
    auto store = open_sqlite_store(db, err);
    REQUIRE(store);
    store->put(record(std::string(32, 'a'), "m1", "one"));
    store->put(record(std::string(32, 'b'), "m1", "two \"quoted\"\n"));
    store->put(record(std::string(32, 'c'), "m2", "three"));
}

}  // namespace

TEST_CASE("cache stats on a missing database throws NotFound naming the path and creates nothing") {
    fs::path dir = temp_dir("missing");
    std::string db = (dir / "nope.db").string();
    check_error([&] { cache_stats(db); }, Error::Kind::NotFound, "no cache at " + db);
    check_error([&] { cache_export(db, (dir / "e.jsonl").string()); }, Error::Kind::NotFound, "no cache at " + db);
    check_error([&] { cache_prune(db, -1, "m"); }, Error::Kind::NotFound, "no cache at " + db);
    CHECK_FALSE(fs::exists(db));
}

TEST_CASE("cache stats on a file that is not a cache throws Invalid, on garbage Corrupt") {
    fs::path dir = temp_dir("invalid");
    std::string empty = (dir / "empty.db").string();
    std::ofstream(empty).close();
    check_error([&] { cache_stats(empty); }, Error::Kind::NotFound, "no cache at " + empty + " (empty file)");
    std::string garbage = (dir / "garbage.db").string();
    std::ofstream(garbage) << std::string(4096, 'x');
    check_error([&] { cache_stats(garbage); }, Error::Kind::Corrupt, garbage);
}

TEST_CASE("cache stats, prune, export and import return their results as values") {
    fs::path dir = temp_dir("values");
    std::string db = (dir / "cache.db").string();
    fill(db);
    CacheStats s = cache_stats(db);
    CHECK(s.entries == 3);
    CHECK(s.tokens_in == 9);
    CHECK(s.tokens_out == 15);
    CHECK(s.file_bytes > 0);
    REQUIRE(s.by_model.size() == 2);
    CHECK(s.by_model[0] == std::pair<std::string, int64_t>{"m1", 2});

    std::string file = (dir / "e.jsonl").string();
    CacheExport ex = cache_export(db, file);
    CHECK(ex.entries == 3);
    CHECK_FALSE(ex.to_stdout);

    std::string copy = (dir / "copy.db").string();
    CHECK(cache_import(copy, file) == 3);
    CHECK(cache_stats(copy).entries == 3);

    CHECK(cache_prune(copy, -1, "m1") == 2);
    cache_compact(copy);
    CHECK(cache_stats(copy).entries == 1);
}

TEST_CASE("cache export to a directory throws Io naming it and leaves no temporary file") {
    fs::path dir = temp_dir("export-dir");
    std::string db = (dir / "cache.db").string();
    fill(db);
    fs::create_directories(dir / "out");
    check_error([&] { cache_export(db, (dir / "out").string()); }, Error::Kind::Io, "cannot write " + (dir / "out").string());
    for (const auto& e : fs::directory_iterator(dir)) CHECK(e.path().extension() != ".tmp");
}

TEST_CASE("cache import of a line that is not a record throws Invalid with FILE:LINE") {
    fs::path dir = temp_dir("import-bad");
    std::string file = (dir / "bad.jsonl").string();
    std::ofstream(file) << "not json\n";
    check_error([&] { cache_import((dir / "cache.db").string(), file); }, Error::Kind::Invalid, file + ":1: not a cache record");
}

TEST_CASE("render_alpaca of a missing journal throws NotFound naming it and writes nothing") {
    fs::path dir = temp_dir("alpaca");
    std::string journal = (dir / "none.moa.jsonl").string();
    std::ostringstream out;
    check_error([&] { render_alpaca(journal, "fp", "gen", out); }, Error::Kind::NotFound, "cannot read " + journal + ": ");
    CHECK(out.str().empty());
}
