// ResponseCache: pay for each model call once, replay CI runs exactly.
//
// The key is a 128-bit hash of the canonical request: backend identity (kind and
// base URL, never the key), model, the fully rendered messages, every sampling
// parameter and the replica index (so n samples stay n answers). Only successful,
// non-empty answers are stored. The store sits behind a small interface: SQLite in
// WAL mode on disk (several processes may share one file), or memory for tests.
// Lookups and writes run on the cache's own thread, never on a TBB worker.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "moa/cache_mode.hpp"
#include "moa/error.hpp"
#include "runtime/call.hpp"

namespace moa {


struct CacheEntry {
    std::string text;
    uint32_t tokens_in = 0, tokens_out = 0;
};

struct CacheRecord {  // one row, for stats, export and replay explanations
    std::string key, node, model, backend, request;
    CacheEntry entry;
    int64_t created = 0;  // unix seconds
    // The answering attempt, start to last token and to the first streamed chunk, in
    // ms; -1 when not recorded (rows of older caches, answers that did not stream).
    int64_t latency_ms = -1, first_token_ms = -1;
};

// A store that fails (disk full, corruption, lock held too long, read-only file) says so
// in failure(): the first error, with the path and the reason. It never fails silently;
// the ResponseCache stops the run on it.
class CacheStore {
public:
    virtual ~CacheStore() = default;
    virtual std::optional<CacheEntry> get(const std::string& key) = 0;
    virtual void put(const CacheRecord& r) = 0;
    // The most recent record for `node` (replay explanations), if any.
    virtual std::optional<CacheRecord> latest_for_node(const std::string& node) = 0;
    virtual void add_counters(uint64_t hits, uint64_t misses) = 0;
    // Writes between these commit together (the cache thread wraps each batch of work).
    virtual void begin_batch() {}
    virtual void end_batch() {}
    // "" while healthy; else the first error ("cache write to PATH failed: ...").
    virtual std::string failure() const { return ""; }
};

class MemoryStore : public CacheStore {
public:
    std::optional<CacheEntry> get(const std::string& key) override;
    void put(const CacheRecord& r) override;
    std::optional<CacheRecord> latest_for_node(const std::string& node) override;
    void add_counters(uint64_t, uint64_t) override {}
    size_t size() const { return records_.size(); }

private:
    std::map<std::string, CacheRecord> records_;
};

// SQLite, WAL mode, `busy_timeout` so that concurrent writers wait for each other.
// Opening checks the file (`PRAGMA quick_check`): a corrupted cache is an error that
// says what to do, never a cache that silently misses. Write access creates the file
// and fails on a read-only one; read access never creates or writes anything (it opens
// a cache in a read-only directory too) and fails with "no cache at PATH" if absent.
enum class CacheAccess { Write, Read };
// `busy_timeout_ms`: how long a write waits for another process's lock before the
// store fails (SQLITE_BUSY).
std::unique_ptr<CacheStore> open_sqlite_store(const std::string& path, std::string& error,
                                              CacheAccess access = CacheAccess::Write, int busy_timeout_ms = 30000);
// The same, for callers that throw: a failure is a moa::Error with the message above and
// its kind: NotFound (read access, no cache there), Invalid (a file that is no moa
// cache), Corrupt, or Io (permissions, a read-only cache for writing, disk, locks).
std::unique_ptr<CacheStore> open_sqlite_store(const std::string& path, CacheAccess access);

// The canonical request a key is the hash of (human-readable, no secrets).
std::string canonical_request(const Call& c);
std::string cache_key(const std::string& canonical);

class ResponseCache {
public:
    ResponseCache(std::unique_ptr<CacheStore> store, CacheMode mode);
    ~ResponseCache();

    // Completes `c` from the cache, or hands it to `call_backend` (at most once per
    // identical request in flight: others wait for that answer). Any thread.
    void submit(const CallPtr& c, const std::string& node, std::function<void(const CallPtr&)> call_backend);

    CacheMode mode() const { return mode_; }
    // "" while the store is healthy; else its first error. From then on the store is
    // left alone: calls go to the backend uncached (replay: they fail with this text).
    std::string failure() const { return failed_.load(std::memory_order_acquire) ? failure_ : std::string(); }
    std::atomic<uint64_t> hits{0}, misses{0}, writes{0}, shared{0};
    std::atomic<uint64_t> saved_tokens_in{0}, saved_tokens_out{0};

private:
    void run();
    void post(std::function<void()> fn);
    void lookup(const CallPtr& c, const std::string& node, std::function<void(const CallPtr&)> call_backend);
    // Stores a backend's answer and completes the call and its waiters after commit.
    void answered(const std::string& key, const std::string& node, const std::string& canonical, const CallPtr& c,
                  Reply&& r, std::function<void(Call&, Reply&&)> done);
    std::string explain_miss(const std::string& node, const std::string& canonical);
    void check_store();  // cache thread: notices the store's first failure
    bool fail_call(const CallPtr& c);  // completes `c` with the failure, if any

    std::atomic<bool> failed_{false};
    std::string failure_;  // written once, before failed_ is set

    std::unique_ptr<CacheStore> store_;
    CacheMode mode_;
    struct Waiting {
        std::vector<std::pair<CallPtr, std::function<void(Call&, Reply&&)>>> calls;
    };
    std::map<std::string, Waiting> in_flight_;  // cache thread only: singleflight
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> queue_;
    std::vector<std::function<void()>> after_commit_;  // cache thread only
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace moa
