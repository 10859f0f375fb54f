// `moa eval`: load the candidates (graphs, variants of --vary, AlpacaEval outputs files),
// run the graphs one after another, each on its own Engine over the one response cache
// (so a finished call is never paid twice, and each candidate's latency is measured
// without the others competing for the same backend slots), judge, print the table.
#include "eval_cmd.hpp"

#include <CLI/CLI.hpp>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "interrupt.hpp"
#include "log.hpp"
#include "run_flags.hpp"
#include "moa/diagnostics.hpp"
#include "moa/duration.hpp"
#include "moa/engine.hpp"
#include "moa/eval.hpp"
#include "moa/eval_stats.hpp"
#include "run.hpp"

namespace moa::cli {

namespace fs = std::filesystem;
using eval::Answer;

namespace {

// One column of the table: a graph (or one --vary variant of it) or an outputs file.
struct Candidate {
    std::string name;   // in the table: the file's stem, G[NAME=v] for a variant
    std::string path;
    bool from_file = false;
    GraphSpec graph;
    std::string fingerprint;  // graphs: names the answers journal
    std::vector<Answer> answers;
};

// A usage or input problem: printed, and the command exits with `code`.
struct Fail {
    int code;
    std::string message;
};

std::string stem(const std::string& path) { return fs::path(path).stem().string(); }

// Loads one graph with the eval's params; the variant's own NAME=value last (it wins).
// The baseline takes no --param or --vary (`sweep` false): it is the fixed point.
Candidate load_graph_candidate(const std::string& path, const EvalArgs& a, LoadOptions load,
                               const std::vector<std::pair<std::string, std::string>>& extra, bool sweep) {
    for (const auto& p : sweep ? a.params : std::vector<std::string>{}) {
        auto kv = split_param_arg(p);
        if (!kv) throw Fail{2, "--param " + p + ": expected NAME=value"};
        load.params.push_back(*kv);
    }
    for (const auto& kv : extra) load.params.push_back(kv);
    Diagnostics d;
    LoadResult r = load_graph(path, load, d);
    d.render(std::cerr, DiagFormat::Text, a.color);
    if (!r.ok) throw Fail{1, "cannot load candidate " + path};
    if (r.graph.outputs.empty()) throw Fail{1, path + " has no output to answer with"};
    std::string note, error;
    if (!pick_outputs(r.graph, path, "", note, error)) throw Fail{1, error};
    if (std::string missing = missing_api_keys(r.graph); !missing.empty()) throw Fail{1, missing};
    Candidate c;
    c.path = path;
    c.name = stem(path);
    for (const auto& [k, v] : extra) c.name += "[" + k + "=" + v + "]";
    c.fingerprint = fingerprint(r.graph, a.seed);
    c.graph = std::move(r.graph);
    return c;
}

// A candidate path: an outputs file, one graph, or one graph per --vary value.
std::vector<Candidate> load_candidate(const std::string& path, const EvalArgs& a, const LoadOptions& load,
                                      const std::vector<eval::EvalQuery>& queries, bool sweep) {
    if (eval::looks_like_alpaca_outputs(path)) {
        Candidate c;
        c.path = path;
        c.name = stem(path);
        c.from_file = true;
        eval::MatchReport rep;
        c.answers = eval::match_alpaca_outputs(eval::read_alpaca_outputs(path), queries, path, rep);
        if (rep.unmatched_entries && !a.quiet)
            std::cerr << "moa eval: " << path << ": " << rep.unmatched_entries
                      << " entries answer no input query (ignored)\n";
        return {std::move(c)};
    }
    if (!sweep || a.vary.empty()) return {load_graph_candidate(path, a, load, {}, sweep)};
    std::vector<Candidate> out;
    for (const auto& spec : a.vary) {
        auto kv = split_param_arg(spec);
        if (!kv) throw Fail{2, "--vary " + spec + ": expected NAME=v1,v2,..."};
        for (const auto& v : split_vary_values(kv->second))
            out.push_back(load_graph_candidate(path, a, load, {{kv->first, v}}, true));
    }
    return out;
}

// Table names are unique: two files with one stem are told apart by their paths.
void unique_names(std::vector<Candidate>& cs) {
    for (auto& c : cs) {
        size_t same = 0;
        for (const auto& o : cs) same += o.name == c.name;
        if (same > 1 && c.path != c.name) c.name = c.path + (c.name.size() > stem(c.path).size() ? c.name.substr(stem(c.path).size()) : "");
    }
}

GraphSpec load_judge(const EvalArgs& a, const LoadOptions& load) {
    Diagnostics d;
    LoadResult r = load_graph(a.judge, load, d);
    d.render(std::cerr, DiagFormat::Text, a.color);
    if (!r.ok) throw Fail{1, "cannot load the judge " + a.judge};
    if (!r.graph.verdict)
        throw Fail{1, a.judge + " is not a judge: it has no `verdict` declaration (docs/language.md)"};
    if (std::string missing = missing_api_keys(r.graph); !missing.empty()) throw Fail{1, missing};
    return std::move(r.graph);
}

std::vector<eval::EvalQuery> load_queries(const std::string& input) {
    std::ifstream in(input, std::ios::binary);
    if (!in) throw Fail{1, "cannot open " + input + ": " + std::strerror(errno)};
    return eval::read_queries(in, input);
}

EngineOptions engine_options(const EvalArgs& a) {
    EngineOptions eo;
    eo.threads = a.threads;
    eo.max_calls = a.concurrency;
    eo.seed = a.seed;
    eo.cache_mode = CacheMode::ReadWrite;
    eo.cache_path = a.cache_db;
    return eo;
}

struct Totals {
    RunStats candidates, judge;
    size_t reused = 0;
    void add(RunStats& to, const RunStats& s) {
        to.calls += s.calls;
        to.cache_hits += s.cache_hits;
        to.cache_misses += s.cache_misses;
        to.tokens_in += s.tokens_in;
        to.tokens_out += s.tokens_out;
    }
};

// Runs one graph candidate; false when a stop cut it short.
bool run_graph(Candidate& c, const std::vector<eval::EvalQuery>& qs, const EvalArgs& a, eval::Stop& stop,
               eval::CallTimes& times, Totals& totals) {
    std::string journal = (fs::path(a.state_dir) / (c.fingerprint + ".jsonl")).string();
    if (!a.quiet) std::cerr << "moa eval: " << c.name << ": " << qs.size() << " queries\n";
    eval::CandidateRun run = eval::run_candidate(c.graph, qs, engine_options(a), journal, stop, &times);
    c.answers = std::move(run.answers);
    totals.add(totals.candidates, run.stats);
    totals.reused += run.reused;
    return run.not_run == 0 && !stop.stopping();
}

void print_summary(const Totals& t, const EvalArgs& a) {
    if (a.quiet) return;
    std::cerr << "moa eval: candidates: " << t.candidates.cache_misses << " calls to backends, "
              << t.candidates.cache_hits << " answered by the cache, " << t.reused << " answers reused from "
              << a.state_dir << "; judge: " << t.judge.cache_misses << " calls to backends, " << t.judge.cache_hits
              << " answered by the cache\n";
}

const char* signal_name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal"; }

void write_outputs(const std::vector<const Candidate*>& cs, const std::vector<eval::EvalQuery>& qs, const EvalArgs& a) {
    if (a.outputs_dir.empty()) return;
    std::error_code ec;
    fs::create_directories(a.outputs_dir, ec);
    if (ec) throw Fail{1, "cannot create " + a.outputs_dir + ": " + ec.message()};
    for (const Candidate* cp : cs) {
        const Candidate& c = *cp;
        if (c.from_file) continue;
        std::string file = c.name;
        for (char& ch : file)
            if (ch == '/' || ch == '\\') ch = '_';
        eval::write_alpaca_outputs((fs::path(a.outputs_dir) / (file + ".json")).string(), qs, c.answers, "moa:" + c.name);
    }
}

// The table (stdout) and the report; 1 when a candidate has no answer or no verdict.
int report(const std::vector<Candidate>& cs, const Candidate* baseline, const eval::JudgeRun& judged,
           const GraphSpec& judge, const EvalArgs& a) {
    std::vector<eval::CandidateRow> rows;
    int rc = 0;
    const bool pairwise = judge.verdict->mode == VerdictMode::Pairwise;
    for (size_t i = 0; i < cs.size(); ++i) {
        const eval::Judgements& j = judged.per_candidate[i];
        rows.push_back(eval::candidate_row(cs[i].name, cs[i].answers, &j, a.seed, a.resamples));
        bool none = pairwise ? j.outcomes.empty() : j.scores.empty();
        if (rows.back().failures == cs[i].answers.size()) {
            log::error(cs[i].name + ": no answer to any query (first error: " + cs[i].answers.front().text + ")");
            rc = 1;
        } else if (none) {
            log::error(cs[i].name + ": the judge gave no usable verdict (" + std::to_string(j.unparsable) +
                       " unparsable, " + std::to_string(j.judge_failed) + " judge jobs failed)");
            rc = 1;
        }
        size_t unmeasured = 0, measured = 0;
        for (const auto& x : cs[i].answers)
            if (x.ok && x.measured) (x.latency_ms < 0 ? unmeasured : measured)++;
        if (unmeasured && !a.quiet)
            std::cerr << "moa eval: " << cs[i].name << ": latency known for " << measured << " of "
                      << measured + unmeasured << " answers; the others had calls answered by a cache whose "
                      << "durations were not recorded (" << a.state_dir << "/call-times.tsv)\n";
        if (j.judge_failed) log::warn(cs[i].name + ": " + std::to_string(j.judge_failed) + " judge jobs failed (not counted)");
        if (j.not_judged && !a.quiet)
            std::cerr << "moa eval: " << cs[i].name << ": " << j.not_judged << " queries not judged (no answer"
                      << (pairwise ? " from it or the baseline" : "") << ")\n";
    }
    if (pairwise && baseline) {
        eval::CandidateRow b = eval::candidate_row(baseline->name + " (baseline)", baseline->answers, nullptr, a.seed, a.resamples);
        b.win_rate = b.lc_win_rate = eval::Interval{50, 50, 50};  // against itself, by definition
        rows.insert(rows.begin(), b);
        if (b.failures == baseline->answers.size()) rc = 1;
    }
    eval::write_table(std::cout, rows, eval::parse_table_format(a.format.empty() ? "text" : a.format).value());
    if (!a.report.empty()) {
        eval::ReportMeta meta;
        meta.baseline = baseline ? baseline->name : "";
        meta.judge = a.judge;
        meta.input = a.input;
        meta.seed = a.seed;
        meta.resamples = a.resamples;
        std::ostringstream html;
        eval::write_eval_report_html(html, rows, meta);
        eval::write_file_atomically(a.report, html.str());
    }
    return rc;
}

// long: the command's steps in order, each a call; splitting it would only move the list
int run_eval(const EvalArgs& a, const LoadOptions& load) {
    auto queries = load_queries(a.input);
    GraphSpec judge = load_judge(a, load);
    const bool pairwise = judge.verdict->mode == VerdictMode::Pairwise;
    if (pairwise && a.baseline.empty()) throw Fail{2, a.judge + " is a pairwise judge: give --baseline B"};
    std::vector<Candidate> cs;
    for (const auto& path : a.candidates)
        for (auto& c : load_candidate(path, a, load, queries, true)) cs.push_back(std::move(c));
    std::optional<Candidate> baseline;
    if (!a.baseline.empty()) baseline = std::move(load_candidate(a.baseline, a, load, queries, false).front());
    if (baseline && !pairwise) {  // score mode: the baseline is one more scored candidate
        cs.insert(cs.begin(), std::move(*baseline));
        cs.front().name += " (baseline)";
        baseline.reset();
    }
    unique_names(cs);
    eval::Stop stop;
    Interrupts interrupts({[&](int sig) {
                               std::cerr << "\n" << signal_name(sig) << ": finishing the queries in flight for up to "
                                         << a.grace << " s (again to exit now); rerun the same command to resume\n";
                               stop.soft();
                           },
                           [&] { stop.cancel(); },
                           [&](int sig) { std::cerr << "\n" << signal_name(sig) << " again: exiting now\n"; }},
                          a.grace);
    Totals totals;
    eval::CallTimes times((fs::path(a.state_dir) / "call-times.tsv").string());
    bool whole = true;
    if (baseline && !baseline->from_file) whole = run_graph(*baseline, queries, a, stop, times, totals);
    for (auto& c : cs)
        if (whole && !c.from_file) whole = run_graph(c, queries, a, stop, times, totals);
    eval::JudgeRun judged;
    if (whole) {
        std::vector<const std::vector<Answer>*> answers;
        for (const auto& c : cs) answers.push_back(&c.answers);
        if (!a.quiet) std::cerr << "moa eval: judging with " << a.judge << "\n";
        judged = eval::judge_answers(judge, queries, answers, baseline ? &baseline->answers : nullptr,
                                     engine_options(a), stop);
        totals.add(totals.judge, judged.stats);
    }
    print_summary(totals, a);
    if (int sig = interrupts.signal()) {
        std::cerr << "interrupted by " << signal_name(sig) << ": finished answers are kept in " << a.state_dir
                  << " and " << a.cache_db << "; rerun the same command to resume\n";
        return 128 + sig;
    }
    std::vector<const Candidate*> all;
    if (baseline) all.push_back(&*baseline);
    for (const auto& c : cs) all.push_back(&c);
    write_outputs(all, queries, a);
    return report(cs, baseline ? &*baseline : nullptr, judged, judge, a);
}

}  // namespace

CLI::App* add_eval(CLI::App& app, EvalArgs& a) {
    auto* cmd = app.add_subcommand("eval", "Judge candidate graphs (or AlpacaEval outputs files) against a baseline: "
                                           "win rate, LC win rate, cost, latency (docs/eval.md)");
    cmd->add_option("candidates", a.candidates, "Candidate graphs (.moa) or AlpacaEval outputs files (.json)")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("-i,--input", a.input, "JSONL queries, one {\"prompt\" (or \"instruction\"), \"id\"} per line")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("--judge", a.judge, "Judge graph: a .moa file with a `verdict` declaration")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("--baseline", a.baseline, "Baseline graph or outputs file (required by a pairwise judge)")
        ->check(CLI::ExistingFile);
    cmd->add_option("--format", a.format, "Table format on stdout (default: an aligned table)")
        ->check(CLI::IsMember({"text", "md", "json", "csv"}));
    cmd->add_option("--report", a.report, "Also write a self-contained HTML report (table + quality vs cost chart)");
    cmd->add_option("--outputs-dir", a.outputs_dir, "Also write each graph candidate's answers as DIR/NAME.json (AlpacaEval format)");
    cmd->add_option("--vary", a.vary, "NAME=v1,v2,...: one variant of each candidate graph per value, named G[NAME=v] (repeatable)")
        ->allow_extra_args(false);
    cmd->add_option("--param", a.params, "NAME=value: a graph parameter of every candidate graph, as on run (repeatable)")
        ->allow_extra_args(false);
    cmd->add_option("--seed", a.seed, "Seed of the simulated backends and of the bootstrap (default 0)");
    cmd->add_option("--resamples", a.resamples, "Bootstrap resamples for the 95% intervals (default 1000; at least 1000)")
        ->check(CLI::Range(1000, 1000000));
    cmd->add_option("--cache-db", a.cache_db, "Response cache shared by candidates and judge (default .moa/cache.db)");
    cmd->add_option("--state-dir", a.state_dir,
                    "Where each graph's measured answers and call durations are journaled, so a rerun resumes (default .moa/eval)");
    cmd->add_option("--concurrency", a.concurrency, "Cap on model calls in flight (default 0: per-backend limits only)")
        ->check(CLI::NonNegativeNumber);
    add_threads_flag(*cmd, a.threads);
    cmd->add_option("--grace", a.grace, "Seconds the queries in flight get after SIGINT/SIGTERM (default 5)")
        ->check(CLI::Range(0.0, 3600.0));
    cmd->footer("Exit codes: 0 the table was printed; 1 an input, candidate, baseline or judge could not be read, a "
                "candidate or the baseline answered no query, the judge gave a candidate no usable verdict, or the "
                "cache failed; 2 usage; 128+N interrupted by signal N (rerun the same command to resume).");
    return cmd;
}

int eval(const EvalArgs& a, const LoadOptions& load) {
    try {
        return run_eval(a, load);
    } catch (const Fail& f) {
        if (!f.message.empty()) log::error(f.message);
        return f.code;
    } catch (const std::exception& e) {  // moa::Error: a file, the cache, a key
        log::error(e.what());
        return 1;
    }
}

}  // namespace moa::cli
