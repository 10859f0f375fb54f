// The judge over the candidates' answers: one judge job per (candidate, query, order),
// each read into a verdict (moa/judge.hpp), paired into outcomes for eval_stats.
#include <optional>

#include "moa/eval.hpp"
#include "moa/judge.hpp"

namespace moa::eval {

namespace {

struct Task {
    size_t candidate = 0, query = 0;
    bool candidate_first = true;  // pairwise: the candidate's answer is {{answer_a}}
};

bool answered(const std::vector<Answer>* answers, size_t q) { return answers && q < answers->size() && (*answers)[q].ok; }

// Every job, in the fixed order; the queries a candidate cannot be judged on are counted.
std::vector<Task> plan_tasks(bool pairwise, size_t n_queries, const std::vector<const std::vector<Answer>*>& candidates,
                             const std::vector<Answer>* baseline, std::vector<Judgements>& out) {
    std::vector<Task> tasks;
    for (size_t c = 0; c < candidates.size(); ++c)
        for (size_t q = 0; q < n_queries; ++q) {
            if (!answered(candidates[c], q) || (pairwise && !answered(baseline, q))) {
                out[c].not_judged++;
                continue;
            }
            tasks.push_back({c, q, true});
            if (pairwise) tasks.push_back({c, q, false});
        }
    return tasks;
}

class TaskSource : public QuerySource {
public:
    TaskSource(const std::vector<Task>& tasks, const std::vector<EvalQuery>& queries,
               const std::vector<const std::vector<Answer>*>& candidates, const std::vector<Answer>* baseline,
               bool pairwise, Stop& stop)
        : tasks_(tasks), queries_(queries), candidates_(candidates), baseline_(baseline), pairwise_(pairwise),
          stop_(stop) {}
    std::optional<Query> next() override {
        if (next_ >= tasks_.size() || stop_.stopping()) return std::nullopt;
        const Task& t = tasks_[next_++];
        Query q;
        q.id = queries_[t.query].id;
        q.prompt = queries_[t.query].instruction;
        const std::string& mine = (*candidates_[t.candidate])[t.query].text;
        if (!pairwise_) {
            q.vars = score_vars(mine);
        } else {
            const std::string& base = (*baseline_)[t.query].text;
            q.vars = t.candidate_first ? pairwise_vars(mine, base) : pairwise_vars(base, mine);
        }
        return q;
    }
    size_t handed_out() const { return next_; }

private:
    const std::vector<Task>& tasks_;
    const std::vector<EvalQuery>& queries_;
    const std::vector<const std::vector<Answer>*>& candidates_;
    const std::vector<Answer>* baseline_;
    bool pairwise_;
    Stop& stop_;
    size_t next_ = 0;
};

// The candidate's preference from one verdict: 1 better, 0 worse, 0.5 tie; nullopt when
// the verdict named nothing (counted by the caller).
std::optional<double> preference(const Verdict& v, bool candidate_first) {
    switch (v.kind) {
        case Verdict::Kind::First: return candidate_first ? 1.0 : 0.0;
        case Verdict::Kind::Second: return candidate_first ? 0.0 : 1.0;
        case Verdict::Kind::Tie: return 0.5;
        default: return std::nullopt;
    }
}

void count_unread(const Verdict& v, Judgements& j) {
    if (v.members > 0 && v.failed == v.members) j.judge_failed++;
    else j.unparsable++;
}

// Pairs the two orders of each query (adjacent in `tasks`) into outcomes.
void collect(bool pairwise, const std::vector<Task>& tasks, const std::vector<std::optional<Verdict>>& verdicts,
             const std::vector<EvalQuery>& queries, const std::vector<const std::vector<Answer>*>& candidates,
             const std::vector<Answer>* baseline, std::vector<Judgements>& out) {
    for (size_t i = 0; i < tasks.size(); i += pairwise ? 2 : 1) {
        const Task& t = tasks[i];
        Judgements& j = out[t.candidate];
        if (!verdicts[i] || (pairwise && !verdicts[i + 1])) continue;  // not run (stopped)
        if (!pairwise) {
            if (verdicts[i]->kind == Verdict::Kind::Score) j.scores.push_back(verdicts[i]->score);
            else count_unread(*verdicts[i], j);
            continue;
        }
        auto first = preference(*verdicts[i], true), second = preference(*verdicts[i + 1], false);
        if (!first) count_unread(*verdicts[i], j);
        if (!second) count_unread(*verdicts[i + 1], j);
        if (!first || !second) continue;
        PairOutcome o;
        o.query_id = queries[t.query].id;
        o.preference = swapped_preference(*first, *second);
        o.len_candidate = code_points((*candidates[t.candidate])[t.query].text);
        o.len_baseline = code_points((*baseline)[t.query].text);
        j.outcomes.push_back(std::move(o));
    }
}

}  // namespace

JudgeRun judge_answers(const GraphSpec& judge, const std::vector<EvalQuery>& queries,
                       const std::vector<const std::vector<Answer>*>& candidates, const std::vector<Answer>* baseline,
                       const EngineOptions& options, Stop& stop) {
    if (!judge.verdict) throw Error(Error::Kind::Invalid, "the judge graph has no verdict declaration");
    const bool pairwise = judge.verdict->mode == VerdictMode::Pairwise;
    if (pairwise && !baseline) throw Error(Error::Kind::Invalid, "a pairwise judge needs a baseline (--baseline)");
    JudgeRun run;
    run.per_candidate.resize(candidates.size());
    std::vector<Task> tasks = plan_tasks(pairwise, queries.size(), candidates, baseline, run.per_candidate);
    if (tasks.empty()) return run;
    std::vector<std::optional<Verdict>> verdicts(tasks.size());
    Engine engine(judge, options);
    stop.attach(&engine);
    TaskSource src(tasks, queries, candidates, baseline, pairwise, stop);
    try {
        run.stats = engine.run_batch(src, [&](JobResult&& r) { verdicts[r.seq] = read_verdict(engine.graph(), r); });
    } catch (...) {
        stop.attach(nullptr);
        throw;
    }
    stop.attach(nullptr);
    run.not_run = tasks.size() - src.handed_out();
    if (std::string e = engine.cache_error(); !e.empty()) throw Error(Error::Kind::Io, e);
    collect(pairwise, tasks, verdicts, queries, candidates, baseline, run.per_candidate);
    return run;
}

}  // namespace moa::eval
