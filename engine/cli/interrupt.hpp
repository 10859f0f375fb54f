// SIGINT/SIGTERM during a batch: the first signal stops new jobs and gives the jobs in
// flight a grace period before their calls are cancelled; a second signal exits at
// once. Handlers only write to a self-pipe; a plain thread (not a TBB worker) reacts.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

namespace moa::cli {

class Interrupts {
public:
    struct Hooks {
        std::function<void(int sig)> first;   // stop starting jobs, say so
        std::function<void()> grace_over;     // cancel what is still running
        std::function<void(int sig)> second;  // last words before _exit
    };
    Interrupts(Hooks hooks, double grace_seconds);
    ~Interrupts();  // restores the default handlers
    int signal() const { return sig_.load(); }  // 0, or the first signal received
    void stop_now();  // grace over at once (e.g. a write failed)
    // Readable from the first signal on: the input reader polls it with its fd, so a
    // read waiting on a pipe or terminal ends (see StoppableInput).
    int wake_fd() const { return wake_[0]; }

private:
    void watch();
    void wake_reader();
    Hooks hooks_;
    double grace_;
    int pipe_[2] = {-1, -1};
    std::atomic<int> sig_{0};
    int wake_[2] = {-1, -1};
    std::thread thread_;
};

}  // namespace moa::cli
