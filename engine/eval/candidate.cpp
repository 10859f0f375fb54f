// Queries in, a graph candidate's answers out: one Engine per candidate, its answers
// journaled as they finish (journal.hpp) so a rerun pays only for what is missing.
#include <algorithm>
#include <istream>
#include <unordered_map>

#include "eval/journal.hpp"
#include "io/export_file.hpp"
#include "moa/batch_io.hpp"
#include "moa/eval.hpp"

namespace moa::eval {

std::vector<EvalQuery> read_queries(std::istream& in, const std::string& name) {
    JsonlSource src(in);
    std::vector<EvalQuery> out;
    while (auto q = src.next()) {
        if (!q->error.empty()) throw Error(Error::Kind::Invalid, name + ": " + q->error);
        const InputLine& l = src.last();
        out.push_back(EvalQuery{l.line, l.has_id ? l.id : std::to_string(l.line), l.query,
                                l.has_dataset ? l.dataset : std::string()});
    }
    if (in.bad()) throw Error(Error::Kind::Io, "cannot read " + name);
    if (out.empty()) throw Error(Error::Kind::Invalid, name + ": no queries (one JSON object with a \"prompt\" per line)");
    return out;
}

void write_file_atomically(const std::string& path, const std::string& content) {
    ExportFile f;
    f.open(path);
    try {
        f.write(content);
        f.commit();
    } catch (...) {
        f.abandon();
        throw;
    }
}

void Stop::cancel() {
    soft();
    std::lock_guard lock(mu_);
    cancelled_ = true;
    if (engine_) engine_->cancel();
}

void Stop::attach(Engine* e) {
    std::lock_guard lock(mu_);
    engine_ = e;
    if (e && cancelled_) e->cancel();
}

namespace {

// The queries still to run, in input order; stops handing them out on a stop.
class PendingSource : public QuerySource {
public:
    PendingSource(const std::vector<EvalQuery>& qs, const std::vector<size_t>& todo, Stop& stop)
        : qs_(qs), todo_(todo), stop_(stop) {}
    std::optional<Query> next() override {
        if (next_ >= todo_.size() || stop_.stopping()) return std::nullopt;
        const EvalQuery& q = qs_[todo_[next_++]];
        Query out;
        out.id = q.id;
        out.prompt = q.instruction;
        return out;
    }
    size_t handed_out() const { return next_; }

private:
    const std::vector<EvalQuery>& qs_;
    const std::vector<size_t>& todo_;
    Stop& stop_;
    size_t next_ = 0;
};

// One job's answer, its calls and tokens (cache hits included: they are the topology's)
// and its critical path, each cached call counted with the time it took when made.
class JobReader {
public:
    JobReader(const GraphSpec& g, CallTimes* times) : times_(times) {
        std::unordered_map<std::string, std::string> model;
        for (const auto& a : g.agents) model[a.name] = a.model;
        for (size_t i = 0; i < g.nodes.size(); ++i) {
            index_[g.nodes[i].id] = i;
            models_.push_back(model[g.nodes[i].agent]);
        }
        for (const auto& n : g.nodes) {
            std::vector<size_t> in;
            for (const auto& id : n.inputs) in.push_back(index_.at(id));
            inputs_.push_back(std::move(in));
        }
    }

    Answer read(const JobResult& r, const std::string& query) {
        Answer a;
        a.ok = r.ok;
        a.text = r.ok ? r.output() : (r.error_node.empty() ? r.error : r.error_node + ": " + r.error);
        a.measured = true;
        std::vector<double> own(inputs_.size(), 0);
        bool known = true;
        a.cost_known = true;
        for (const auto& n : r.nodes) {
            auto it = index_.find(n.node);
            bool hit = n.cache_hit;
            if (it == index_.end() || (n.attempts == 0 && !hit)) continue;  // skipped, or never started
            a.calls++;
            a.tokens_in += n.tokens_in;
            a.tokens_out += n.tokens_out;
            // What the topology costs: a cache hit's would-be cost counts too (saved_usd).
            a.cost_usd += n.cost_usd + n.saved_usd;
            a.cost_known = a.cost_known && n.cost_known;
            uint64_t key = CallTimes::key(models_[it->second], query, n.text);
            if (!hit) {
                own[it->second] = n.end_ms - n.start_ms;
                if (times_ && n.status == CallStatus::Ok) times_->add(key, own[it->second]);
            } else if (const double* ms = times_ ? times_->find(key) : nullptr) {
                own[it->second] = *ms;
            } else {
                known = false;
            }
        }
        a.latency_ms = known ? critical_path(own) : -1;
        a.cost_known = a.cost_known && a.calls > 0;
        return a;
    }

private:
    // Nodes come in dependency order (inputs first), as the checker emits them.
    double critical_path(const std::vector<double>& own) const {
        std::vector<double> cp(own.size(), 0);
        double longest = 0;
        for (size_t i = 0; i < own.size(); ++i) {
            double before = 0;
            for (size_t in : inputs_[i]) before = std::max(before, cp[in]);
            cp[i] = before + own[i];
            longest = std::max(longest, cp[i]);
        }
        return longest;
    }

    CallTimes* times_;
    std::unordered_map<std::string, size_t> index_;
    std::vector<std::string> models_;
    std::vector<std::vector<size_t>> inputs_;
};

}  // namespace

CandidateRun run_candidate(const GraphSpec& graph, const std::vector<EvalQuery>& queries, const EngineOptions& options,
                           const std::string& journal, Stop& stop, CallTimes* times) {
    CandidateRun run;
    run.answers.resize(queries.size());
    auto done = read_journal(journal);
    std::vector<size_t> todo;
    for (size_t i = 0; i < queries.size(); ++i) {
        auto it = done.find(queries[i].instruction);
        if (it == done.end()) {
            todo.push_back(i);
            continue;
        }
        run.answers[i] = it->second;
        run.reused++;
    }
    if (todo.empty()) return run;
    JournalWriter writer;
    if (!journal.empty()) writer.open(journal);
    EngineOptions eo = options;
    eo.emit_all = true;  // calls and tokens per job come from its node events
    Engine engine(graph, eo);
    stop.attach(&engine);
    PendingSource src(queries, todo, stop);
    JobReader reader(graph, times);
    try {
        run.stats = engine.run_batch(src, [&](JobResult&& r) {
            size_t q = todo[r.seq];
            run.answers[q] = reader.read(r, queries[q].instruction);
            if (run.answers[q].ok) writer.append(queries[q].instruction, run.answers[q]);
        });
    } catch (...) {
        stop.attach(nullptr);
        throw;
    }
    stop.attach(nullptr);
    run.not_run = todo.size() - src.handed_out();
    for (size_t k = src.handed_out(); k < todo.size(); ++k) run.answers[todo[k]].text = "not run (stopped)";
    if (std::string e = engine.cache_error(); !e.empty()) throw Error(Error::Kind::Io, e);
    return run;
}

}  // namespace moa::eval
