// The `moa cache` maintenance calls (moa/cache_admin.hpp). Every failure throws
// moa::Error with the path and the reason; nothing here prints.
#include "moa/cache_admin.hpp"

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "moa/json_writer.hpp"
#include "cache/cache_tools.hpp"
#include "cache/sqlite_db.hpp"
#include "io/export_file.hpp"

namespace moa {

namespace {

// The cache opened, or an Error with what went wrong.
struct OpenDb {
    std::string error;
    Db db;
    OpenDb(const std::string& path, CacheAccess access) : db(path, access, error) {
        if (!error.empty()) throw Error(db.error_kind(), error);
    }
};

// Steps `st` once: true for a row, false when finished, throws if it stopped early.
bool step(Db& db, Stmt& st) {
    int rc = st.s ? sqlite3_step(st.s) : sqlite3_errcode(db.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw Error(Db::kind_of(rc), db.describe(rc));
}

}  // namespace

CacheStats cache_stats(const std::string& path) {
    OpenDb o(path, CacheAccess::Read);
    Db& db = o.db;
    CacheStats s;
    Stmt n(db.get(), "SELECT COUNT(*), COALESCE(SUM(tokens_in), 0), COALESCE(SUM(tokens_out), 0) FROM responses");
    step(db, n);
    s.entries = n.int64(0);
    s.tokens_in = n.int64(1);
    s.tokens_out = n.int64(2);
    std::error_code ec;
    auto bytes = std::filesystem::file_size(path, ec);
    s.file_bytes = ec ? 0 : bytes;
    Stmt c(db.get(), "SELECT (SELECT COALESCE(value, 0) FROM counters WHERE name = 'hits'), (SELECT COALESCE(value, 0) FROM counters WHERE name = 'misses')");
    step(db, c);
    s.hits = c.int64(0);
    s.misses = c.int64(1);
    Stmt by(db.get(), "SELECT model, COUNT(*) FROM responses GROUP BY model ORDER BY COUNT(*) DESC, model");
    while (step(db, by)) s.by_model.emplace_back(by.col(0), by.int64(1));
    return s;
}

int64_t cache_prune(const std::string& path, int64_t older_than_s, const std::string& model) {
    if (!path_exists(path)) throw Error(Error::Kind::NotFound, "no cache at " + path);
    if (is_empty_file(path))  // nothing to prune; left as it is
        throw Error(Error::Kind::NotFound, "no cache at " + path + " (empty file)");
    OpenDb o(path, CacheAccess::Write);
    Db& db = o.db;
    int64_t now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    // Ages are whole seconds: "older than 0" (0d, 500ms) is every entry, also those
    // written in this very second, which `created < now` would keep.
    if (older_than_s == 0) older_than_s = -1;
    Stmt st(db.get(), "DELETE FROM responses WHERE (? < 0 OR created < ?) AND (? = '' OR model = ?)");
    st.integer(1, older_than_s);
    st.integer(2, now - older_than_s);
    st.text(3, model);
    st.text(4, model);
    step(db, st);
    return sqlite3_changes(db.get());
}

void cache_compact(const std::string& path) {
    OpenDb o(path, CacheAccess::Write);
    std::string err;
    if (o.db.exec("VACUUM", err) != SQLITE_OK) throw Error(o.db.error_kind(), err);
}

CacheExport cache_export(const std::string& path, const std::string& file) {
    OpenDb o(path, CacheAccess::Read);
    Db& db = o.db;
    ExportFile f;  // FILE.tmp renamed onto FILE: a failed export leaves no short file
    f.open(file);
    // A read-only cache of an older version may lack the latency columns: NULL then.
    std::string latency = db.has_column("responses", "latency_ms") ? "latency_ms, first_token_ms" : "NULL, NULL";
    std::string sql = "SELECT key, node, model, backend, request, text, tokens_in, tokens_out, created, " + latency +
                      " FROM responses ORDER BY key";
    Stmt st(db.get(), sql.c_str());
    CacheExport r;
    r.to_stdout = f.is_stdout();
    bool in_place = f.in_place();
    try {
        std::string line;
        while (step(db, st)) {
            line.clear();
            JsonWriter w(line);
            w.begin_object();
            const char* names[] = {"key", "node", "model", "backend", "request", "text"};
            for (int i = 0; i < 6; ++i) w.key(names[i]).value(st.col(i));
            w.key("tokens_in").value(st.int64(6)).key("tokens_out").value(st.int64(7)).key("created").value(st.int64(8));
            // Only when recorded: older exports and rows without them stay as they were.
            if (sqlite3_column_type(st.s, 9) != SQLITE_NULL) w.key("latency_ms").value(st.int64(9));
            if (sqlite3_column_type(st.s, 10) != SQLITE_NULL) w.key("first_token_ms").value(st.int64(10));
            w.end_object();
            line += '\n';
            f.write(line);
            ++r.entries;
        }
        f.commit();
    } catch (const Error& e) {
        f.abandon();
        std::string where = r.to_stdout ? "stdout" : file;
        throw Error(e.kind(), std::string(e.what()) + " (after " + std::to_string(r.entries) + " entries; " +
                                  (in_place ? "what was written to " + where + " is incomplete)" : "nothing written to " + file + ")"));
    }
    return r;
}

size_t cache_import(const std::string& path, const std::string& file) {
    { OpenDb check(path, CacheAccess::Write); }  // creates the cache, or throws with the kind of failure
    std::string err;
    auto store = open_sqlite_store(path, err, CacheAccess::Write);
    if (!store) throw Error(Error::Kind::Io, err);
    std::ifstream f(file, std::ios::binary);
    if (!f) throw Error(Error::Kind::NotFound, "cannot read " + file);
    size_t n = 0, line_no = 0;
    store->begin_batch();  // one transaction, for speed
    for (std::string line; std::getline(f, line);) {
        ++line_no;
        CacheRecord r;
        if (!parse_cache_record(line, r))
            throw Error(Error::Kind::Invalid, file + ":" + std::to_string(line_no) + ": not a cache record");
        store->put(r);
        ++n;
    }
    store->end_batch();
    if (std::string e = store->failure(); !e.empty()) throw Error(Error::Kind::Io, e);
    return n;
}

}  // namespace moa
