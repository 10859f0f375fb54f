// The compiled topology as a oneTBB flow graph (flow.cpp, the only file that includes
// flow_graph.h). Owns the task_arena whose workers run it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/job.hpp"

namespace moa {

struct EngineCore;
struct PlanNode;
struct Token;
struct Fire;

class FlowGraph {
public:
    FlowGraph(EngineCore& core, int threads);  // threads = 0: all cores
    // Waits for the graph to be idle, then frees it and its arena. The owner first
    // stops every thread that may still be inside a node's callback (see
    // Engine::Impl::shutdown in engine.cpp).
    ~FlowGraph();
    FlowGraph(const FlowGraph&) = delete;
    FlowGraph& operator=(const FlowGraph&) = delete;
    void start_job(const JobPtr& job);  // any thread
    // Returns when every job started has finished: every node resolved and every
    // call's completion has released its wait (pending deadlines included).
    void wait_idle();

private:
    struct Nodes;
    void build();
    void deliver(const JobPtr& job, int from);
    void offer(int node, const Token& t);
    bool collect(int node, const Token& t, Fire& f);
    void release_inputs(JobState& job, const PlanNode& pn);
    std::string first_failure(const JobState& job, const PlanNode& pn) const;
    void arm_deadline(const JobPtr& job, int node, int64_t ms);
    void route(int r, const Token& t);
    void pick(JobState& job, int node, const std::vector<int>& shown, Reply& r);
    template <typename Gateway>
    void call(int node, const Fire& f, Gateway& gw);

    EngineCore& core_;
    std::unique_ptr<Nodes> nodes_;
};

}  // namespace moa
