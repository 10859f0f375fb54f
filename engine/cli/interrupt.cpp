#include "interrupt.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <algorithm>
#include <cerrno>
#include <csignal>

namespace moa::cli {

namespace {

int g_pipe = -1;

extern "C" void on_signal(int sig) {
    unsigned char b = static_cast<unsigned char>(sig);
    int saved = errno;
    if (g_pipe >= 0 && ::write(g_pipe, &b, 1) < 0) {
        // nothing safe to do in a handler
    }
    errno = saved;
}

constexpr unsigned char kQuit = 0, kStopNow = 255;

}  // namespace

Interrupts::Interrupts(Hooks hooks, double grace_seconds) : hooks_(std::move(hooks)), grace_(grace_seconds) {
    if (pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) wake_[0] = wake_[1] = -1;
    if (pipe2(pipe_, O_CLOEXEC | O_NONBLOCK) != 0) return;
    g_pipe = pipe_[1];
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    thread_ = std::thread([this] { watch(); });
}

Interrupts::~Interrupts() {
    if (pipe_[0] < 0) return;
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    unsigned char b = kQuit;
    if (::write(pipe_[1], &b, 1) < 0) {
        // the watcher also ends when the pipe closes
    }
    thread_.join();
    g_pipe = -1;
    close(pipe_[0]);
    close(pipe_[1]);
    if (wake_[0] >= 0) {
        close(wake_[0]);
        close(wake_[1]);
    }
}

void Interrupts::stop_now() {
    unsigned char b = kStopNow;
    if (pipe_[1] >= 0 && ::write(pipe_[1], &b, 1) < 0) {
        // a full pipe already holds a wake-up
    }
}

void Interrupts::wake_reader() {
    unsigned char b = 1;
    if (wake_[1] >= 0 && ::write(wake_[1], &b, 1) < 0) {
        // already readable
    }
}

void Interrupts::watch() {
    using Clock = std::chrono::steady_clock;
    Clock::time_point deadline{};
    bool armed = false, cancelled = false;
    for (;;) {
        int timeout = -1;
        if (armed && !cancelled) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
            timeout = static_cast<int>(std::max<long long>(0, left));
        }
        pollfd p{pipe_[0], POLLIN, 0};
        int n = poll(&p, 1, timeout);
        if (n == 0) {  // grace period over
            cancelled = true;
            if (hooks_.grace_over) hooks_.grace_over();
            continue;
        }
        unsigned char b = 0;
        if (n < 0 || ::read(pipe_[0], &b, 1) != 1) continue;
        if (b == kQuit) return;
        if (b == kStopNow) {
            wake_reader();
            if (!cancelled && hooks_.grace_over) hooks_.grace_over();
            cancelled = true;
            continue;
        }
        int expected = 0;
        if (sig_.compare_exchange_strong(expected, b)) {
            if (hooks_.first) hooks_.first(b);
            wake_reader();
            armed = true;
            deadline = Clock::now() + std::chrono::milliseconds(static_cast<long long>(grace_ * 1000));
        } else {
            if (hooks_.second) hooks_.second(b);
            _exit(128 + b);
        }
    }
}

}  // namespace moa::cli
