// The I/O reactor: one thread that owns timers and completes model calls. It is
// the only place in moa where waiting happens; TBB workers hand it work with
// post() and return at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace moa {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

// Something else the reactor thread waits on (libcurl's multi handle): the reactor
// sleeps in poller->wait() instead of on its condition variable.
class Poller {
public:
    virtual ~Poller() = default;
    virtual void wait(int timeout_ms) = 0;  // reactor thread
    virtual void wakeup() = 0;              // any thread
    virtual void process() = 0;             // reactor thread, after every wait
};

class Reactor {
public:
    using Fn = std::function<void()>;
    // `name` names the thread (at most 15 characters) so profiles and per-thread CPU
    // figures can tell the reactor ("moa-reactor") from the I/O threads ("moa-io-K").
    explicit Reactor(std::string name = "moa-reactor");
    ~Reactor();  // stop()
    Reactor(const Reactor&) = delete;
    Reactor& operator=(const Reactor&) = delete;

    // Joins the thread; pending posts and timers are dropped. Idempotent. The owner
    // calls it before freeing anything the reactor's callbacks touch: the thread
    // keeps running for a moment after it completes a job's last call.
    void stop();
    void post(Fn fn);  // any thread; runs on the reactor thread, in order
    // Reactor thread only.
    uint64_t at(TimePoint when, Fn fn);
    void cancel(uint64_t timer);
    // Installs a poller (from the reactor thread, e.g. inside post()).
    void set_poller(Poller* p);
    bool on_reactor_thread() const { return std::this_thread::get_id() == thread_id_; }
    size_t timers() const { return live_.size(); }
    size_t held() const { return heap_.size(); }  // timers still stored, cancelled ones included

private:
    struct Timer {
        TimePoint when;
        uint64_t id;
        Fn fn;
    };
    struct Later {
        bool operator()(const Timer& a, const Timer& b) const {
            return a.when != b.when ? a.when > b.when : a.id > b.id;
        }
    };
    void loop(const std::string& name);

    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Fn> posted_;
    bool stop_ = false;
    bool sleeping_ = false;
    std::vector<Timer> heap_;           // reactor thread only
    std::unordered_set<uint64_t> live_;       // armed, not yet fired or cancelled
    std::unordered_set<uint64_t> cancelled_;  // still in the heap, to be skipped
    uint64_t next_timer_ = 1;
    std::atomic<Poller*> poller_{nullptr};
    std::thread::id thread_id_;
    std::thread thread_;
};

}  // namespace moa
