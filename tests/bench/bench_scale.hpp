// `bench_http scale`: the HTTP-at-scale figures of issue 12 (see bench_scale.cpp).
#pragma once

namespace moa::bench {

struct ScaleOptions {
    bool capacity = true;  // 0. the loopback server's own capacity
    bool paper = true;     // a. and b. (805 x paper MoA)
    int n = 20000;         // c. one-call jobs at once (0: skip)
    int server_processes = 2;  // fast_llm_server processes (one fd table each)
    int server_threads = 1;    // event-loop threads per server process
    int threads = 0;           // EngineOptions::threads (TBB workers; 0: the engine's default)
};

int scale_main(const ScaleOptions& o);

}  // namespace moa::bench
