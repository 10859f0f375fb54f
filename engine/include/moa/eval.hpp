// `moa eval`'s library half: the queries of an eval, the candidates' answers (from a
// graph run on an Engine, or from an AlpacaEval outputs file), the journal that lets an
// eval resume, and the pairing of answers for the judge. Statistics live in
// moa/eval_stats.hpp, verdicts in moa/judge.hpp. The CLI (engine/cli/eval_cmd.cpp)
// prints; nothing here does (moa/error.hpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <iosfwd>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "moa/engine.hpp"
#include "moa/error.hpp"
#include "moa/eval_stats.hpp"

namespace moa::eval {

// One input query. An eval reads its input whole: pairing and the bootstrap need every
// query (805 AlpacaEval instructions are under 1 MB).
struct EvalQuery {
    uint64_t line = 0;        // 1-based line of the input file
    std::string id;           // the input's "id", or its line number
    std::string instruction;  // the prompt ("prompt" or "instruction")
    std::string dataset;      // "" when the line had none
};

// Reads a JSONL input (the format of `moa run --input`). Strict: a malformed line, an
// empty prompt or an empty file throws moa::Error (Invalid) naming `name` and the line,
// because candidates compared on different query sets are not comparable.
std::vector<EvalQuery> read_queries(std::istream& in, const std::string& name);

// One candidate's answer to one query and what producing it took.
struct Answer {
    bool ok = false;
    std::string text;         // the answer, or the error ("node: message")
    bool measured = false;    // false for answers read from a file: no calls, latency or cost
    // The job's critical path: the longest chain of call durations through the graph
    // (queueing behind the batch's other queries left out). A call answered by the
    // cache counts with the time it took when it was made (CallTimes); -1 when that is
    // not known.
    double latency_ms = 0;
    uint32_t calls = 0;       // model calls of the job, cache hits included
    uint64_t tokens_in = 0, tokens_out = 0;
    double cost_usd = 0;
    bool cost_known = false;  // every call of the job had a price
};

// ---- AlpacaEval outputs files --------------------------------------------------------

struct AlpacaEntry {
    std::string instruction, output, generator;
    std::string dataset;  // "" when absent
};

// Reads an AlpacaEval outputs file: a JSON array of objects with string fields
// "instruction", "output" and "generator", optionally "dataset"; other fields are
// ignored. Throws moa::Error (NotFound, Io, Invalid) naming the path, the entry's index
// and the field: a file that is not such an array, an entry with a missing or non-string
// field, entries of more than one generator (one file is one system).
std::vector<AlpacaEntry> read_alpaca_outputs(const std::string& path);

// True when the file starts (after spaces) with '[': an outputs file, not a graph.
bool looks_like_alpaca_outputs(const std::string& path);

struct MatchReport {
    std::string generator;
    size_t unmatched_entries = 0;  // entries whose instruction is no input query (ignored)
};

// Matches entries to queries by exact instruction text (bytes; no trimming or case
// folding). Strict and loud: a query with no entry, or an instruction that two entries
// hold, throws moa::Error (Invalid) naming the path and the first few such queries or
// entries; queries repeated in the input all get the one entry of their text. Entries
// that match no query are counted in `report` (a subset of a published file is a
// normal eval), the caller says so. "dataset" is not used for matching.
std::vector<Answer> match_alpaca_outputs(const std::vector<AlpacaEntry>& entries, const std::vector<EvalQuery>& queries,
                                         const std::string& path, MatchReport& report);

// Writes the ok answers as an AlpacaEval outputs file (input order; "dataset" is the
// query's, or "moa"), to a temporary name renamed over `path`, so the file is whole or
// absent. Returns the number of entries. Throws moa::Error (Io) naming the path.
size_t write_alpaca_outputs(const std::string& path, const std::vector<EvalQuery>& queries,
                            const std::vector<Answer>& answers, const std::string& generator);

// Writes `content` to `path` whole: a regular file (or a new path) via PATH.tmp renamed
// onto it, a device or FIFO in place, "-" to stdout. Throws moa::Error (Io) naming the
// path and the reason. (Reports and outputs files are valid after any stop.)
void write_file_atomically(const std::string& path, const std::string& content);

// ---- running a graph candidate ---------------------------------------------------------

// Stops an eval from another thread (a signal watcher): soft() lets no new job start;
// cancel() also cancels every call of the engine running now (and of any started later).
class Stop {
public:
    void soft() { soft_.store(true); }
    void cancel();
    bool stopping() const { return soft_.load(); }
    void attach(Engine* e);  // the engine running now (nullptr: none)

private:
    std::atomic<bool> soft_{false};
    std::mutex mu_;
    Engine* engine_ = nullptr;
    bool cancelled_ = false;
};

// How long each call took when it was made, so a call answered by the cache (another
// candidate made it: MoA-Lite's proposers are MoA's; or an interrupted run) counts with
// its real duration in the latency. Keyed by model, query and answer text; kept in
// memory and appended to `path` ("" = memory only) as "KEY<TAB>MS" lines.
class CallTimes {
public:
    explicit CallTimes(std::string path = "");  // loads `path`; throws moa::Error (Io)
    const double* find(uint64_t key) const;
    void add(uint64_t key, double ms);  // throws moa::Error (Io) when the file cannot be written
    static uint64_t key(std::string_view model, std::string_view query, std::string_view answer);

private:
    std::string path_;
    std::unordered_map<uint64_t, double> ms_;
};

struct CandidateRun {
    std::vector<Answer> answers;  // one per query (failed or not run: ok == false)
    RunStats stats;               // this run's engine totals (cache hits and misses)
    size_t reused = 0;            // answers taken from the journal, not run
    size_t not_run = 0;           // queries skipped because of a stop
};

// Runs `graph` on every query that `journal` (a JSONL file; "" for none) holds no
// answer for, and appends each new ok answer to it as the job finishes, with its
// latency, calls, tokens and cost. A journal belongs to one graph fingerprint: the
// caller names it after one (the CLI: STATE_DIR/FINGERPRINT.jsonl). A row is trusted
// only when it parses whole and its instruction is the query's; a torn last line
// (a crash mid-write) is cut off before appending. Failed answers are not journaled,
// so a rerun retries them, with the calls that did finish answered by the cache.
// Throws moa::Error (Io) when the journal cannot be read or written, and what Engine's
// constructor throws.
// `times` (optional) gives the durations of calls the cache answers and learns the new ones.
CandidateRun run_candidate(const GraphSpec& graph, const std::vector<EvalQuery>& queries, const EngineOptions& options,
                           const std::string& journal, Stop& stop, CallTimes* times = nullptr);

// ---- judging ------------------------------------------------------------------------------

// What the judge said about one candidate.
struct Judgements {
    std::vector<PairOutcome> outcomes;  // pairwise: one per query with both orders read
    std::vector<double> scores;         // score: one per query with a score
    size_t unparsable = 0;    // judge jobs whose reply named no verdict (never a tie)
    size_t judge_failed = 0;  // judge jobs where every judge call failed
    size_t not_judged = 0;    // queries skipped: the candidate (or the baseline) has no answer
};

struct JudgeRun {
    std::vector<Judgements> per_candidate;
    RunStats stats;  // the judge engine's totals
    size_t not_run = 0;  // judge jobs skipped because of a stop
};

// Runs `judge` (a graph with a verdict: moa/judge.hpp) over the answers, one Engine,
// the same cache as the candidates. Pairwise: every query where the candidate and
// `baseline` both answered is judged twice, the candidate's answer shown first
// ({{answer_a}}) then second, and the two read as swapped_preference() (disagreement
// is a tie); a query with either order unparsable or failed gives no outcome and is
// counted. Score: one job per answered query, {{answer}}; `baseline` is not used.
// The jobs go in a fixed order (candidate, query, order) and each verdict depends only
// on its own job, so the result is the same on every run with the same seed.
JudgeRun judge_answers(const GraphSpec& judge, const std::vector<EvalQuery>& queries,
                       const std::vector<const std::vector<Answer>*>& candidates, const std::vector<Answer>* baseline,
                       const EngineOptions& options, Stop& stop);

// The table row of one candidate: win rate and LC win rate (pairwise) or the score mean
// (score) with their bootstrap intervals from `judged` (nullptr: not judged, as the
// baseline), the rest from its answers: mean length in code points and latency
// percentiles over its ok answers with a measured latency (NaN when none), calls, tokens and cost per answered query (a file's
// answers have none: cost unknown), failures = queries without an answer.
CandidateRow candidate_row(const std::string& name, const std::vector<Answer>& answers, const Judgements* judged,
                           uint64_t seed, int resamples);

}  // namespace moa::eval
