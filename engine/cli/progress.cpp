#include "progress.hpp"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>

namespace moa::cli {

size_t count_jobs(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return 0;
    size_t n = 0;
    bool content = false;  // the current line has a non-blank character
    std::string buf(1 << 16, '\0');
    while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
        for (std::streamsize i = 0; i < in.gcount(); ++i) {
            char c = buf[static_cast<size_t>(i)];
            if (c == '\n') {
                n += content;
                content = false;
            } else if (c != ' ' && c != '\t' && c != '\r') {
                content = true;
            }
        }
    }
    return n + content;
}

namespace {
std::string fmt_duration(double s) {
    if (s < 0 || s > 1e7) return "?";
    int t = static_cast<int>(s + 0.5);
    char buf[32];
    if (t >= 3600) std::snprintf(buf, sizeof buf, "%dh%02dm", t / 3600, t / 60 % 60);
    else std::snprintf(buf, sizeof buf, "%dm%02ds", t / 60, t % 60);
    return buf;
}
}  // namespace

ProgressBar::ProgressBar(const Engine& e, size_t total, size_t already)
    : engine_(e), total_(total), already_(already), t0_(std::chrono::steady_clock::now()) {
    thread_ = std::thread([this] {
        while (!stop_) {
            draw();
            for (int i = 0; i < 5 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        draw();
        std::cerr << "\n";
    });
}

ProgressBar::~ProgressBar() {
    stop_ = true;
    thread_.join();
}

void ProgressBar::draw() {
    auto p = engine_.progress();
    double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    double rate = el > 0 ? static_cast<double>(p.done) / el : 0;  // this run's pace
    size_t done = already_ + p.done;
    std::string bar;
    if (total_) {
        size_t w = 30, fill = std::min(w, done * w / total_);
        bar = "[" + std::string(fill, '=') + std::string(w - fill, ' ') + "] ";
    }
    size_t queued = p.calls_in_flight > p.calls_running ? p.calls_in_flight - p.calls_running : 0;
    char line[256];
    std::snprintf(line, sizeof line, "\r%s%zu/%s jobs  %zu calls running, %zu queued  %.1f jobs/s  ETA %s   ", bar.c_str(),
                  done, total_ ? std::to_string(total_).c_str() : "?", p.calls_running, queued, rate,
                  total_ && rate > 0 && total_ > done ? fmt_duration(static_cast<double>(total_ - done) / rate).c_str() : "?");
    std::cerr << line << std::flush;
}

}  // namespace moa::cli
