// CPU time of the engine's I/O thread(s), measured from outside the engine (the bench
// may not touch engine/): a sampler thread reads /proc/self/task/*/ every few ms.
//
// Which threads are I/O threads: those seen at least once *blocked in a poll-family
// system call* (poll, ppoll, select, pselect6, epoll_wait, epoll_pwait, epoll_pwait2;
// /proc/self/task/TID/syscall gives the number). Only a reactor waits there: TBB
// workers never block on I/O (engine rule 1) and sleep on futexes, as does the thread
// that called run_batch; the sampler itself sleeps in clock_nanosleep. This holds for
// one reactor thread or several, however and whenever the engine creates them.
// CPU per thread: the first field of /proc/self/task/TID/schedstat (ns on a CPU), the
// last value seen, so a thread that ends during the run still counts.
#pragma once

#include <dirent.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

namespace moa::bench {

class ThreadCpu {
public:
    struct Result {
        double io_ms = 0;       // CPU of the I/O threads during the run
        int io_threads = 0;
        double other_ms = 0;    // CPU of every other thread (workers, caller), sampler excluded
        double sampler_ms = 0;  // the sampler's own CPU (already left out of the two above)
        std::string io_names;   // "comm(tid)" of the I/O threads
        // CPU by thread name, the I/O threads' "moa-io-K" as "moa-io", TBB's workers and
        // every other unnamed thread under the process's own name.
        std::map<std::string, double> by_name_ms;
    };

    void start() {
        tasks_.clear();
        stop_ = false;
        read_all(true);
        thread_ = std::thread([this] {
            sampler_tid_ = static_cast<pid_t>(syscall(SYS_gettid));
            while (!stop_.load()) {
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
                read_all(false);
            }
            timespec ts{};
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
            sampler_ms_ = ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
        });
    }

    Result stop() {
        stop_ = true;
        thread_.join();
        read_all(false);
        Result r;
        r.sampler_ms = sampler_ms_;
        for (auto& [tid, t] : tasks_) {
            if (tid == sampler_tid_) continue;
            double ms = (t.last_ns - t.base_ns) / 1e6;
            r.by_name_ms[t.name.rfind("moa-io-", 0) == 0 ? std::string("moa-io") : t.name] += ms;
            if (t.io) {
                r.io_ms += ms;
                r.io_threads++;
                r.io_names += (r.io_names.empty() ? "" : " ") + t.name + "(" + std::to_string(tid) + ")";
            } else {
                r.other_ms += ms;
            }
        }
        return r;
    }

private:
    struct Task {
        double base_ns = 0, last_ns = 0;
        bool io = false;
        std::string name;
    };

    static std::string slurp(const std::string& path) {
        FILE* f = std::fopen(path.c_str(), "r");
        if (!f) return "";
        char buf[256];
        size_t n = std::fread(buf, 1, sizeof buf - 1, f);
        std::fclose(f);
        return std::string(buf, n);
    }

    static bool poll_family(long nr) {
        switch (nr) {
        case SYS_poll: case SYS_ppoll: case SYS_select: case SYS_pselect6:
        case SYS_epoll_wait: case SYS_epoll_pwait:
#ifdef SYS_epoll_pwait2
        case SYS_epoll_pwait2:
#endif
            return true;
        default:
            return false;
        }
    }

    void read_all(bool at_start) {
        DIR* d = opendir("/proc/self/task");
        if (!d) return;
        while (dirent* e = readdir(d)) {
            if (e->d_name[0] == '.') continue;
            pid_t tid = std::atoi(e->d_name);
            std::string dir = std::string("/proc/self/task/") + e->d_name;
            std::string sched = slurp(dir + "/schedstat");
            if (sched.empty()) continue;  // it just ended
            double ns = std::strtod(sched.c_str(), nullptr);
            auto [it, fresh] = tasks_.try_emplace(tid);
            Task& t = it->second;
            if (fresh) {
                t.base_ns = at_start ? ns : 0;  // born during the run: all its CPU is the run's
                t.name = slurp(dir + "/comm");
                if (!t.name.empty() && t.name.back() == '\n') t.name.pop_back();
            }
            t.last_ns = ns;
            std::string sc = slurp(dir + "/syscall");
            if (!sc.empty() && sc[0] != 'r' && poll_family(std::strtol(sc.c_str(), nullptr, 10))) t.io = true;
        }
        closedir(d);
    }

    std::map<pid_t, Task> tasks_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    pid_t sampler_tid_ = 0;
    double sampler_ms_ = 0;
};

}  // namespace moa::bench
