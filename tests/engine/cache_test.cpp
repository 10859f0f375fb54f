// ResponseCache: what the key covers, what is never stored, replay explanations,
// singleflight, replicas, and two processes sharing one database.
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <set>

#include "cache/cache.hpp"
#include "runtime/scheduler.hpp"
#include "engine_test_util.hpp"

using namespace moa;

namespace {

std::string temp_db(const std::string& name) {
    auto p = std::filesystem::temp_directory_path() / ("moa-cache-test-" + name + "-" + std::to_string(getpid()) + ".db");
    std::filesystem::remove(p);
    std::filesystem::remove(p.string() + "-wal");
    std::filesystem::remove(p.string() + "-shm");
    return p.string();
}

int64_t rows(const std::string& db, const char* sql = "SELECT COUNT(*) FROM responses") {
    sqlite3* h = nullptr;
    sqlite3_open(db.c_str(), &h);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(h, sql, -1, &st, nullptr);
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

struct Counter : CallObserver {
    std::atomic<int> attempts{0};
    void attempt_started(const std::string&, int, TimePoint) override { ++attempts; }
    void attempt_ended(const std::string&, int, TimePoint) override {}
};

}  // namespace

TEST_CASE("every component of the request changes the key and nothing else does") {
    BackendSpec b;
    b.name = "b";
    b.kind = BackendKind::OpenAI;
    b.base_url = "https://x/v1";
    b.api_key_env = "KEY_A";
    AgentSpec a;
    a.name = "a";
    a.model = "m";
    a.temperature = 0.7;
    Call c;
    c.backend = &b;
    c.agent = &a;
    c.messages = {{Role::System, "sys"}, {Role::User, "hello"}};
    const std::string base = cache_key(canonical_request(c));
    CHECK(base.size() == 32);
    auto changes = [&](const char* what, auto&& mutate, auto&& undo) {
        mutate();
        INFO(what);
        CHECK(cache_key(canonical_request(c)) != base);
        undo();
        CHECK(cache_key(canonical_request(c)) == base);
    };
    changes("kind", [&] { b.kind = BackendKind::Ollama; }, [&] { b.kind = BackendKind::OpenAI; });
    changes("base_url", [&] { b.base_url = "https://y/v1"; }, [&] { b.base_url = "https://x/v1"; });
    changes("model", [&] { a.model = "m2"; }, [&] { a.model = "m"; });
    changes("temperature", [&] { a.temperature = 0.8; }, [&] { a.temperature = 0.7; });
    changes("top_p", [&] { a.top_p = 0.9; }, [&] { a.top_p.reset(); });
    changes("max_tokens", [&] { a.max_tokens = 10; }, [&] { a.max_tokens.reset(); });
    changes("seed", [&] { a.seed = 1; }, [&] { a.seed.reset(); });
    changes("stop", [&] { a.stop = {"x"}; }, [&] { a.stop.clear(); });
    changes("replica", [&] { c.replica = 1; }, [&] { c.replica = 0; });
    changes("system message", [&] { c.messages[0].content = "sys!"; }, [&] { c.messages[0].content = "sys"; });
    changes("user message", [&] { c.messages[1].content = "hello!"; }, [&] { c.messages[1].content = "hello"; });
    changes("role", [&] { c.messages[0].role = Role::User; }, [&] { c.messages[0].role = Role::System; });
    // Not part of the key: names, the key's variable, timeouts, retries, priority.
    b.name = "other";
    a.name = "other";
    b.api_key_env = "KEY_B";
    b.timeouts.total_ms = 5;
    b.retry.attempts = 9;
    c.priority = 42;
    CHECK(cache_key(canonical_request(c)) == base);
    // The simulated backend's run seed matters only to it.
    c.seed = 5;
    CHECK(cache_key(canonical_request(c)) == base);
    CHECK(canonical_request(c).find("KEY_B") == std::string::npos);
}

TEST_CASE("a second run is served from the cache and replicas stay distinct answers") {
    std::string db = temp_db("replicas");
    std::string src = std::string(test::kSimPrelude) + "import \"moa.moa\"\nuse self_moa(model = a, samples = 4)\n";
    std::vector<std::string> first;
    for (int run = 0; run < 2; ++run) {
        Counter counter;
        EngineOptions o;
        o.emit_all = true;
        o.cache_mode = CacheMode::ReadWrite;
        o.cache_path = db;
        o.observer = &counter;
        Engine e(test::load(src), o);
        test::VectorSource qs({"q1", "q2"});
        std::vector<std::string> outs;
        RunStats s = e.run_batch(qs, [&](JobResult&& r) {
            std::set<std::string> samples;
            for (int k = 1; k <= 4; ++k) samples.insert(test::node(r, "propose.a#" + std::to_string(k)).text);
            CHECK(samples.size() == 4);
            outs.push_back(r.output());
        });
        if (run == 0) {
            CHECK(counter.attempts == 10);
            CHECK(s.cache_misses == 10);
            first = outs;
        } else {
            CHECK(counter.attempts == 0);  // every call from the cache
            CHECK(s.cache_hits == 10);
            CHECK(s.calls == 0);
            CHECK(outs == first);
        }
    }
    CHECK(rows(db) == 10);
}

TEST_CASE("errors are never stored") {
    std::string db = temp_db("errors");
    EngineOptions o;
    o.cache_mode = CacheMode::ReadWrite;
    o.cache_path = db;
    Engine e(test::load(R"(
backend broken { kind = sim  faults { server_error = 1 }  retry { attempts = 1 } }
backend fine { kind = sim }
agent x { backend = broken  model = "x" }
agent y { backend = fine  model = "y" }
template agg = "{{responses}}"
layer p = [x, y]
layer f = y { inputs = p  prompt = agg  fan_in = at_least(1) }
output o = f
)"),
             o);
    JobResult r = e.run_one("q");
    CHECK(r.ok);
    CHECK(rows(db) == 2);  // y in p and f; never x's error
    CHECK(rows(db, "SELECT COUNT(*) FROM responses WHERE model = 'x'") == 0);
}

TEST_CASE("a result the caller has seen is already committed to the cache") {
    // Stored, committed, then reported: a process killed right after a job finished
    // finds that job's answers on rerun. Each round's three calls are rows by the
    // time run_one returns (the store used to follow the reply on another thread).
    std::string db = temp_db("committed");
    EngineOptions o;
    o.cache_mode = CacheMode::ReadWrite;
    o.cache_path = db;
    Engine e(test::load(std::string(test::kSimPrelude) + "layer p = [a, b]\nlayer q = c { inputs = p  prompt = agg }\noutput o = q\n"), o);
    for (int round = 1; round <= 300; ++round) {
        JobResult r = e.run_one("question " + std::to_string(round));
        REQUIRE(r.ok);
        REQUIRE(rows(db) == 3 * round);
    }
}

TEST_CASE("replay mode: a miss fails the call and says what differs") {
    std::string db = temp_db("replay");
    std::string src = std::string(test::kSimPrelude) + "layer p = a\noutput o = p\n";
    {
        EngineOptions o;
        o.cache_mode = CacheMode::ReadWrite;
        o.cache_path = db;
        Engine(test::load(src), o).run_one("the recorded question");
    }
    EngineOptions o;
    o.cache_mode = CacheMode::Replay;
    o.cache_path = db;
    Engine e(test::load(src), o);
    CHECK(e.run_one("the recorded question").ok);
    JobResult miss = e.run_one("the recorded quest");
    CHECK_FALSE(miss.ok);
    CHECK(miss.error_node == "p.a");
    CHECK(miss.error ==
          "cache miss in replay mode for node p.a: the user message differs from the recorded one at character 18: "
          "recorded \"question\", now \"quest\"");

}

TEST_CASE("identical requests in flight call the backend once (singleflight)") {
    std::string db = temp_db("singleflight");
    Counter counter;
    EngineOptions o;
    o.cache_mode = CacheMode::ReadWrite;
    o.cache_path = db;
    o.observer = &counter;
    o.emit_all = true;
    // p.a and q.a send the same request (same agent, query, replica): one call.
    Engine e(test::load(std::string(test::kSimPrelude) +
                        "backend slow { kind = sim  latency { first_token = 100ms } }\n"
                        "agent s { backend = slow  model = \"m/s\" }\n"
                        "layer p = s\nlayer q = s\nlayer f = b { inputs = [p, q]  prompt = agg }\noutput o = f\n"),
             o);
    JobResult r = e.run_one("same question");
    REQUIRE(r.ok);
    CHECK(counter.attempts == 2);  // s once, b once
    CHECK(test::node(r, "p.s").text == test::node(r, "q.s").text);
}

TEST_CASE("two processes writing one database concurrently lose and corrupt nothing") {
    std::string db = temp_db("two-processes");
    {
        std::string err;
        REQUIRE(open_sqlite_store(db, err));  // create the schema first
    }
    auto writer = [&](int who) {
        std::string err;
        auto store = open_sqlite_store(db, err);
        if (!store) _exit(2);
        for (int i = 0; i < 1500; ++i) {
            CacheRecord r;
            // 500 keys both write, 1000 each alone
            int id = i < 500 ? i : 1000 * (who + 1) + i;
            char key[40];
            std::snprintf(key, sizeof key, "%032d", id);
            r.key = key;
            r.node = "n";
            r.model = "m";
            r.request = "request " + std::to_string(id);
            r.entry = {"answer " + std::to_string(id), 1, 2};
            store->put(r);
        }
        _exit(0);
    };
    pid_t a = fork();
    if (a == 0) writer(0);
    pid_t b = fork();
    if (b == 0) writer(1);
    int sa = 0, sb = 0;
    waitpid(a, &sa, 0);
    waitpid(b, &sb, 0);
    CHECK(WEXITSTATUS(sa) == 0);
    CHECK(WEXITSTATUS(sb) == 0);
    CHECK(rows(db) == 500 + 1000 + 1000);
    sqlite3* h = nullptr;
    sqlite3_open(db.c_str(), &h);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, nullptr);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "ok");
    sqlite3_finalize(st);
    sqlite3_close(h);
}
