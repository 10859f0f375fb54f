// One SQLite cache file, opened and checked: shared by the store (cache_sqlite.cpp) and
// the `moa cache` admin calls (cache_admin.cpp). sqlite3.h stays in the .cpp files.
#pragma once

#include <cstdint>
#include <string>

#include "cache/cache.hpp"
#include "moa/error.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace moa {

bool path_exists(const std::string& path);
bool is_empty_file(const std::string& path);

class Db {
public:
    // Write: creates the file (and its directory), fails on a read-only cache.
    // Read: never creates or writes; opens a cache whose directory is read-only too.
    // Both check the file first: a corrupted cache is an error, not an empty one.
    // On failure `error` names the path and the reason, and error_kind() classifies it.
    Db(const std::string& path, CacheAccess access, std::string& error);
    ~Db();
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;
    bool ok() const { return db_ != nullptr; }
    sqlite3* get() { return db_; }
    const std::string& path() const { return path_; }
    Error::Kind error_kind() const { return kind_; }
    // The return code of sqlite3_exec; `error` names the path and the reason.
    int exec(const char* sql, std::string& error);
    // "cache PATH: reason", or what to do with a corrupted file.
    std::string describe(int rc);
    // The kind of failure SQLite's `rc` is.
    static Error::Kind kind_of(int rc);
    // Whether `table` has `column` (an older cache may lack the latency columns).
    bool has_column(const char* table, const char* column);

private:
    void close();
    bool open(const std::string& name, int flags, std::string& error);
    int quick_check(std::string& why);
    void open_read(std::string& error);
    void check_schema(std::string& error);
    void open_write(std::string& error);
    int add_latency_columns(std::string& why);

    std::string path_;
    sqlite3* db_ = nullptr;
    Error::Kind kind_ = Error::Kind::Io;
};

// A prepared statement, finalized on destruction (before its Db closes).
struct Stmt {
    sqlite3_stmt* s = nullptr;
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    Stmt(sqlite3* db, const char* sql);
    ~Stmt();
    void text(int i, const std::string& v);
    void integer(int i, int64_t v);
    std::string col(int i);
    int64_t int64(int i);
};

// SQLite's message, plus the OS's reason when the failure came from the OS.
std::string sqlite_reason(sqlite3* db, int rc);
bool sqlite_corrupt(int rc);
std::string corrupted_message(const std::string& path, const std::string& why);

}  // namespace moa
