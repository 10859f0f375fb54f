// The SQLite store of the response cache (the file itself: sqlite_db.cpp; the `moa cache`
// maintenance calls: cache_admin.cpp).
#include <sqlite3.h>

#include <unordered_map>

#include "cache/cache.hpp"
#include "cache/sqlite_db.hpp"

namespace moa {

namespace {

class SqliteStore : public CacheStore {
public:
    SqliteStore(const std::string& path, CacheAccess access, int busy_ms, std::string& error)
        : db_(path, access, error), writable_(access == CacheAccess::Write) {
        kind_ = db_.error_kind();
        if (!db_.ok() || !error.empty()) return;
        sqlite3_busy_timeout(db_.get(), busy_ms);
        get_ = std::make_unique<Stmt>(db_.get(), "SELECT text, tokens_in, tokens_out FROM responses WHERE key = ?");
        if (writable_)
            put_ = std::make_unique<Stmt>(db_.get(),
                                          "INSERT OR REPLACE INTO responses(key, node, model, backend, request, text, "
                                          "tokens_in, tokens_out, created, latency_ms, first_token_ms) "
                                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        if (!get_->s || (writable_ && !put_->s)) {
            error = db_.describe(sqlite3_errcode(db_.get()));
            kind_ = Db::kind_of(sqlite3_errcode(db_.get()));
        }
    }
    // What sort of failure the constructor's `error` is.
    Error::Kind error_kind() const { return kind_; }
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
        for (auto [col, v] : {std::pair<int, int64_t>{10, r.latency_ms}, {11, r.first_token_ms}}) {
            if (v >= 0) st.integer(col, v);
            else sqlite3_bind_null(st.s, col);
        }
        int rc = sqlite3_step(st.s);
        sqlite3_reset(st.s);
        return rc;
    }
    void fail(int rc, const char* what) {
        if (!failure_.empty()) return;
        if (sqlite_corrupt(rc)) failure_ = corrupted_message(db_.path(), sqlite_reason(db_.get(), rc));
        else failure_ = "cache " + db_.path() + ": " + what + ": " + sqlite_reason(db_.get(), rc);
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
    Error::Kind kind_ = Error::Kind::Io;
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

std::unique_ptr<CacheStore> open_sqlite_store(const std::string& path, CacheAccess access) {
    std::string error;
    auto s = std::make_unique<SqliteStore>(path, access, 30000, error);
    if (!error.empty()) throw Error(s->error_kind(), error);
    return s;
}

}  // namespace moa
