// The response cache when its database fails: a full disk, a corrupted file, a
// read-only directory, a missing file. Never silent: the first error names the path and
// the reason, the run stops early, and nothing already paid for is lost.
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "cache/cache.hpp"
#include "runtime/scheduler.hpp"
#include "engine_test_util.hpp"

using namespace moa;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
    fs::path p = fs::temp_directory_path() / ("moa-cache-fail-" + name + "-" + std::to_string(getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
}

std::vector<std::string> column(const std::string& db, const char* sql) {
    sqlite3* h = nullptr;
    sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(h, sql, -1, &st, nullptr);
    std::vector<std::string> out;
    while (sqlite3_step(st) == SQLITE_ROW) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return out;
}

struct Counter : CallObserver {
    std::atomic<int> attempts{0};
    void attempt_started(const std::string&, int, TimePoint) override { ++attempts; }
    void attempt_ended(const std::string&, int, TimePoint) override {}
};

// Every connection opened while this lives gets SQLite's own size limit: inserts past
// it fail with SQLITE_FULL, exactly as on a full disk, in the real database code.
int g_max_pages = 0;
int limit_pages(sqlite3* db, char**, const sqlite3_api_routines*) {
    std::string sql = "PRAGMA max_page_count = " + std::to_string(g_max_pages);
    sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
    return SQLITE_OK;
}
struct PageLimit {
    explicit PageLimit(int pages) {
        g_max_pages = pages;
        sqlite3_auto_extension(reinterpret_cast<void (*)()>(limit_pages));
    }
    ~PageLimit() { sqlite3_reset_auto_extension(); }
};

// A small tmpfs, unmounted on exit; ok() is false where mounting is not allowed.
struct Tmpfs {
    fs::path dir;
    std::string why;
    Tmpfs(const fs::path& d, const char* size) : dir(d) {
        std::string opts = std::string("size=") + size;
        if (mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) != 0) why = std::strerror(errno);
    }
    bool ok() const { return why.empty(); }
    bool remount_read_only() { return mount("tmpfs", dir.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, nullptr) == 0; }
    ~Tmpfs() {
        if (ok()) umount2(dir.c_str(), MNT_DETACH);
    }
};

const std::string kOneCall = std::string(test::kSimPrelude) + "layer p = a\noutput o = p\n";

std::vector<std::string> questions(int n) {
    std::vector<std::string> q;
    for (int i = 0; i < n; ++i) q.push_back("question " + std::to_string(i) + ": " + std::string(200, 'x'));
    return q;
}

// Runs a 2000-job batch into a cache that fills up; checks the promises of a full cache.
void check_full_cache_stops_the_run(const std::string& db) {
    Counter counter;
    EngineOptions o;
    o.cache_mode = CacheMode::ReadWrite;
    o.cache_path = db;
    o.observer = &counter;
    o.max_jobs = 4;
    Engine e(test::load(kOneCall), o);
    test::VectorSource qs(questions(2000));
    std::set<std::string> delivered;
    size_t results = 0, failed = 0;
    e.run_batch(qs, [&](JobResult&& r) {
        ++results;
        if (r.ok) delivered.insert(r.output());
        else ++failed;
    });
    CHECK(failed == 0);  // the jobs in flight finished: nothing paid for was thrown away
    std::string err = e.cache_error();
    INFO("cache error: " << err);
    CHECK(err.find(db) != std::string::npos);
    CHECK(err.find("database or disk is full") != std::string::npos);
    CHECK(results < 2000);  // stopped early
    // Every answer paid for reached the output...
    CHECK(static_cast<size_t>(counter.attempts.load()) == delivered.size());
    // ...and what was committed stays: rows that fit are there, each one an answer of the run.
    auto stored = column(db, "SELECT text FROM responses");
    CHECK(!stored.empty());
    for (const auto& t : stored) CHECK(delivered.count(t) == 1);
    CHECK(column(db, "PRAGMA integrity_check") == std::vector<std::string>{"ok"});
}

void write_cache(const std::string& db, int n, size_t text_size) {
    std::string err;
    auto store = open_sqlite_store(db, err);
    REQUIRE(store);
    store->begin_batch();
    for (int i = 0; i < n; ++i) {
        CacheRecord r;
        char key[40];
        std::snprintf(key, sizeof key, "%032d", i);
        r.key = key;
        r.node = "n";
        r.model = "m";
        r.request = "request " + std::to_string(i);
        r.entry = {std::string(text_size, static_cast<char>('a' + i % 26)), 1, 2};
        store->put(r);
    }
    store->end_batch();
    REQUIRE(store->failure().empty());
}

void overwrite(const std::string& path, size_t offset, size_t len, unsigned seed) {
    std::mt19937 rng(seed);
    std::string junk(len, '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng());
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
}

}  // namespace

TEST_CASE("a full cache (SQLITE_FULL) stops the run early and keeps what was committed and the error names the path") {
    fs::path dir = temp_dir("full");
    std::string db = (dir / "cache.db").string();
    PageLimit limit(40);  // 160 KiB: room for some answers of the batch, not all
    check_full_cache_stops_the_run(db);
}

TEST_CASE("a cache on a full tmpfs stops the run early and keeps what was committed and the error names the path") {
    fs::path dir = temp_dir("tmpfs");
    Tmpfs disk(dir, "256k");
    if (!disk.ok()) {
        WARN("skipped: cannot mount a tmpfs here (" << disk.why << "); the SQLITE_FULL variant above always runs");
        return;
    }
    check_full_cache_stops_the_run((dir / "cache.db").string());
}

TEST_CASE("a corrupted cache (header destroyed or pages of random bytes mid-file) is refused with what to do") {
    fs::path dir = temp_dir("corrupt");
    for (bool header : {true, false}) {
        std::string db = (dir / (header ? "header.db" : "pages.db")).string();
        write_cache(db, 3000, 300);
        auto size = fs::file_size(db);
        REQUIRE(size > 200 * 4096);
        if (header) overwrite(db, 0, 4096, 1);
        else overwrite(db, size / 2, 8 * 4096, 2);  // eight pages in the middle
        INFO((header ? "header" : "mid-file pages"));
        for (auto access : {CacheAccess::Write, CacheAccess::Read}) {
            std::string err;
            CHECK_FALSE(open_sqlite_store(db, err, access));
            CHECK(err.find("cache at " + db + " is corrupted (") == 0);
            CHECK(err.find("move it away") != std::string::npos);
        }
        for (const char* mode : {"rw", "read", "replay", "refresh"}) {
            EngineOptions o;
            o.cache_mode = *parse_cache_mode(mode);
            o.cache_path = db;
            INFO(mode);
            CHECK_THROWS_WITH(Engine(test::load(kOneCall), o), Catch::Contains("is corrupted"));
        }
    }
}

TEST_CASE("corruption found mid-run fails the store loudly with the path") {
    fs::path dir = temp_dir("corrupt-mid-run");
    std::string db = (dir / "cache.db").string();
    write_cache(db, 3000, 1500);  // ~5 MB: more than SQLite's page cache holds
    std::string err;
    auto store = open_sqlite_store(db, err, CacheAccess::Read);
    REQUIRE(store);
    auto size = fs::file_size(db);
    overwrite(db, 4096, size - 4096, 3);  // everything but the header, behind SQLite's back
    for (int i = 0; i < 3000 && store->failure().empty(); ++i) {
        char key[40];
        std::snprintf(key, sizeof key, "%032d", i);
        store->get(key);
    }
    CHECK(store->failure().find("cache at " + db + " is corrupted") == 0);
}

TEST_CASE("a missing cache is never created by modes that only read") {
    fs::path dir = temp_dir("missing");
    std::string db = (dir / "missing.db").string();
    std::string err;
    CHECK_FALSE(open_sqlite_store(db, err, CacheAccess::Read));
    CHECK(err == "no cache at " + db);
    CHECK_FALSE(fs::exists(db));
    EngineOptions o;
    o.cache_mode = CacheMode::Replay;
    o.cache_path = db;
    CHECK_THROWS_WITH(Engine(test::load(kOneCall), o), "no cache at " + db);
    CHECK_FALSE(fs::exists(db));
}

TEST_CASE("a cache in a read-only directory serves read and replay but rw refuses to start and says why") {
    fs::path dir = temp_dir("read-only");
    std::string db = (dir / "cache.db").string();
    std::optional<Tmpfs> disk;
    if (geteuid() == 0) {  // root ignores permissions: make the directory a read-only mount
        disk.emplace(dir, "4m");
        if (!disk->ok()) {
            WARN("skipped: running as root and cannot mount a tmpfs to make read-only (" << disk->why << ")");
            return;
        }
    }
    std::string answer;
    {
        EngineOptions o;
        o.cache_mode = CacheMode::ReadWrite;
        o.cache_path = db;
        JobResult r = Engine(test::load(kOneCall), o).run_one("recorded");
        REQUIRE(r.ok);
        answer = r.output();
    }
    REQUIRE_FALSE(fs::exists(db + "-wal"));  // the last connection checkpointed it
    if (disk) REQUIRE(disk->remount_read_only());
    else fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
    for (const char* mode : {"read", "replay"}) {
        Counter counter;
        EngineOptions o;
        o.cache_mode = *parse_cache_mode(mode);
        o.cache_path = db;
        o.observer = &counter;
        Engine e(test::load(kOneCall), o);
        JobResult r = e.run_one("recorded");
        INFO(mode << ": " << r.error);
        CHECK(r.ok);
        CHECK(r.output() == answer);
        CHECK(counter.attempts == 0);
        CHECK(e.cache_error().empty());
    }
    for (const char* mode : {"rw", "refresh"}) {
        EngineOptions o;
        o.cache_mode = *parse_cache_mode(mode);
        o.cache_path = db;
        INFO(mode);
        CHECK_THROWS_WITH(Engine(test::load(kOneCall), o),
                          Catch::StartsWith("cache at " + db + " is not writable (") &&
                              Catch::Contains("answers would not be stored") && Catch::Contains("--cache read"));
    }
    if (!disk) fs::permissions(dir, fs::perms::owner_all);
}

TEST_CASE("a cache path that cannot be opened is an error naming the path and the OS reason") {
    fs::path dir = temp_dir("unopenable");  // a directory where the file should be
    for (auto access : {CacheAccess::Write, CacheAccess::Read}) {
        std::string err;
        CHECK_FALSE(open_sqlite_store(dir.string(), err, access));
        CHECK(err.find("cannot open cache " + dir.string() + ": ") == 0);
        CHECK(err.find("(Is a directory)") != std::string::npos);
    }
    std::string err;
    CHECK_FALSE(open_sqlite_store("/dev/null/cache.db", err));
    CHECK(err == "cannot open cache /dev/null/cache.db: unable to open database file (Not a directory)");
}

TEST_CASE("a write lock held too long by another connection (SQLITE_BUSY) fails the store loudly with the path") {
    fs::path dir = temp_dir("busy");
    std::string db = (dir / "cache.db").string();
    write_cache(db, 10, 100);
    sqlite3* other = nullptr;  // another writer, holding the lock
    REQUIRE(sqlite3_open(db.c_str(), &other) == SQLITE_OK);
    REQUIRE(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
    std::string err;
    auto store = open_sqlite_store(db, err, CacheAccess::Write, 50);
    REQUIRE(store);
    CacheRecord r;
    r.key = "busy";
    r.entry = {"answer", 1, 1};
    store->begin_batch();
    store->put(r);
    store->end_batch();
    CHECK(store->failure() ==
          "cache " + db + ": cannot start a write: database is locked (another process held it longer than the busy timeout)");
    sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(other);
}
