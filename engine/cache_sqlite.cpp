// The SQLite store of the response cache, and the `moa cache` maintenance commands.
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <unordered_map>

#include "batch_io.hpp"
#include "cache.hpp"
#include "cache_tools.hpp"

namespace moa {

namespace {

class Db {
public:
    explicit Db(const std::string& path, std::string& error) {
        std::error_code ec;
        auto dir = std::filesystem::path(path).parent_path();
        if (!dir.empty()) std::filesystem::create_directories(dir, ec);
        if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) !=
            SQLITE_OK) {
            error = "cannot open cache " + path + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory");
            return;
        }
        // Several moa processes may share the file: WAL lets readers and one writer
        // proceed together, and writers wait for each other instead of failing.
        sqlite3_busy_timeout(db_, 30000);
        for (const char* sql : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                                "CREATE TABLE IF NOT EXISTS responses(key TEXT PRIMARY KEY, node TEXT, model TEXT, "
                                "backend TEXT, request TEXT, text TEXT, tokens_in INTEGER, tokens_out INTEGER, created INTEGER)",
                                "CREATE INDEX IF NOT EXISTS responses_by_node ON responses(node, created)",
                                "CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER)"}) {
            if (!exec(sql, error)) return;
        }
    }
    ~Db() { sqlite3_close_v2(db_); }
    bool ok() const { return db_ != nullptr; }
    sqlite3* get() { return db_; }
    bool exec(const char* sql, std::string& error) {
        char* msg = nullptr;
        if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
            error = std::string("cache: ") + (msg ? msg : "error");
            sqlite3_free(msg);
            return false;
        }
        return true;
    }

private:
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
    SqliteStore(const std::string& path, std::string& error) : db_(path, error) {
        if (!db_.ok() || !error.empty()) return;
        get_ = std::make_unique<Stmt>(db_.get(), "SELECT text, tokens_in, tokens_out FROM responses WHERE key = ?");
        put_ = std::make_unique<Stmt>(db_.get(),
                                      "INSERT OR REPLACE INTO responses(key, node, model, backend, request, text, tokens_in, "
                                      "tokens_out, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    }
    ~SqliteStore() override {
        get_.reset();
        put_.reset();
    }
    bool ok() const { return db_.ok() && get_ && put_; }

    // A batch of writes is one transaction: durable when the batch ends, which is as
    // soon as the cache thread has caught up with the answers that arrived.
    void begin_batch() override {
        std::string err;
        in_batch_ = db_.exec("BEGIN IMMEDIATE", err);
    }
    void end_batch() override {
        std::string err;
        if (in_batch_) db_.exec("COMMIT", err);
        in_batch_ = false;
    }

    std::optional<CacheEntry> get(const std::string& key) override {
        if (auto it = front_.find(key); it != front_.end()) return it->second;
        Stmt& st = *get_;
        sqlite3_reset(st.s);
        st.text(1, key);
        if (sqlite3_step(st.s) != SQLITE_ROW) return std::nullopt;
        CacheEntry e{st.col(0), static_cast<uint32_t>(sqlite3_column_int64(st.s, 1)),
                     static_cast<uint32_t>(sqlite3_column_int64(st.s, 2))};
        sqlite3_reset(st.s);
        remember(key, e);
        return e;
    }

    void put(const CacheRecord& r) override {
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
        sqlite3_step(st.s);
        sqlite3_reset(st.s);
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
        for (auto [name, v] : {std::pair<const char*, uint64_t>{"hits", hits}, {"misses", misses}}) {
            Stmt st(db_.get(), "INSERT INTO counters(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value");
            st.text(1, name);
            st.integer(2, static_cast<int64_t>(v));
            sqlite3_step(st.s);
        }
    }

private:
    void remember(const std::string& key, const CacheEntry& e) {  // the in-memory front
        if (front_.size() >= 100000) front_.clear();
        front_[key] = e;
    }
    Db db_;
    std::unique_ptr<Stmt> get_, put_;
    bool in_batch_ = false;
    std::unordered_map<std::string, CacheEntry> front_;
};

}  // namespace

std::unique_ptr<CacheStore> open_sqlite_store(const std::string& path, std::string& error) {
    auto s = std::make_unique<SqliteStore>(path, error);
    if (!s->ok() || !error.empty()) return nullptr;
    return s;
}

// ---- moa cache stats | prune | export | import ---------------------------------------

int cache_stats(const std::string& path, std::ostream& out) {
    std::string err;
    Db db(path, err);
    if (!db.ok() || !err.empty()) return std::cerr << err << "\n", 1;
    Stmt n(db.get(), "SELECT COUNT(*), COALESCE(SUM(LENGTH(request) + LENGTH(text)), 0), COALESCE(SUM(tokens_in), 0), COALESCE(SUM(tokens_out), 0) FROM responses");
    sqlite3_step(n.s);
    std::error_code ec;
    auto bytes = std::filesystem::file_size(path, ec);
    out << "cache: " << path << "\n";
    out << "entries: " << sqlite3_column_int64(n.s, 0) << "\n";
    out << "file size: " << (ec ? 0 : bytes) << " bytes (+ WAL)\n";
    out << "tokens stored: " << sqlite3_column_int64(n.s, 2) << " in, " << sqlite3_column_int64(n.s, 3) << " out\n";
    Stmt c(db.get(), "SELECT (SELECT COALESCE(value, 0) FROM counters WHERE name = 'hits'), (SELECT COALESCE(value, 0) FROM counters WHERE name = 'misses')");
    sqlite3_step(c.s);
    int64_t h = sqlite3_column_int64(c.s, 0), m = sqlite3_column_int64(c.s, 1);
    out << "lookups: " << h << " hits, " << m << " misses";
    if (h + m > 0) out << " (hit rate " << (100 * h / (h + m)) << "%)";
    out << "\nby model:\n";
    Stmt by(db.get(), "SELECT model, COUNT(*) FROM responses GROUP BY model ORDER BY COUNT(*) DESC, model");
    while (sqlite3_step(by.s) == SQLITE_ROW) out << "  " << by.col(0) << ": " << sqlite3_column_int64(by.s, 1) << "\n";
    return 0;
}

int cache_prune(const std::string& path, int64_t older_than_s, const std::string& model, std::ostream& out) {
    std::string err;
    Db db(path, err);
    if (!db.ok() || !err.empty()) return std::cerr << err << "\n", 1;
    int64_t now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    Stmt st(db.get(), "DELETE FROM responses WHERE (? < 0 OR created < ?) AND (? = '' OR model = ?)");
    st.integer(1, older_than_s);
    st.integer(2, now - older_than_s);
    st.text(3, model);
    st.text(4, model);
    sqlite3_step(st.s);
    out << "pruned " << sqlite3_changes(db.get()) << " entries\n";
    db.exec("VACUUM", err);
    return 0;
}

int cache_export(const std::string& path, const std::string& file, std::ostream& out) {
    std::string err;
    Db db(path, err);
    if (!db.ok() || !err.empty()) return std::cerr << err << "\n", 1;
    std::ofstream f(file, std::ios::binary | std::ios::trunc);
    if (!f) return std::cerr << "cannot write " << file << "\n", 1;
    Stmt st(db.get(), "SELECT key, node, model, backend, request, text, tokens_in, tokens_out, created FROM responses ORDER BY key");
    size_t n = 0;
    while (sqlite3_step(st.s) == SQLITE_ROW) {
        std::string line = "{\"key\":";
        append_json_string(line, st.col(0));
        const char* names[] = {"node", "model", "backend", "request", "text"};
        for (int i = 0; i < 5; ++i) {
            line += ",\"";
            line += names[i];
            line += "\":";
            append_json_string(line, st.col(i + 1));
        }
        line += ",\"tokens_in\":" + std::to_string(sqlite3_column_int64(st.s, 6)) +
                ",\"tokens_out\":" + std::to_string(sqlite3_column_int64(st.s, 7)) +
                ",\"created\":" + std::to_string(sqlite3_column_int64(st.s, 8)) + "}\n";
        f << line;
        ++n;
    }
    out << "exported " << n << " entries to " << file << "\n";
    return f.good() ? 0 : 1;
}

int cache_import(const std::string& path, const std::string& file, std::ostream& out) {
    std::string err;
    auto store = open_sqlite_store(path, err);
    if (!store) return std::cerr << err << "\n", 1;
    std::ifstream f(file, std::ios::binary);
    if (!f) return std::cerr << "cannot read " << file << "\n", 1;
    size_t n = 0, line_no = 0;
    for (std::string line; std::getline(f, line);) {
        ++line_no;
        CacheRecord r;
        if (!parse_cache_record(line, r)) return std::cerr << file << ":" << line_no << ": not a cache record\n", 1;
        store->put(r);
        ++n;
    }
    out << "imported " << n << " entries into " << path << "\n";
    return 0;
}

}  // namespace moa
