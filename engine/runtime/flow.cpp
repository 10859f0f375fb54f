// The compiled topology: a tbb::flow::graph with an async_node per IR node (renders
// the prompt and hands the call to the scheduler, returns at once). The IR's edges
// are applied where a node resolves: its result is offered to each node it feeds, whose
// fan-in rule (collect) runs right there, under the job's lock, and only a node that
// fires becomes a TBB task. (Until 2026-11 every edge was a flow-graph edge into a
// collector node: a proposer's answer became one task per aggregator it feeds, most of
// which only counted an arrival: 4.3 tasks per call and, at low load, a worker
// wake-up per reply. See docs/performance.md, "Fan-in where the input resolves".)
// Routes are applied the same way: when the node they read resolves, or when the job
// starts for a route on the query.
//
// Every node resolves exactly once per job (Ok, Error, Skipped or Cancelled) and is
// always offered to its consumers, so no node waits forever.
#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <condition_variable>
#include <map>

#include "runtime/engine_core.hpp"
#include "runtime/flow_graph.hpp"
#include "moa/ascii.hpp"

namespace moa {

namespace tf = tbb::flow;

namespace {
constexpr int kStart = -1;
constexpr int kRoute = -2;
constexpr int kDeadline = -3;
}  // namespace

struct Token {
    JobPtr job;
    int from = kStart;
};

struct Fire {
    JobPtr job;
    bool skip = false;
    CallStatus skip_status = CallStatus::Skipped;
    std::string skip_reason;
    std::vector<std::string_view> responses;
    std::vector<int> from;  // the node each response came from (what `result = pick` numbers)
};

// The gateway's output type is unused: results travel by deliver(), not by edges.
using CallNode = tf::async_node<Fire, int>;

struct FlowGraph::Nodes {
    // The arena has no slot reserved for a master thread: its workers alone run the
    // graph, since messages arrive from the reactor and from callers' threads.
    explicit Nodes(tbb::task_arena*) {}
    std::unique_ptr<tbb::task_arena> arena;
    tf::graph g;
    std::vector<std::unique_ptr<CallNode>> calls;
    std::vector<int> sources;                  // nodes with no input and no route
    std::vector<std::vector<int>> routes_on;   // [node + 1]: routes reading it ([0]: the query)
};

FlowGraph::FlowGraph(EngineCore& core, int threads) : core_(core) {
    // The graph attaches to the arena it is built in.
    auto* arena = new tbb::task_arena(threads > 0 ? threads : tbb::task_arena::automatic, 0);
    arena->execute([&] { nodes_.reset(new Nodes(arena)); });
    nodes_->arena.reset(arena);
    nodes_->arena->execute([&] { build(); });
}

FlowGraph::~FlowGraph() {
    nodes_->arena->execute([&] { nodes_->g.wait_for_all(); });
    auto arena = std::move(nodes_->arena);
    arena->execute([&] { nodes_.reset(); });
}

void FlowGraph::wait_idle() {
    nodes_->arena->execute([&] { nodes_->g.wait_for_all(); });
}

void FlowGraph::start_job(const JobPtr& job) { deliver(job, kStart); }

void FlowGraph::build() {
    auto& n = *nodes_;
    const auto& plan = core_.plan;
    size_t count = plan.nodes.size();
    n.calls.resize(count);
    n.routes_on.resize(count + 1);
    for (size_t i = 0; i < count; ++i) {
        int idx = static_cast<int>(i);
        n.calls[i] = std::make_unique<CallNode>(
            n.g, tf::unlimited, [this, idx](const Fire& f, CallNode::gateway_type& gw) { call(idx, f, gw); });
        const auto& pn = plan.nodes[i];
        if (pn.inputs.empty() && pn.gate < 0) n.sources.push_back(idx);
    }
    for (size_t r = 0; r < plan.routes.size(); ++r)
        n.routes_on[static_cast<size_t>(plan.routes[r].on + 1)].push_back(static_cast<int>(r));
}

// Node `from` has resolved (kStart: the job starts): its routes decide, then every node
// it feeds sees it arrive. Runs on the thread that resolved it (the reactor, the cache
// thread, a worker, or the caller for kStart), before that node releases its wait on
// the graph, so the graph is never idle while a job still has a node to fire.
void FlowGraph::deliver(const JobPtr& job, int from) {
    const auto& n = *nodes_;
    for (int r : n.routes_on[static_cast<size_t>(from + 1)]) {
        route(r, Token{job, from});
        for (int gated : core_.plan.routes[static_cast<size_t>(r)].gated) offer(gated, Token{job, kRoute});
    }
    const std::vector<int>& to = from == kStart ? n.sources : core_.plan.nodes[static_cast<size_t>(from)].consumers;
    for (int c : to) offer(c, Token{job, from});
}

// One arrival at node i; if its fan-in rule fires, the node's call becomes a task.
void FlowGraph::offer(int i, const Token& t) {
    Fire f;
    if (collect(i, t, f)) nodes_->calls[static_cast<size_t>(i)]->try_put(std::move(f));
}

// Applies node i's fan-in rule to one arriving token. Returns true (and fills f)
// when the node fires, for a call or as a skip; it fires at most once per job.
bool FlowGraph::collect(int i, const Token& t, Fire& f) {
    JobState& job = *t.job;
    const PlanNode& pn = core_.plan.nodes[static_cast<size_t>(i)];
    std::unique_lock lock(job.mu);
    NodeState& ns = job.nodes[static_cast<size_t>(i)];
    if (ns.fired) return false;
    if (t.from >= 0) {
        ++ns.arrived;
        const NodeState& src = job.nodes[static_cast<size_t>(t.from)];
        if (src.status == CallStatus::Ok) ++ns.ok;
        else if (src.status == CallStatus::Error || src.status == CallStatus::Cancelled) ++ns.failed;
    } else if (t.from == kDeadline) {
        ns.deadline_passed = true;
    }
    auto fire_skip = [&](CallStatus st, std::string why) {
        ns.fired = true;
        f.job = t.job;
        f.skip = true;
        f.skip_status = st;
        f.skip_reason = std::move(why);
        release_inputs(job, pn);
        return true;
    };
    if (!job.input_error.empty()) return fire_skip(CallStatus::Error, job.input_error);
    if (pn.gate >= 0 && ns.route_open < 0) return false;  // the route has not decided yet
    if (pn.gate >= 0 && ns.route_open == 0) return fire_skip(CallStatus::Skipped, "branch not taken");
    if (ns.want == 0) return fire_skip(CallStatus::Cancelled, "no longer needed");
    int n_in = static_cast<int>(pn.inputs.size());
    if (n_in > 0) {
        bool all_in = ns.arrived == n_in;
        int skipped = ns.arrived - ns.ok - ns.failed;
        bool ready = false;
        switch (pn.fan_in.kind) {
            case FanInKind::All: ready = all_in; break;
            case FanInKind::AtLeast: ready = ns.ok >= pn.fan_in.k || all_in; break;
            case FanInKind::Deadline: ready = all_in || (ns.deadline_passed && ns.ok > 0); break;
        }
        if (pn.fan_in.kind == FanInKind::Deadline && !ready && !ns.deadline_armed && ns.arrived > 0) {
            ns.deadline_armed = true;
            arm_deadline(t.job, i, pn.fan_in.deadline_ms);
        }
        if (!ready) return false;
        if (ns.ok == 0) {
            if (skipped == ns.arrived) return fire_skip(CallStatus::Skipped, "all inputs skipped");
            return fire_skip(CallStatus::Error, "input failed: " + first_failure(job, pn));
        }
        if (pn.fan_in.kind == FanInKind::All && ns.failed > 0)
            return fire_skip(CallStatus::Error, "input failed: " + first_failure(job, pn));
        if (pn.fan_in.kind == FanInKind::AtLeast && ns.ok < pn.fan_in.k && ns.ok + skipped < n_in)
            return fire_skip(CallStatus::Error, "only " + std::to_string(ns.ok) + " of " + std::to_string(n_in) +
                                                    " inputs succeeded, at_least(" + std::to_string(pn.fan_in.k) +
                                                    ") needed; " + first_failure(job, pn));
        f.responses.reserve(static_cast<size_t>(ns.ok));
        f.from.reserve(static_cast<size_t>(ns.ok));
        for (int in : pn.inputs) {
            const NodeState& src = job.nodes[static_cast<size_t>(in)];
            if (src.resolved && src.status == CallStatus::Ok) {
                f.responses.push_back(src.text);
                f.from.push_back(in);
            }
        }
    }
    ns.fired = true;
    f.job = t.job;
    release_inputs(job, pn);
    return true;
}

// Inputs this node will not wait for lose a consumer; a call nobody needs any more
// is cancelled (frees its backend slot; its result would be thrown away).
void FlowGraph::release_inputs(JobState& job, const PlanNode& pn) {
    for (int in : pn.inputs) {
        NodeState& src = job.nodes[static_cast<size_t>(in)];
        if (src.resolved) continue;
        if (--src.want == 0 && src.call) core_.scheduler->cancel(src.call);
    }
}

std::string FlowGraph::first_failure(const JobState& job, const PlanNode& pn) const {
    for (int in : pn.inputs) {
        const NodeState& src = job.nodes[static_cast<size_t>(in)];
        if (src.resolved && (src.status == CallStatus::Error || src.status == CallStatus::Cancelled))
            return core_.plan.nodes[static_cast<size_t>(in)].id + ": " + src.text;
    }
    return "";
}

void FlowGraph::arm_deadline(const JobPtr& job, int i, int64_t ms) {
    nodes_->g.reserve_wait();  // the graph is not idle while a deadline is pending
    auto when = Clock::now() + std::chrono::milliseconds(ms);
    core_.reactor.post([this, job, i, when] {
        core_.reactor.at(when, [this, job, i] {
            offer(i, Token{job, kDeadline});
            nodes_->g.release_wait();
        });
    });
}

void FlowGraph::route(int r, const Token& t) {
    JobState& job = *t.job;
    const PlanRoute& rp = core_.plan.routes[static_cast<size_t>(r)];
    std::string text;
    {
        std::lock_guard lock(job.mu);
        if (rp.on < 0) text = job.query;
        else if (job.nodes[static_cast<size_t>(rp.on)].status == CallStatus::Ok)
            text = job.nodes[static_cast<size_t>(rp.on)].text;
    }
    ascii::lower_in_place(text);
    int chosen = rp.otherwise;
    for (size_t a = 0; a < rp.arms.size() && chosen == rp.otherwise; ++a)
        for (const auto& p : rp.arms[a].patterns)
            if (text.find(p) != std::string::npos) {
                chosen = static_cast<int>(a);
                break;
            }
    std::lock_guard lock(job.mu);
    for (size_t a = 0; a < rp.arms.size(); ++a)
        for (int node : rp.arms[a].nodes) job.nodes[static_cast<size_t>(node)].route_open = static_cast<int>(a) == chosen ? 1 : 0;
}

// `result = pick`: the reply (kept, as the cache keeps it) names one of the responses
// shown; the node's result becomes that response's text, byte for byte. A reply that
// names none of them fails the node: a ranker's choice is never guessed.
void FlowGraph::pick(JobState& job, int i, const std::vector<int>& shown, Reply& r) {
    std::string why;
    int k = parse_pick(r.text, shown.size(), why);
    std::lock_guard lock(job.mu);
    NodeState& ns = job.nodes[static_cast<size_t>(i)];
    ns.reply = r.text;
    if (k < 0) {
        r.status = CallStatus::Error;
        r.error_kind = ErrorKind::Pick;
        r.text = std::move(why);
        return;
    }
    int from = shown[static_cast<size_t>(k)];
    ns.picked = core_.plan.nodes[static_cast<size_t>(from)].id;
    r.text = job.nodes[static_cast<size_t>(from)].text;
}

template <typename Gateway>
void FlowGraph::call(int i, const Fire& f, Gateway& gw) {
    gw.reserve_wait();
    if (f.skip) {
        Reply r;
        r.status = f.skip_status;
        r.text = f.skip_reason;
        r.error_kind = f.skip_status == CallStatus::Error       ? ErrorKind::Input
                       : f.skip_status == CallStatus::Cancelled ? ErrorKind::Cancelled
                                                                : ErrorKind::Skipped;
        core_.resolve(f.job, i, std::move(r), nullptr);
        deliver(f.job, i);
        gw.release_wait();
        return;
    }
    const PlanNode& pn = core_.plan.nodes[static_cast<size_t>(i)];
    auto c = std::make_shared<Call>();
    c->backend = pn.backend;
    c->agent = pn.agent;
    c->replica = pn.replica;
    c->seed = core_.options.seed;
    c->id = core_.calls_made.fetch_add(1, std::memory_order_relaxed) + 1;
    c->made = Clock::now();
    c->job_id = &f.job->id;
    c->node_id = &pn.id;
    c->messages = pn.prompt.render(f.job->query, f.responses, &f.job->vars);
    c->vars = &f.job->vars;  // the job outlives the call: c->done holds it
    c->verdict = pn.verdict;
    size_t chars = 0;
    for (const auto& m : c->messages) chars += m.content.size();
    c->est_tokens = static_cast<uint32_t>(chars / 4 + (pn.agent->max_tokens ? *pn.agent->max_tokens : 512));
    c->priority = f.job->seq;
    c->height = pn.height;
    bool picks = pn.result == ResultKind::Pick;
    bool streamed = f.job->on_chunk && i == core_.plan.streamed;
    // A picking node's reply is a number: the answer streamed is the picked text.
    if (streamed && !picks) c->on_chunk = f.job->on_chunk;
    if (picks) c->choices = static_cast<uint32_t>(f.responses.size());
    core_.backends->at(*pn.backend).prepare(*c);  // here, on a worker: off the reactor
    JobPtr job = f.job;
    std::vector<int> shown = picks ? f.from : std::vector<int>{};
    c->done = [this, job, i, &gw, picks, streamed, shown = std::move(shown)](Call& call, Reply&& r) {
        if (picks && r.status == CallStatus::Ok) {
            pick(*job, i, shown, r);
            if (streamed && r.status == CallStatus::Ok) job->on_chunk(StreamChunk{r.text});
        }
        core_.resolve(job, i, std::move(r), &call);
        deliver(job, i);
        gw.release_wait();
    };
    bool released = false;
    {
        // Between this node's fan-in rule firing and this point, its consumers may
        // have released it (release_inputs found no call to cancel): nobody would
        // cancel it later, so it must not start.
        std::lock_guard lock(job->mu);
        NodeState& ns = job->nodes[static_cast<size_t>(i)];
        released = ns.want == 0;
        if (!released) ns.call = c;
        ns.fired_at = Clock::now();
    }
    if (released) {
        Reply r;
        r.status = CallStatus::Cancelled;
        r.error_kind = ErrorKind::Cancelled;
        r.text = "cancelled: no longer needed";
        c->submitted = c->finished = Clock::now();
        auto done = std::move(c->done);
        done(*c, std::move(r));
        return;
    }
    core_.submit(c, pn.id);
}

}  // namespace moa
