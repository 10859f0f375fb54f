// The state of one job (one query going through the whole graph): per node, what its
// fan-in rule has seen (FlowGraph::collect) and the result it resolved to. Shared
// (JobPtr) by the flow graph's messages and the calls in flight; guarded by its own mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "moa/engine.hpp"
#include "runtime/call.hpp"
#include "runtime/prompt.hpp"

namespace moa {

struct NodeState {
    // fan-in side (FlowGraph::collect)
    int arrived = 0, ok = 0, failed = 0;
    bool fired = false;
    bool deadline_armed = false, deadline_passed = false;
    int route_open = -1;
    int want = 0;
    CallPtr call;
    TimePoint fired_at{};
    // result
    bool resolved = false;
    CallStatus status = CallStatus::Ok;
    std::string text;
    std::string error_kind;
    int attempts = 0;
    std::string agent;  // the agent that answered (the fallback, if it took over)
    std::string fallback_from;
    std::string reply, picked;  // result = pick: the model's reply and the input it named
    uint32_t tokens_in = 0, tokens_out = 0, tokens_cached = 0;
    bool tokens_estimated = false, cache_hit = false, cost_known = false;
    double cost_usd = 0, saved_usd = 0;
    std::string priced;  // "backend/model" of the agent that answered
    TimePoint start{}, end{};
};

struct JobState {
    uint64_t seq = 0;
    std::string id;
    std::string query;
    JobVars vars;  // Query::vars: named values the templates show ({{answer}}, ...)
    std::string input_error;  // malformed input line: every node fails with this
    TimePoint started;
    std::mutex mu;
    std::vector<NodeState> nodes;
    std::atomic<int> remaining{0};
    ChunkFn on_chunk;
    std::function<void(JobResult&&)> finished;
};
using JobPtr = std::shared_ptr<JobState>;

}  // namespace moa
