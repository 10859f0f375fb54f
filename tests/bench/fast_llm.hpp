// The fast loopback LLM server (fast_llm_server) and its load generator: shared
// declarations. See fast_llm_server.cpp for the protocol it speaks.
#pragma once

#include <sys/types.h>

#include <string>

namespace fastllm {

struct ServerOptions {
    int delay_ms = 0;         // answer latency unless the model name says "delay-MS"
    int threads = 1;          // event-loop threads per process (each its own epoll + timer heap)
    int processes = 1;        // server processes sharing the port (one fd table each)
    double max_seconds = 600; // the server exits after this, or when stdin closes
    std::string port_file;    // also write the port here (stdout always gets "PORT n")
    bool watch_stdin = true;  // exit when stdin closes (--ignore-stdin: only the lifetime)
};

// Raises RLIMIT_NOFILE as far as allowed (above the hard limit when privileged);
// returns the soft limit now in force.
long raise_nofile(long wanted);

// Runs the server until its lifetime ends; never returns.
[[noreturn]] void serve(const ServerOptions& o);

struct LoadOptions {
    int connections = 256;
    double seconds = 3;
    int delay_ms = 0;
    int server_threads = 1;
    bool stream = false;
    int port = 0;   // drive this server instead of starting one (its CPU from /proc/pid)
    pid_t pid = 0;
};

// Starts a server child (this executable), drives it with `connections` keep-alive
// connections each sending the next request as soon as the previous answer arrived,
// and prints requests/s and the server's CPU per request. Returns the exit status.
int run_load(const char* self, const LoadOptions& o);

// Spawns `self` as a server child; returns its pid and port; the child exits when
// `stdin_fd` (our end of its stdin pipe) is closed.
struct Child {
    pid_t pid = -1;
    int port = 0;
    int stdin_fd = -1;
};
Child spawn_server(const char* self, int delay_ms, int threads, double max_seconds, int processes = 1);
void stop_server(Child& c);
// CPU time of a live process's threads so far, in milliseconds (/proc/PID/task/*/schedstat).
double process_cpu_ms(pid_t pid);

}  // namespace fastllm
