#include "cache/sqlite_db.hpp"

#include <sqlite3.h>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace moa {

bool path_exists(const std::string& path) {
    std::error_code ec;
    return std::filesystem::exists(path, ec);
}
bool is_empty_file(const std::string& path) {
    std::error_code ec;
    return std::filesystem::file_size(path, ec) == 0 && !ec;
}

std::string sqlite_reason(sqlite3* db, int rc) {
    std::string r = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    int prim = rc & 0xff;
    int e = db ? sqlite3_system_errno(db) : 0;
    if (e && (prim == SQLITE_IOERR || prim == SQLITE_FULL || prim == SQLITE_CANTOPEN || prim == SQLITE_READONLY))
        r += std::string(" (") + std::strerror(e) + ")";
    return r;
}

bool sqlite_corrupt(int rc) { return (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB; }

std::string corrupted_message(const std::string& path, const std::string& why) {
    return "cache at " + path + " is corrupted (" + why + "): move it away (mv " + path + " " + path +
           ".corrupt) and the next run starts an empty cache; `sqlite3 " + path + ".corrupt .recover` may save part of it";
}

namespace {

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

}  // namespace

Db::Db(const std::string& path, CacheAccess access, std::string& error) : path_(path) {
    if (access == CacheAccess::Read) open_read(error);
    else open_write(error);
    if (!error.empty()) close();
}

Db::~Db() { close(); }

int Db::exec(const char* sql, std::string& error) {
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
        error = describe(rc);
        kind_ = kind_of(rc);
    }
    return rc;
}

std::string Db::describe(int rc) {
    if (sqlite_corrupt(rc)) return corrupted_message(path_, sqlite_reason(db_, rc));
    return "cache " + path_ + ": " + sqlite_reason(db_, rc);
}

Error::Kind Db::kind_of(int rc) { return sqlite_corrupt(rc) ? Error::Kind::Corrupt : Error::Kind::Io; }

void Db::close() {
    sqlite3_close_v2(db_);
    db_ = nullptr;
}

bool Db::open(const std::string& name, int flags, std::string& error) {
    close();
    int rc = sqlite3_open_v2(name.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        error = "cannot open cache " + path_ + ": " + sqlite_reason(db_, rc);
        kind_ = kind_of(rc);
        return false;
    }
    // Several moa processes may share the file: WAL lets readers and one writer
    // proceed together, and writers wait for each other instead of failing.
    sqlite3_busy_timeout(db_, 30000);
    return true;
}

// PRAGMA quick_check: O(file size), a few ms for a cache of thousands of entries
// (docs/performance.md). Returns the SQLite code; `why` says what is wrong.
int Db::quick_check(std::string& why) {
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
    if (rc != SQLITE_OK && why.empty()) why = sqlite_reason(db_, rc);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

void Db::open_read(std::string& error) {
    if (!path_exists(path_)) {
        error = "no cache at " + path_;
        kind_ = Error::Kind::NotFound;
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
            kind_ = Error::Kind::Io;
            return;
        }
        if (!open(file_uri(path_, "immutable=1"), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, error)) return;
        why.clear();
        rc = quick_check(why);
    }
    kind_ = kind_of(rc);
    if (sqlite_corrupt(rc)) error = corrupted_message(path_, why);
    else if (rc != SQLITE_OK) error = "cannot read cache " + path_ + ": " + why;
    else check_schema(error);
}

// A file without the cache's table is no cache to read: a 0-byte file (SQLite
// accepts it as an empty database) is "no cache", like a missing one; another
// SQLite database is named as such. Never "no such table: responses".
void Db::check_schema(std::string& error) {
    int rc = sqlite3_exec(db_, "SELECT 1 FROM responses LIMIT 0", nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) return;
    if (rc != SQLITE_ERROR) {  // SQLITE_ERROR: no such table
        error = describe(rc);
        kind_ = kind_of(rc);
    } else if (is_empty_file(path_)) {
        error = "no cache at " + path_ + " (empty file)";
        kind_ = Error::Kind::NotFound;
    } else {
        error = path_ + " is not a moa cache (it has no responses table)";
        kind_ = Error::Kind::Invalid;
    }
}

void Db::open_write(std::string& error) {
    kind_ = Error::Kind::Io;
    auto dir = std::filesystem::path(path_).parent_path();
    if (!dir.empty() && !path_exists(dir.string())) {
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
    if (sqlite_corrupt(rc)) {
        error = corrupted_message(path_, why);
        kind_ = Error::Kind::Corrupt;
        return;
    }
    for (const char* sql : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                            "CREATE TABLE IF NOT EXISTS responses(key TEXT PRIMARY KEY, node TEXT, model TEXT, "
                            "backend TEXT, request TEXT, text TEXT, tokens_in INTEGER, tokens_out INTEGER, created INTEGER, "
                            "latency_ms INTEGER, first_token_ms INTEGER)",
                            "CREATE INDEX IF NOT EXISTS responses_by_node ON responses(node, created)",
                            "CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER)"}) {
        if (rc != SQLITE_OK) break;
        rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
        if (rc != SQLITE_OK) why = sqlite_reason(db_, rc);
    }
    if (rc == SQLITE_OK) rc = add_latency_columns(why);
    if (rc == SQLITE_OK) return;
    int prim = rc & 0xff;
    if (prim == SQLITE_READONLY || prim == SQLITE_CANTOPEN || prim == SQLITE_PERM) {
        std::string dir_s = dir.empty() ? "." : dir.string();
        std::string os = access(dir_s.c_str(), W_OK) != 0 ? std::string(": ") + std::strerror(errno) : "";
        error = "cache at " + path_ + " is not writable (" + (why.empty() ? "read-only file" : why) + "; directory " +
                dir_s + os + "): answers would not be stored. Use --cache read (or replay) to use it without storing "
                "answers, --cache off, or --cache-db a writable path";
    } else if (sqlite_corrupt(rc)) {
        error = corrupted_message(path_, why);
        kind_ = Error::Kind::Corrupt;
    } else {
        error = "cannot open cache " + path_ + ": " + why;
    }
}

bool Db::has_column(const char* table, const char* column) {
    Stmt st(db_, (std::string("SELECT 1 FROM pragma_table_info('") + table + "') WHERE name = ?").c_str());
    st.text(1, column);
    return st.s && sqlite3_step(st.s) == SQLITE_ROW;
}

// Caches written before latencies were recorded get the columns (their rows have none).
int Db::add_latency_columns(std::string& why) {
    for (const char* col : {"latency_ms", "first_token_ms"}) {
        if (has_column("responses", col)) continue;
        std::string sql = std::string("ALTER TABLE responses ADD COLUMN ") + col + " INTEGER";
        int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
        if (rc != SQLITE_OK) {
            why = sqlite_reason(db_, rc);
            return rc;
        }
    }
    return SQLITE_OK;
}

Stmt::Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &s, nullptr); }
Stmt::~Stmt() { sqlite3_finalize(s); }
void Stmt::text(int i, const std::string& v) { sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT); }
void Stmt::integer(int i, int64_t v) { sqlite3_bind_int64(s, i, v); }
std::string Stmt::col(int i) {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s, i))) : "";
}
int64_t Stmt::int64(int i) { return sqlite3_column_int64(s, i); }

}  // namespace moa
