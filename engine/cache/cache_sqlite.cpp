// The SQLite store of the response cache, and the `moa cache` maintenance commands.
#include <sqlite3.h>

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <unordered_map>

#include "moa/batch_io.hpp"
#include "cache/cache.hpp"
#include "cache/cache_tools.hpp"
#include "io/export_file.hpp"

namespace moa {

namespace {

bool exists(const std::string& path) {
    std::error_code ec;
    return std::filesystem::exists(path, ec);
}
bool empty_file(const std::string& path) {
    std::error_code ec;
    return std::filesystem::file_size(path, ec) == 0 && !ec;
}

// SQLite's message, plus the OS's reason when the failure came from the OS.
std::string reason(sqlite3* db, int rc) {
    std::string r = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    int prim = rc & 0xff;
    int e = db ? sqlite3_system_errno(db) : 0;
    if (e && (prim == SQLITE_IOERR || prim == SQLITE_FULL || prim == SQLITE_CANTOPEN || prim == SQLITE_READONLY))
        r += std::string(" (") + std::strerror(e) + ")";
    return r;
}

bool corrupt(int rc) { return (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB; }

std::string corrupted_message(const std::string& path, const std::string& why) {
    return "cache at " + path + " is corrupted (" + why + "): move it away (mv " + path + " " + path +
           ".corrupt) and the next run starts an empty cache; `sqlite3 " + path + ".corrupt .recover` may save part of it";
}

// A URI for sqlite3_open_v2 with SQLITE_OPEN_URI: the path percent-encoded where needed.
std::string file_uri(const std::string& path, const char* query) {
    std::string u = "file:";
    for (unsigned char ch : path) {
        if (ch == '?' || ch == '#' || ch == '%' || ch < 0x20 || ch >= 0x7f) {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", ch);
            u += buf;
        } else {
            u += static_cast<char>(ch);
        }
    }
    return u + "?" + query;
}

class Db {
public:
    // Write: creates the file (and its directory), fails on a read-only cache.
    // Read: never creates or writes; opens a cache whose directory is read-only too.
    // Both check the file first: a corrupted cache is an error, not an empty one.
    Db(const std::string& path, CacheAccess access, std::string& error) : path_(path) {
        if (access == CacheAccess::Read) open_read(error);
        else open_write(error);
        if (!error.empty()) close();
    }
    ~Db() { close(); }
    bool ok() const { return db_ != nullptr; }
    sqlite3* get() { return db_; }
    const std::string& path() const { return path_; }
    // The return code of sqlite3_exec; `error` names the path and the reason.
    int exec(const char* sql, std::string& error) {
        int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
        if (rc != SQLITE_OK) error = describe(rc);
        return rc;
    }
    std::string describe(int rc) {
        if (corrupt(rc)) return corrupted_message(path_, reason(db_, rc));
        return "cache " + path_ + ": " + reason(db_, rc);
    }

private:
    void close() {
        sqlite3_close_v2(db_);
        db_ = nullptr;
    }
    bool open(const std::string& name, int flags, std::string& error) {
        close();
        int rc = sqlite3_open_v2(name.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr);
        if (rc != SQLITE_OK) {
            error = "cannot open cache " + path_ + ": " + reason(db_, rc);
            return false;
        }
        // Several moa processes may share the file: WAL lets readers and one writer
        // proceed together, and writers wait for each other instead of failing.
        sqlite3_busy_timeout(db_, 30000);
        return true;
    }
    // PRAGMA quick_check: O(file size), a few ms for a cache of thousands of entries
    // (docs/performance.md). Returns the SQLite code; `why` says what is wrong.
    int quick_check(std::string& why) {
        sqlite3_stmt* st = nullptr;
        int rc = sqlite3_prepare_v2(db_, "PRAGMA quick_check(1)", -1, &st, nullptr);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(st);
            if (rc == SQLITE_ROW) {
                auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
                std::string r = t ? t : "";
                rc = r == "ok" ? SQLITE_OK : SQLITE_CORRUPT;
                if (rc != SQLITE_OK) why = r;
            }
        }
        if (rc != SQLITE_OK && why.empty()) why = reason(db_, rc);
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    void open_read(std::string& error) {
        if (!exists(path_)) {
            error = "no cache at " + path_;
            return;
        }
        if (!open(path_, SQLITE_OPEN_READONLY, error)) return;
        std::string why;
        int rc = quick_check(why);
        if ((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_READONLY) {
            // WAL needs PATH-shm, which a read-only directory cannot hold. With no WAL
            // content pending, the file alone is the whole cache: read it as immutable.
            std::error_code ec;
            auto wal = std::filesystem::file_size(path_ + "-wal", ec);
            if (!ec && wal > 0) {
                error = "cannot read cache " + path_ + ": " + why + "; its directory is read-only and " + path_ +
                        "-wal holds answers not yet in the file (open it once where it is writable)";
                return;
            }
            if (!open(file_uri(path_, "immutable=1"), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, error)) return;
            why.clear();
            rc = quick_check(why);
        }
        if (corrupt(rc)) error = corrupted_message(path_, why);
        else if (rc != SQLITE_OK) error = "cannot read cache " + path_ + ": " + why;
        else check_schema(error);
    }
    // A file without the cache's table is no cache to read: a 0-byte file (SQLite
    // accepts it as an empty database) is "no cache", like a missing one; another
    // SQLite database is named as such. Never "no such table: responses".
    void check_schema(std::string& error) {
        int rc = sqlite3_exec(db_, "SELECT 1 FROM responses LIMIT 0", nullptr, nullptr, nullptr);
        if (rc == SQLITE_OK) return;
        if (rc != SQLITE_ERROR) error = describe(rc);  // SQLITE_ERROR: no such table
        else if (empty_file(path_)) error = "no cache at " + path_ + " (empty file)";
        else error = path_ + " is not a moa cache (it has no responses table)";
    }
    void open_write(std::string& error) {
        auto dir = std::filesystem::path(path_).parent_path();
        if (!dir.empty() && !exists(dir.string())) {
            std::error_code ec;
            std::filesystem::create_directories(dir, ec);
            if (ec) {
                error = "cannot create the cache directory " + dir.string() + ": " + ec.message();
                return;
            }
        }
        if (!open(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, error)) return;
        std::string why;
        int rc = sqlite3_db_readonly(db_, "main") == 1 ? SQLITE_READONLY : quick_check(why);
        if (corrupt(rc)) {
            error = corrupted_message(path_, why);
            return;
        }
        for (const char* sql : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                                "CREATE TABLE IF NOT EXISTS responses(key TEXT PRIMARY KEY, node TEXT, model TEXT, "
                                "backend TEXT, request TEXT, text TEXT, tokens_in INTEGER, tokens_out INTEGER, created INTEGER)",
                                "CREATE INDEX IF NOT EXISTS responses_by_node ON responses(node, created)",
                                "CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER)"}) {
            if (rc != SQLITE_OK) break;
            rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
            if (rc != SQLITE_OK) why = reason(db_, rc);
        }
        if (rc == SQLITE_OK) return;
        int prim = rc & 0xff;
        if (prim == SQLITE_READONLY || prim == SQLITE_CANTOPEN || prim == SQLITE_PERM) {
            std::string dir_s = dir.empty() ? "." : dir.string();
            std::string os = access(dir_s.c_str(), W_OK) != 0 ? std::string(": ") + std::strerror(errno) : "";
            error = "cache at " + path_ + " is not writable (" + (why.empty() ? "read-only file" : why) + "; directory " +
                    dir_s + os + "): answers would not be stored. Use --cache read (or replay) to use it without storing "
                    "answers, --cache off, or --cache-db a writable path";
        } else if (corrupt(rc)) {
            error = corrupted_message(path_, why);
        } else {
            error = "cannot open cache " + path_ + ": " + why;
        }
    }

    std::string path_;
    sqlite3* db_ = nullptr;
};

struct Stmt {
    sqlite3_stmt* s = nullptr;
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &s, nullptr); }
    ~Stmt() { sqlite3_finalize(s); }
    void text(int i, const std::string& v) { sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT); }
    void integer(int i, int64_t v) { sqlite3_bind_int64(s, i, v); }
    std::string col(int i) {
        auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
        return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s, i))) : "";
    }
};

class SqliteStore : public CacheStore {
public:
    SqliteStore(const std::string& path, CacheAccess access, int busy_ms, std::string& error)
        : db_(path, access, error), writable_(access == CacheAccess::Write) {
        if (!db_.ok() || !error.empty()) return;
        sqlite3_busy_timeout(db_.get(), busy_ms);
        get_ = std::make_unique<Stmt>(db_.get(), "SELECT text, tokens_in, tokens_out FROM responses WHERE key = ?");
        if (writable_)
            put_ = std::make_unique<Stmt>(db_.get(),
                                          "INSERT OR REPLACE INTO responses(key, node, model, backend, request, text, "
                                          "tokens_in, tokens_out, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
        if (!get_->s || (writable_ && !put_->s)) error = db_.describe(sqlite3_errcode(db_.get()));
    }
    std::string failure() const override { return failure_; }

    // A batch of writes is one transaction: durable when the batch ends, which is as
    // soon as the cache thread has caught up with the answers that arrived.
    void begin_batch() override {
        if (!writable_ || !failure_.empty()) return;
        std::string err;
        int rc = db_.exec("BEGIN IMMEDIATE", err);
        in_batch_ = rc == SQLITE_OK;
        if (!in_batch_) fail(rc, "cannot start a write");
    }
    void end_batch() override {
        if (!in_batch_) return;
        in_batch_ = false;
        std::string err;
        int rc = failure_.empty() ? db_.exec("COMMIT", err) : SQLITE_ERROR;
        if (rc != SQLITE_OK) {
            if (failure_.empty()) fail(rc, "write failed");
            salvage();
        }
        pending_.clear();
    }

    std::optional<CacheEntry> get(const std::string& key) override {
        if (auto it = front_.find(key); it != front_.end()) return it->second;
        if (!failure_.empty()) return std::nullopt;
        Stmt& st = *get_;
        sqlite3_reset(st.s);
        st.text(1, key);
        int rc = sqlite3_step(st.s);
        if (rc != SQLITE_ROW) {
            if (rc != SQLITE_DONE) fail(rc, "read failed");
            sqlite3_reset(st.s);
            return std::nullopt;
        }
        CacheEntry e{st.col(0), static_cast<uint32_t>(sqlite3_column_int64(st.s, 1)),
                     static_cast<uint32_t>(sqlite3_column_int64(st.s, 2))};
        sqlite3_reset(st.s);
        remember(key, e);
        return e;
    }

    void put(const CacheRecord& r) override {
        if (!writable_ || !failure_.empty()) return;
        if (in_batch_) pending_.push_back(r);
        int rc = insert(r);
        if (rc != SQLITE_DONE) return fail(rc, "write failed");
        remember(r.key, r.entry);
    }

    std::optional<CacheRecord> latest_for_node(const std::string& node) override {
        Stmt st(db_.get(), "SELECT key, model, backend, request, created FROM responses WHERE node = ? ORDER BY created DESC LIMIT 1");
        st.text(1, node);
        if (sqlite3_step(st.s) != SQLITE_ROW) return std::nullopt;
        CacheRecord r;
        r.key = st.col(0);
        r.node = node;
        r.model = st.col(1);
        r.backend = st.col(2);
        r.request = st.col(3);
        r.created = sqlite3_column_int64(st.s, 4);
        return r;
    }

    void add_counters(uint64_t hits, uint64_t misses) override {
        if (!writable_ || !failure_.empty()) return;  // counters are not worth failing a read-only run for
        for (auto [name, v] : {std::pair<const char*, uint64_t>{"hits", hits}, {"misses", misses}}) {
            Stmt st(db_.get(), "INSERT INTO counters(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value");
            st.text(1, name);
            st.integer(2, static_cast<int64_t>(v));
            sqlite3_step(st.s);
        }
    }

private:
    int insert(const CacheRecord& r) {
        Stmt& st = *put_;
        sqlite3_reset(st.s);
        st.text(1, r.key);
        st.text(2, r.node);
        st.text(3, r.model);
        st.text(4, r.backend);
        st.text(5, r.request);
        st.text(6, r.entry.text);
        st.integer(7, r.entry.tokens_in);
        st.integer(8, r.entry.tokens_out);
        st.integer(9, r.created);
        int rc = sqlite3_step(st.s);
        sqlite3_reset(st.s);
        return rc;
    }
    void fail(int rc, const char* what) {
        if (!failure_.empty()) return;
        if (corrupt(rc)) failure_ = corrupted_message(db_.path(), reason(db_.get(), rc));
        else failure_ = "cache " + db_.path() + ": " + what + ": " + reason(db_.get(), rc);
        if ((rc & 0xff) == SQLITE_BUSY) failure_ += " (another process held it longer than the busy timeout)";
    }
    // A failed transaction may take the batch's earlier rows with it: roll back and
    // store them one by one, so every answer that still fits is kept.
    void salvage() {
        std::string err;
        if (!sqlite3_get_autocommit(db_.get())) db_.exec("ROLLBACK", err);
        for (const auto& r : pending_)
            if (insert(r) != SQLITE_DONE) break;
    }
    void remember(const std::string& key, const CacheEntry& e) {  // the in-memory front
        if (front_.size() >= 100000) front_.clear();
        front_[key] = e;
    }
    Db db_;
    bool writable_;
    std::unique_ptr<Stmt> get_, put_;  // declared after db_: finalized before it closes
    bool in_batch_ = false;
    std::vector<CacheRecord> pending_;  // this batch's rows, for salvage()
    std::string failure_;
    std::unordered_map<std::string, CacheEntry> front_;
};

}  // namespace

std::unique_ptr<CacheStore> open_sqlite_store(const std::string& path, std::string& error, CacheAccess access,
                                              int busy_timeout_ms) {
    auto s = std::make_unique<SqliteStore>(path, access, busy_timeout_ms, error);
    if (!error.empty()) return nullptr;
    return s;
}

// ---- moa cache stats | prune | export | import ---------------------------------------
// Every command says "no cache at PATH" (exit 1) rather than create one, refuses a
// corrupted file with what to do, and checks every step: a query that stops early is an
// error, never a short answer.

namespace {

// Steps `st` once; false (with the reason in `err`) unless it gave a row or finished.
bool step(Db& db, Stmt& st, int& rc, std::string& err) {
    rc = st.s ? sqlite3_step(st.s) : sqlite3_errcode(db.get());
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) return true;
    err = db.describe(rc);
    return false;
}

int fail(const std::string& err) {
    std::cerr << "moa cache: " << err << "\n";
    return 1;
}

// Flushes what a command printed: a full disk or closed pipe on stdout is the
// command's failure (exit 1), never a silent short report.
int finish(std::ostream& out) {
    errno = 0;
    out.flush();
    if (out) return 0;
    int e = errno;
    return fail(std::string("writing stdout failed: ") + (e ? std::strerror(e) : "the stream reported an error"));
}

}  // namespace

int cache_stats(const std::string& path, std::ostream& out) {
    std::string err;
    Db db(path, CacheAccess::Read, err);
    if (!err.empty()) return fail(err);
    int rc = 0;
    Stmt n(db.get(), "SELECT COUNT(*), COALESCE(SUM(tokens_in), 0), COALESCE(SUM(tokens_out), 0) FROM responses");
    if (!step(db, n, rc, err)) return fail(err);
    std::ostringstream o;  // printed only when every query succeeded
    std::error_code ec;
    auto bytes = std::filesystem::file_size(path, ec);
    o << "cache: " << path << "\n";
    o << "entries: " << sqlite3_column_int64(n.s, 0) << "\n";
    o << "file size: " << (ec ? 0 : bytes) << " bytes (+ WAL)\n";
    o << "tokens stored: " << sqlite3_column_int64(n.s, 1) << " in, " << sqlite3_column_int64(n.s, 2) << " out\n";
    Stmt c(db.get(), "SELECT (SELECT COALESCE(value, 0) FROM counters WHERE name = 'hits'), (SELECT COALESCE(value, 0) FROM counters WHERE name = 'misses')");
    if (!step(db, c, rc, err)) return fail(err);
    int64_t h = sqlite3_column_int64(c.s, 0), m = sqlite3_column_int64(c.s, 1);
    o << "lookups: " << h << " hits, " << m << " misses";
    if (h + m > 0) o << " (hit rate " << (100 * h / (h + m)) << "%)";
    o << "\nby model:\n";
    Stmt by(db.get(), "SELECT model, COUNT(*) FROM responses GROUP BY model ORDER BY COUNT(*) DESC, model");
    while (step(db, by, rc, err) && rc == SQLITE_ROW) o << "  " << by.col(0) << ": " << sqlite3_column_int64(by.s, 1) << "\n";
    if (!err.empty()) return fail(err);
    out << o.str();
    return finish(out);
}

int cache_prune(const std::string& path, int64_t older_than_s, const std::string& model, std::ostream& out) {
    if (!exists(path)) return fail("no cache at " + path);
    if (empty_file(path)) return fail("no cache at " + path + " (empty file)");  // nothing to prune; left as it is
    std::string err;
    Db db(path, CacheAccess::Write, err);
    if (!err.empty()) return fail(err);
    int64_t now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    // Ages are whole seconds: "older than 0" (0d, 500ms) is every entry, also those
    // written in this very second, which `created < now` would keep.
    if (older_than_s == 0) older_than_s = -1;
    Stmt st(db.get(), "DELETE FROM responses WHERE (? < 0 OR created < ?) AND (? = '' OR model = ?)");
    st.integer(1, older_than_s);
    st.integer(2, now - older_than_s);
    st.text(3, model);
    st.text(4, model);
    int rc = 0;
    if (!step(db, st, rc, err)) return fail(err);
    out << "pruned " << sqlite3_changes(db.get()) << " entries\n";
    if (db.exec("VACUUM", err) != SQLITE_OK) return fail("pruned, but VACUUM failed: " + err);
    return finish(out);
}

int cache_export(const std::string& path, const std::string& file, std::ostream& out) {
    std::string err;
    Db db(path, CacheAccess::Read, err);
    if (!err.empty()) return fail(err);
    ExportFile f;  // FILE.tmp renamed onto FILE: a failed export leaves no short file
    if (!f.open(file, err)) return fail(err);
    Stmt st(db.get(), "SELECT key, node, model, backend, request, text, tokens_in, tokens_out, created FROM responses ORDER BY key");
    size_t n = 0;
    int rc = 0;
    while (step(db, st, rc, err) && rc == SQLITE_ROW) {
        std::string line;
        const char* names[] = {"key", "node", "model", "backend", "request", "text"};
        for (int i = 0; i < 6; ++i) {
            line += i ? ",\"" : "{\"";
            line += std::string(names[i]) + "\":";
            append_json_string(line, st.col(i));
        }
        line += ",\"tokens_in\":" + std::to_string(sqlite3_column_int64(st.s, 6)) +
                ",\"tokens_out\":" + std::to_string(sqlite3_column_int64(st.s, 7)) +
                ",\"created\":" + std::to_string(sqlite3_column_int64(st.s, 8)) + "}\n";
        f.write(line);
        ++n;
    }
    bool in_place = f.in_place();
    if (err.empty()) f.commit(err);
    if (!err.empty()) {
        f.abandon();
        std::string where = f.is_stdout() ? "stdout" : file;
        return fail(err + " (after " + std::to_string(n) + " entries; " +
                    (in_place ? "what was written to " + where + " is incomplete)" : "nothing written to " + file + ")"));
    }
    // With `-` the export is stdout: the summary goes to stderr.
    std::ostream& report = f.is_stdout() ? std::cerr : out;
    report << "exported " << n << " entries to " << (f.is_stdout() ? std::string("stdout") : file) << "\n";
    return f.is_stdout() ? 0 : finish(out);
}

int cache_import(const std::string& path, const std::string& file, std::ostream& out) {
    std::string err;
    auto store = open_sqlite_store(path, err, CacheAccess::Write);
    if (!store) return fail(err);
    std::ifstream f(file, std::ios::binary);
    if (!f) return fail("cannot read " + file);
    size_t n = 0, line_no = 0;
    store->begin_batch();  // one transaction, for speed
    for (std::string line; std::getline(f, line);) {
        ++line_no;
        CacheRecord r;
        if (!parse_cache_record(line, r)) return fail(file + ":" + std::to_string(line_no) + ": not a cache record");
        store->put(r);
        ++n;
    }
    store->end_batch();
    if (std::string e = store->failure(); !e.empty()) return fail(e);
    out << "imported " << n << " entries into " << path << "\n";
    return finish(out);
}

}  // namespace moa
