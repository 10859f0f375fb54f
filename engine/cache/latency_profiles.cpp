// read_latency_profiles (moa/plan.hpp): the answers a cache recorded with a latency,
// grouped by model, for `moa plan` on real backends.
#include <sqlite3.h>

#include "cache/sqlite_db.hpp"
#include "moa/plan.hpp"

namespace moa {

std::map<std::string, LatencyProfile> read_latency_profiles(const std::string& path) {
    std::string error;
    Db db(path, CacheAccess::Read, error);
    if (!error.empty()) throw Error(db.error_kind(), error);
    std::map<std::string, LatencyProfile> out;
    if (!db.has_column("responses", "latency_ms")) return out;  // an older cache: nothing recorded
    Stmt st(db.get(),
            "SELECT model, latency_ms, first_token_ms, tokens_out, length(CAST(text AS BLOB)) FROM responses "
            "WHERE latency_ms IS NOT NULL ORDER BY key");
    int rc = SQLITE_ROW;
    while (st.s && (rc = sqlite3_step(st.s)) == SQLITE_ROW) {
        LatencyProfile& p = out[st.col(0)];
        p.latency_ms.push_back(static_cast<double>(st.int64(1)));
        if (sqlite3_column_type(st.s, 2) != SQLITE_NULL) p.first_token_ms.push_back(static_cast<double>(st.int64(2)));
        p.tokens_out.push_back(static_cast<uint32_t>(st.int64(3)));
        p.chars.push_back(static_cast<size_t>(st.int64(4)));
    }
    if (!st.s || rc != SQLITE_DONE) {
        int code = st.s ? rc : sqlite3_errcode(db.get());
        throw Error(Db::kind_of(code), db.describe(code));
    }
    return out;
}

}  // namespace moa
