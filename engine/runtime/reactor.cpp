#include "runtime/reactor.hpp"

#include <pthread.h>

#include <algorithm>

namespace moa {

Reactor::Reactor(std::string name) {
    thread_ = std::thread([this, name = std::move(name)] { loop(name); });
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return thread_id_ != std::thread::id(); });
}

Reactor::~Reactor() { stop(); }

void Reactor::stop() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (Poller* p = poller_.load()) p->wakeup();
    if (thread_.joinable() && !on_reactor_thread()) thread_.join();
}

void Reactor::set_poller(Poller* p) {
    {
        std::lock_guard lock(mu_);  // the loop checks the poller and sleeps under this lock
        poller_.store(p);
    }
    cv_.notify_all();
}

void Reactor::post(Fn fn) {
    bool wake;
    {
        std::lock_guard lock(mu_);
        posted_.push_back(std::move(fn));
        wake = sleeping_;
        sleeping_ = false;  // one wake-up is enough for any number of posts
    }
    if (wake) {
        if (Poller* p = poller_.load()) p->wakeup();
        else cv_.notify_one();
    }
}

uint64_t Reactor::at(TimePoint when, Fn fn) {
    uint64_t id = next_timer_++;
    live_.insert(id);
    heap_.push_back({when, id, std::move(fn)});
    std::push_heap(heap_.begin(), heap_.end(), Later{});
    return id;
}

void Reactor::cancel(uint64_t timer) {
    if (live_.erase(timer)) cancelled_.insert(timer);
    // Cancelled timers wait in the heap until their time; an I/O thread arms and
    // cancels one per call (first-token timeouts of minutes), so without this the heap
    // grew with every call of the last minutes. Dropping them once they outnumber the
    // live ones keeps it in proportion, at O(1) amortized per cancel.
    if (cancelled_.size() > 1024 && cancelled_.size() > live_.size()) {
        std::erase_if(heap_, [this](const Timer& t) { return cancelled_.count(t.id) != 0; });
        std::make_heap(heap_.begin(), heap_.end(), Later{});
        cancelled_.clear();
    }
}

void Reactor::loop(const std::string& name) {
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
    {
        std::lock_guard lock(mu_);
        thread_id_ = std::this_thread::get_id();
    }
    cv_.notify_all();
    std::vector<Fn> batch;
    for (;;) {
        bool polled = false;  // the poller was asked for ready sockets this turn
        {
            std::unique_lock lock(mu_);
            for (;;) {
                if (stop_) return;
                if (!posted_.empty()) break;
                if (!heap_.empty() && heap_.front().when <= Clock::now()) break;
                sleeping_ = true;
                if (Poller* p = poller_.load()) {
                    int timeout = 1000;
                    if (!heap_.empty()) {
                        auto us = std::chrono::duration_cast<std::chrono::microseconds>(heap_.front().when - Clock::now()).count();
                        timeout = static_cast<int>(std::clamp<int64_t>((us + 999) / 1000, 0, 1000));
                    }
                    lock.unlock();
                    p->wait(timeout);
                    p->process();
                    polled = true;
                    lock.lock();
                } else if (heap_.empty()) {
                    cv_.wait(lock);
                } else {
                    cv_.wait_until(lock, heap_.front().when);
                }
                sleeping_ = false;
            }
            batch.swap(posted_);
        }
        for (auto& fn : batch) fn();
        batch.clear();
        // Start the transfers the batch added; and when posts kept the loop from
        // sleeping, look at the sockets anyway, or a steady stream of posts would
        // starve them.
        if (Poller* p = poller_.load()) {
            if (!polled) p->wait(0);
            p->process();
        }
        // Due timers, including ones armed by the timers themselves if already due.
        TimePoint now = Clock::now();
        while (!heap_.empty() && heap_.front().when <= now) {
            std::pop_heap(heap_.begin(), heap_.end(), Later{});
            Timer t = std::move(heap_.back());
            heap_.pop_back();
            if (auto it = cancelled_.find(t.id); it != cancelled_.end()) {
                cancelled_.erase(it);
                continue;
            }
            live_.erase(t.id);
            t.fn();
        }
    }
}

}  // namespace moa
