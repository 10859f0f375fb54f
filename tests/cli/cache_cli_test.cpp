// `moa run` and `moa cache` when the cache database is missing, corrupted, read-only or
// full: a clear message with the path and what to do, a non-zero exit, nothing created.
#include <catch2/catch.hpp>

#include "shell.hpp"

#include <sqlite3.h>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;

namespace {

using moa::test::Run;

Run run(const std::string& args, const std::string& prefix = "", const std::string& redirect = "2>&1") {
    std::string cmd = "cd " MOA_SOURCE_DIR " && " + prefix + " NO_COLOR=1 " MOA_BIN " " + args + " " + redirect;
    moa::test::Run r = moa::test::shell(cmd);
    return r;
}

// `args` with stdout sent to `target` and stderr captured.
Run run_stdout_to(const std::string& args, const std::string& target) {
    return run(args, "", "2>&1 >" + target);
}

bool is_char_device(const char* p) {
    std::error_code ec;
    return fs::is_character_file(p, ec);
}

fs::path temp_dir(const std::string& name) {
    fs::path p = fs::temp_directory_path() / "moa-cli-test" / ("cache-" + name);
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
}

const std::string kSim = "graphs/paper-moa-sim.moa --set sim.latency={first_token=1ms} --no-progress ";

// A batch of `n` questions, recorded into `db` (13 calls per question).
std::string record(const fs::path& dir, const std::string& db, int n) {
    std::string in = (dir / "in.jsonl").string();
    std::ofstream f(in);
    for (int i = 0; i < n; ++i) f << "{\"id\":\"" << i << "\",\"prompt\":\"question " << i << "\"}\n";
    f.close();
    auto r = run("run " + kSim + "-q --cache-db " + db + " --input " + in);
    REQUIRE(r.code == 0);
    return in;
}

long entries(const std::string& db) {
    auto s = run("cache stats --cache-db " + db);
    auto at = s.out.find("entries: ");
    return s.code == 0 && at != std::string::npos ? std::stol(s.out.substr(at + 9)) : -1;
}

size_t count(const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
    return n;
}

struct Tmpfs {  // root only; ok() false elsewhere
    fs::path dir;
    std::string why;
    Tmpfs(const fs::path& d, const char* size) : dir(d) {
        std::string opts = std::string("size=") + size;
        if (mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) != 0) why = std::strerror(errno);
    }
    bool ok() const { return why.empty(); }
    ~Tmpfs() {
        if (ok()) umount2(dir.c_str(), MNT_DETACH);
    }
};

void sqlite_exec(const std::string& db, const std::string& sql) {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
    CHECK(sqlite3_exec(h, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(h);
}

}  // namespace

TEST_CASE("moa cache prune --older-than takes the language's durations and 'h' '5days' '2weeks' are usage errors") {
    fs::path dir = temp_dir("prune-age");
    std::string db = (dir / "cache.db").string();
    record(dir, db, 1);
    REQUIRE(entries(db) == 13);
    for (const char* bad : {"h", "5days", "2weeks", "7", "-1d"}) {
        auto r = run("cache prune --older-than " + std::string(bad) + " --cache-db " + db);
        INFO(bad << ": " << r.out);
        CHECK(r.code == 2);
        CHECK(r.out.find(std::string("--older-than ") + bad + ": ") != std::string::npos);
        CHECK(r.out.find("90min, 12h, 7d or 2w") != std::string::npos);
        CHECK(entries(db) == 13);  // nothing deleted
    }
    CHECK(run("cache prune --older-than 5days --cache-db " + db).out.find("unknown unit 'days'") != std::string::npos);
    for (const char* age : {"7d", "2w", "90min", "1.5h"}) CHECK(run("cache prune --older-than " + std::string(age) + " --cache-db " + db).out == "pruned 0 entries\n");
    CHECK(entries(db) == 13);
}

TEST_CASE("moa cache on a missing database says 'no cache at PATH' and exits 1 and creates nothing") {
    fs::path dir = temp_dir("missing");
    std::string db = (dir / "missing.db").string();
    for (const std::string& cmd : std::vector<std::string>{"stats", "export -", "export " + (dir / "x.jsonl").string(), "prune --older-than 1d"}) {
        auto r = run("cache --cache-db " + db + " " + cmd);
        INFO(cmd);
        CHECK(r.code == 1);
        CHECK(r.out == "moa cache: no cache at " + db + "\n");
        CHECK_FALSE(fs::exists(db));
    }
    CHECK_FALSE(fs::exists(dir / "x.jsonl"));
    auto r = run("run " + kSim + "--cache replay --cache-db " + db + " q");
    CHECK(r.code == 1);
    CHECK(r.out.find("no cache at " + db) != std::string::npos);
    CHECK_FALSE(fs::exists(db));
}

TEST_CASE("a corrupted cache.db makes run and stats and export and prune exit 1 and say what to do") {
    fs::path dir = temp_dir("corrupt");
    std::string good = (dir / "good.db").string();
    std::string in = record(dir, good, 150);  // ~2000 entries
    auto size = fs::file_size(good);
    REQUIRE(size > 100 * 4096);
    for (bool header : {true, false}) {
        std::string db = (dir / (header ? "header.db" : "pages.db")).string();
        fs::copy_file(good, db, fs::copy_options::overwrite_existing);
        std::mt19937 rng(header ? 7 : 8);
        std::string junk(header ? 4096 : 6 * 4096, '\0');
        for (auto& ch : junk) ch = static_cast<char>(rng());
        std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(header ? 0 : size / 2 / 4096 * 4096));
        f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
        f.close();
        std::string out = (dir / "export.jsonl").string();
        for (const std::string& cmd : std::vector<std::string>{"cache stats --cache-db " + db, "cache export " + out + " --cache-db " + db,
                                "cache prune --older-than 1s --cache-db " + db,
                                "run " + kSim + "--cache-db " + db + " --input " + in,
                                "run " + kSim + "--cache read --cache-db " + db + " --input " + in}) {
            auto r = run(cmd);
            INFO((header ? "header: " : "pages: ") << cmd << "\n" << r.out);
            CHECK(r.code == 1);
            CHECK(r.out.find("cache at " + db + " is corrupted (") != std::string::npos);
            CHECK(r.out.find("move it away (mv " + db + " " + db + ".corrupt)") != std::string::npos);
            CHECK(r.out.find("{\"id\"") == std::string::npos);  // no job ran
        }
        CHECK_FALSE(fs::exists(out));
    }
}

TEST_CASE("a cache in a read-only directory works for --cache read and replay and stats and export but rw refuses") {
    fs::path dir = temp_dir("read-only");
    std::string db = (dir / "cache.db").string();
    std::optional<Tmpfs> disk;
    if (geteuid() == 0) {  // root ignores permissions: a read-only mount instead
        disk.emplace(dir, "8m");
        if (!disk->ok()) {
            WARN("skipped: running as root and cannot mount a tmpfs to make read-only (" << disk->why << ")");
            return;
        }
    }
    REQUIRE(run("run " + kSim + "-q --cache-db " + db + " q").code == 0);
    if (disk) REQUIRE(mount("tmpfs", dir.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, nullptr) == 0);
    else fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
    for (const char* mode : {"read", "replay"}) {
        auto r = run("run " + kSim + "--cache " + mode + " --cache-db " + db + " q");
        INFO(mode << ": " << r.out);
        CHECK(r.code == 0);
    }
    auto s = run("cache stats --cache-db " + db);
    CHECK(s.code == 0);
    CHECK(s.out.find("entries: 13\n") != std::string::npos);
    std::string out = (temp_dir("read-only-export") / "e.jsonl").string();
    CHECK(run("cache export " + out + " --cache-db " + db).out == "exported 13 entries to " + out + "\n");
    auto rw = run("run " + kSim + "--cache-db " + db + " q");
    CHECK(rw.code == 1);
    CHECK(rw.out.find("cache at " + db + " is not writable (") != std::string::npos);
    CHECK(rw.out.find("answers would not be stored. Use --cache read") != std::string::npos);
    if (!disk) fs::permissions(dir, fs::perms::owner_all);
}

TEST_CASE("moa run with a cache that cannot grow stops early and exits 1 and names the path and keeps every answer") {
    // An injected write failure that runs everywhere: the file-size limit (ulimit -f)
    // makes SQLite's writes past ~256 KiB fail, like a full disk; then a real full tmpfs.
    fs::path dir = temp_dir("full");
    std::string in = (dir / "in.jsonl").string();
    {
        std::ofstream f(in);
        for (int i = 0; i < 1000; ++i) f << "{\"id\":\"" << i << "\",\"prompt\":\"question " << i << "\"}\n";
    }
    auto check_run = [&](const std::string& db, const std::string& prefix, const char* reason) {
        auto r = run("run " + kSim + "--max-jobs 4 --cache-db " + db + " --input " + in, prefix);
        INFO(r.out.substr(r.out.size() > 3000 ? r.out.size() - 3000 : 0));
        CHECK(r.code == 1);
        CHECK(r.out.find("cache " + db + ": write failed: " + reason) != std::string::npos);
        CHECK(r.out.find("the run stopped early") != std::string::npos);
        size_t ok = count(r.out, "\"ok\":true");
        CHECK(ok > 0);
        CHECK(count(r.out, "\"ok\":false") == 0);  // the jobs in flight finished
        CHECK(count(r.out, "{\"id\"") < 1000);  // stopped early
        CHECK(count(r.out, "error: ") == 1);    // said once
        // What was committed stays, and can be read back.
        long stored = entries(db);
        CHECK(stored > 0);
        CHECK(stored <= static_cast<long>(ok) * 13);
    };
    SECTION("file size limit (always runs)") {
        check_run((dir / "limited.db").string(), "trap '' XFSZ; ulimit -f 512;", "disk I/O error");
    }
    SECTION("a full tmpfs") {
        fs::path mnt = dir / "mnt";
        fs::create_directories(mnt);
        Tmpfs disk(mnt, "1m");
        if (!disk.ok()) {
            WARN("skipped: cannot mount a tmpfs here (" << disk.why << "); the file-size-limit variant always runs");
            return;
        }
        check_run((mnt / "cache.db").string(), "", "database or disk is full");
    }
}

TEST_CASE("moa cache commands that print to a full stdout exit 1 with 'writing stdout failed'") {
    if (!is_char_device("/dev/full")) {
        WARN("skipped: /dev/full is not a character device here");
        return;
    }
    fs::path dir = temp_dir("stdout-full");
    std::string db = (dir / "cache.db").string();
    std::string in = record(dir, db, 1);
    std::string exported = (dir / "e.jsonl").string();
    REQUIRE(run("cache export " + exported + " --cache-db " + db).code == 0);
    for (const std::string& cmd : std::vector<std::string>{"stats", "export -", "export " + (dir / "f.jsonl").string(), "import " + exported,
                                   "prune --older-than 1d"}) {
        auto r = run_stdout_to("cache --cache-db " + db + " " + cmd, "/dev/full");
        INFO(cmd << ": " << r.out);
        CHECK(r.code == 1);
        CHECK(r.out.find("writing stdout failed: No space left on device") != std::string::npos);
    }
}

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

TEST_CASE("moa cache export - writes the JSONL to stdout and the summary to stderr") {
    fs::path dir = temp_dir("export-stdout");
    std::string db = (dir / "cache.db").string();
    record(dir, db, 1);
    std::string file = (dir / "e.jsonl").string();
    REQUIRE(run("cache export " + file + " --cache-db " + db).code == 0);
    auto r = run("cache export - --cache-db " + db, "", "2>/dev/null");
    CHECK(r.code == 0);
    CHECK(r.out == slurp(file));
    auto e = run("cache export - --cache-db " + db, "", "2>&1 >/dev/null");
    CHECK(e.out == "exported 13 entries to stdout\n");
    CHECK_FALSE(fs::exists(fs::path(MOA_SOURCE_DIR) / "-"));
}

TEST_CASE("moa cache export follows a symlink and replaces its target, never the link") {
    fs::path dir = temp_dir("export-symlink");
    std::string db = (dir / "cache.db").string();
    record(dir, db, 1);
    fs::create_directories(dir / "real");
    std::ofstream(dir / "real" / "old.jsonl") << "old\n";
    fs::create_symlink("real/old.jsonl", dir / "link.jsonl");        // relative, to an existing file
    fs::create_symlink(dir / "real" / "new.jsonl", dir / "dangling.jsonl");  // to a file not there yet
    for (const char* name : {"link.jsonl", "dangling.jsonl"}) {
        auto r = run("cache export " + (dir / name).string() + " --cache-db " + db);
        INFO(name << ": " << r.out);
        CHECK(r.code == 0);
        CHECK(fs::is_symlink(dir / name));
        CHECK(count(slurp(dir / name), "\"key\":") == 13);
    }
    CHECK(count(slurp(dir / "real" / "old.jsonl"), "\"key\":") == 13);
    CHECK(count(slurp(dir / "real" / "new.jsonl"), "\"key\":") == 13);
    for (const auto& e : fs::recursive_directory_iterator(dir)) CHECK(e.path().extension() != ".tmp");
}

TEST_CASE("moa cache export writes a FIFO in place and leaves it a FIFO") {
    fs::path dir = temp_dir("export-fifo");
    std::string db = (dir / "cache.db").string();
    record(dir, db, 1);
    fs::path fifo = dir / "pipe";
    if (mkfifo(fifo.c_str(), 0600) != 0) {
        WARN("skipped: cannot make a FIFO here (" << std::strerror(errno) << ")");
        return;
    }
    fs::create_hard_link(fifo, dir / "pipe.keep");  // the FIFO stays reachable even if moa renames over it
    std::string got;
    std::thread reader([&] { got = slurp(fifo); });  // opening blocks until moa opens it
    auto r = run("cache export " + fifo.string() + " --cache-db " + db);
    int unblock = open((dir / "pipe.keep").c_str(), O_WRONLY | O_NONBLOCK);  // in case moa never opened it
    if (unblock >= 0) close(unblock);
    reader.join();
    INFO(r.out);
    CHECK(r.code == 0);
    CHECK(count(got, "\"key\":") == 13);
    CHECK(fs::is_fifo(fifo));
    CHECK_FALSE(fs::exists(dir / "pipe.tmp"));
}

TEST_CASE("moa cache export to a device writes it in place: a full device is exit 1 with the path and strerror") {
    // A private copy of /dev/full's node (major 1, minor 7) in a temp dir: the real /dev
    // is never a target.
    fs::path dir = temp_dir("export-device");
    std::string db = (dir / "cache.db").string();
    record(dir, db, 1);
    fs::path dev = dir / "full";
    if (mknod(dev.c_str(), S_IFCHR | 0600, makedev(1, 7)) != 0) {
        WARN("skipped: cannot make a device node here (" << std::strerror(errno) << ")");
        return;
    }
    int probe = open(dev.c_str(), O_WRONLY);
    if (probe < 0) {
        WARN("skipped: cannot open a device node in " << dir << " (" << std::strerror(errno) << ", a nodev mount?)");
        return;
    }
    close(probe);
    auto r = run("cache export " + dev.string() + " --cache-db " + db);
    INFO(r.out);
    CHECK(r.code == 1);
    CHECK(r.out.find("moa cache: writing " + dev.string() + " failed: No space left on device") != std::string::npos);
    CHECK(fs::is_character_file(dev));
    CHECK_FALSE(fs::exists(dir / "full.tmp"));
}

TEST_CASE("an empty cache.db is 'no cache at PATH (empty file)' for commands that only read, and rw fills it") {
    fs::path dir = temp_dir("empty-file");
    std::string db = (dir / "cache.db").string();
    std::ofstream(db).close();  // 0 bytes
    for (const std::string& cmd : std::vector<std::string>{"stats", "export " + (dir / "x.jsonl").string(), "prune --older-than 1d"}) {
        auto r = run("cache --cache-db " + db + " " + cmd);
        INFO(cmd);
        CHECK(r.code == 1);
        CHECK(r.out == "moa cache: no cache at " + db + " (empty file)\n");
        CHECK(fs::file_size(db) == 0);  // left as it was
    }
    CHECK_FALSE(fs::exists(dir / "x.jsonl"));
    for (const char* mode : {"read", "replay"}) {
        auto r = run("run " + kSim + "--cache " + mode + " --cache-db " + db + " q");
        INFO(mode << ": " << r.out);
        CHECK(r.code == 1);
        CHECK(r.out.find("no cache at " + db + " (empty file)") != std::string::npos);
        CHECK(r.out.find("no such table") == std::string::npos);
    }
    REQUIRE(run("run " + kSim + "-q --cache-db " + db + " q").code == 0);  // rw: an empty cache
    CHECK(entries(db) == 13);
}

TEST_CASE("an SQLite file that is not a moa cache is named as such, not 'no such table'") {
    fs::path dir = temp_dir("not-a-cache");
    std::string db = (dir / "other.db").string();
    sqlite_exec(db, "CREATE TABLE t(x)");
    auto r = run("cache stats --cache-db " + db);
    CHECK(r.code == 1);
    CHECK(r.out == "moa cache: " + db + " is not a moa cache (it has no responses table)\n");
}

TEST_CASE("moa cache prune --older-than 0d prunes every entry, even ones written this second, and says how many") {
    fs::path dir = temp_dir("prune-zero");
    std::string db = (dir / "cache.db").string();
    for (const char* age : {"0d", "0s", "500ms"}) {
        record(dir, db, 1);
        REQUIRE(entries(db) == 13);
        auto r = run("cache prune --older-than " + std::string(age) + " --cache-db " + db);
        INFO(age);
        CHECK(r.code == 0);
        CHECK(r.out == "pruned 13 entries\n");
        CHECK(entries(db) == 0);
    }
}

TEST_CASE("moa cache export to a path that is its own stdout writes stdout, whatever stdout is") {
    // /proc/self/fd/1, not /dev/stdout: a regression renaming over it fails harmlessly.
    if (!fs::exists("/proc/self/fd/1")) {
        WARN("skipped: no /proc/self/fd here");
        return;
    }
    fs::path dir = temp_dir("export-own-stdout");
    std::string db = (dir / "cache.db").string();
    record(dir, db, 1);
    fs::path out = dir / "out.jsonl";
    auto r = run("cache export /proc/self/fd/1 --cache-db " + db, "", "2>&1 >" + out.string());
    CHECK(r.code == 0);
    CHECK(r.out == "exported 13 entries to stdout\n");
    CHECK(count(slurp(out), "\"key\":") == 13);
    auto piped = run("cache export /proc/self/fd/1 --cache-db " + db, "", "2>/dev/null");  // a pipe
    CHECK(piped.code == 0);
    CHECK(count(piped.out, "\"key\":") == 13);
    CHECK_FALSE(fs::exists(dir / "out.jsonl.tmp"));
}
