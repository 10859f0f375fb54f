// The batch progress bar (stderr, on a terminal) and the input's job count.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "moa/engine.hpp"

namespace moa::cli {

// Jobs in a JSONL file: its non-blank lines (blank lines are not jobs); 0 if unknown.
size_t count_jobs(const std::string& path);

// One line redrawn a few times a second: jobs done (counting `already` answered by an
// earlier run being resumed), calls running and queued, rate, ETA.
class ProgressBar {
public:
    ProgressBar(const Engine& e, size_t total, size_t already);
    ~ProgressBar();

private:
    void draw();
    const Engine& engine_;
    size_t total_, already_;
    std::chrono::steady_clock::time_point t0_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace moa::cli
