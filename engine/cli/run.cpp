#include "run.hpp"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>

#include "moa/ascii.hpp"
#include "moa/diagnostics.hpp"
#include "moa/batch_io.hpp"
#include "interrupt.hpp"
#include "log.hpp"
#include "moa/cost.hpp"
#include "moa/engine.hpp"
#include "moa/observer.hpp"
#include "report_cli.hpp"

namespace moa::cli {

namespace {

// The engine's notices (a long rate-limit cooldown) go to stderr, one line each, so a
// batch that waits says why. One fprintf per line: stderr writes it whole.
struct StderrNotices : CallObserver {
    void notice(const Notice& n) override { std::fprintf(stderr, "moa: %s\n", n.text.c_str()); }
};

struct Fnv {
    uint64_t h = 0xcbf29ce484222325ULL;
    Fnv& add(std::string_view s) {
        for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
        h = (h ^ 0xff) * 0x100000001b3ULL;  // field separator: "ab","c" != "a","bc"
        return *this;
    }
    Fnv& add(const std::string& s) { return add(std::string_view(s)); }
    Fnv& add(const char* s) { return add(std::string_view(s)); }
    Fnv& add(int64_t v) { return add(std::to_string(v)); }
    Fnv& add(double v) {
        char b[32];
        std::snprintf(b, sizeof b, "%.17g", v);
        return add(std::string_view(b));
    }
    template <typename T>
    Fnv& add(const std::optional<T>& v) {
        return v ? add(*v) : add("<unset>");
    }
};

bool same_path(const std::string& a, const std::string& b) {
    std::error_code ec1, ec2;
    auto ca = std::filesystem::weakly_canonical(a, ec1), cb = std::filesystem::weakly_canonical(b, ec2);
    return !ec1 && !ec2 ? ca == cb : a == b;
}

}  // namespace

int& stdout_errno() {
    static int e = 0;
    return e;
}

std::string fingerprint(const GraphSpec& g, uint64_t seed, bool emit_all) {
    Fnv f;
    f.add("moa-results-v1").add(static_cast<int64_t>(seed));
    if (emit_all) f.add("emit-all");  // rows with "nodes" are another format: never mixed with rows without
    for (const auto& b : g.backends) f.add(b.name).add(to_string(b.kind)).add(b.base_url);
    for (const auto& t : g.templates) f.add(t.name).add(t.text);
    for (const auto& a : g.agents) {
        f.add(a.name).add(a.backend).add(a.model).add(a.temperature).add(a.top_p).add(a.max_tokens).add(a.seed);
        for (const auto& s : a.stop) f.add(s);
        f.add(a.system).add(a.user).add(a.fallback);
    }
    for (const auto& n : g.nodes) {
        f.add(n.id).add(n.layer).add(n.agent).add(static_cast<int64_t>(n.replica)).add(n.prompt);
        f.add(static_cast<int64_t>(n.fan_in.kind)).add(static_cast<int64_t>(n.fan_in.k)).add(n.fan_in.deadline_ms);
        for (const auto& in : n.inputs) f.add(in);
        f.add("<end>");
    }
    for (const auto& r : g.routes) {
        f.add(r.name).add(r.on);
        for (const auto& arm : r.arms) {
            for (const auto& p : arm.patterns) f.add(p);
            f.add("->").add(arm.target);
        }
    }
    for (const auto& o : g.outputs) f.add(o.name).add(o.node);
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(f.h));
    return hex;
}

bool pick_outputs(GraphSpec& g, const std::string& graph_file, const std::string& wanted, std::string& note,
                  std::string& error) {
    auto& outs = g.outputs;
    // The graph file's own outputs first, in declaration order; imported ones keep
    // their order after them.
    std::stable_sort(outs.begin(), outs.end(), [&](const OutputSpec& a, const OutputSpec& b) {
        bool ma = same_path(a.loc.file, graph_file), mb = same_path(b.loc.file, graph_file);
        if (ma != mb) return ma;
        if (!ma) return false;
        return a.loc.line != b.loc.line ? a.loc.line < b.loc.line : a.loc.col < b.loc.col;
    });
    if (!wanted.empty()) {
        auto it = std::find_if(outs.begin(), outs.end(), [&](const OutputSpec& o) { return o.name == wanted; });
        if (it == outs.end()) {
            error = "--output-node " + wanted + ": the graph has no output of that name; its outputs are:";
            for (const auto& o : outs) error += " " + o.name;
            return false;
        }
        std::rotate(outs.begin(), it, it + 1);
        return true;
    }
    if (outs.size() > 1) {
        note = "the graph has " + std::to_string(outs.size()) + " outputs (";
        for (size_t i = 0; i < outs.size(); ++i) note += (i ? ", " : "") + outs[i].name;
        note += "); answering with '" + outs.front().name + "' (" +
                (same_path(outs.front().loc.file, graph_file) ? "the first declared in " + graph_file : "imported") +
                "); --output-node NAME picks another";
    }
    return true;
}

namespace {

// A model without a price has an unknown cost, never a silent 0: said once per backend
// and model, before any call of a batch.
void warn_unpriced(const GraphSpec& g) {
    std::set<std::pair<std::string, std::string>> said;
    for (const auto& ag : g.agents) {
        if (find_price(g, ag.backend, ag.model) || !said.insert({ag.backend, ag.model}).second) continue;
        log::warn("no price for model '" + ag.model + "' on backend '" + ag.backend +
                     "': the cost of its calls is unknown (declare a `price` for it in the graph)");
    }
}

// Loads the graph and checks what a run needs before the engine starts: 0, or the exit code.
int load_for_run(const RunArgs& a, LoadOptions load, LoadResult& loaded) {
    load.overrides = a.sets;
    Diagnostics diags;
    loaded = load_graph(a.graph, load, diags);
    diags.render(std::cerr, DiagFormat::Text, a.color);
    if (!loaded.ok) return 1;
    if (loaded.graph.outputs.empty()) {
        log::error(a.graph + " has no output to run");
        return 1;
    }
    std::string note, error;
    if (!pick_outputs(loaded.graph, a.graph, a.output_node, note, error)) {
        log::error(error);
        return 2;
    }
    if (!note.empty() && !a.quiet) std::cerr << "note: " << note << "\n";
    // Keys come from the environment: a missing one is reported before any call (a
    // replay makes none).
    if (std::string missing = missing_api_keys(loaded.graph); !missing.empty() && a.cache_mode != CacheMode::Replay) {
        std::cerr << missing << "\n";
        return 1;
    }
    // A batch may spend a lot before its summary: say it first. One question's summary
    // says it (`no price for: backend/model`), after the answer it streams.
    if (!a.input.empty()) warn_unpriced(loaded.graph);
    return 0;
}

// The engine for the flags; null after logging why it could not start (a missing key, a cache).
StderrNotices& stderr_notices() {
    static StderrNotices notices;  // outlives the engine, whose I/O thread calls it
    return notices;
}

std::unique_ptr<Engine> start_engine(const RunArgs& a, GraphSpec&& graph, CallObserver* observer) {
    EngineOptions eo;
    eo.observer = observer ? observer : &stderr_notices();
    eo.threads = a.threads;
    eo.io_threads = a.io_threads;
    if (!a.http_client.empty()) eo.http_client = *parse_http_client(a.http_client);  // checked by IsMember
    eo.max_jobs = a.max_jobs;
    eo.max_calls = a.concurrency;
    eo.emit_all = a.emit_all;
    eo.seed = a.seed;
    eo.cache_mode = a.cache_mode;
    eo.cache_path = a.cache_db;
    eo.budget = {a.max_calls, a.max_tokens, a.max_cost};
    try {
        return std::make_unique<Engine>(std::move(graph), eo);
    } catch (const std::exception& e) {
        log::error(e.what());
        return nullptr;
    }
}

const char* signal_name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal"; }

// A retried stream starts over: say on stderr that the text printed so far is
// discarded, and print the new attempt's answer on a line of its own.
void print_chunk(const StreamChunk& c) {
    if (c.restart) {
        std::cout << "\n" << std::flush;
        std::cerr << "moa: the answer's stream was cut; attempt " << c.attempt
                  << " starts over (discard the partial answer above)\n";
    }
    errno = 0;
    std::cout << c.text << std::flush;
    note_stdout();
}

void print_error(const JobResult& r) {
    std::cerr << "error: " << (r.error_node.empty() ? "" : r.error_node + ": ") << r.error << "\n";
}

// The answer after the job: the end of a streamed one, or the whole row in its format.
void print_answer(const JobResult& r, const RunArgs& a, OutputFormat f, bool stream, const std::string& generator,
                  const std::string& fp) {
    InputLine in;
    in.line = 1;
    in.query = a.question;
    RowOptions ro{f, generator, a.emit_all, fp, false};
    if (stream) {
        std::cout << "\n";
        if (!r.ok) print_error(r);
    } else if (f == OutputFormat::AlpacaEval) {
        std::string e = format_row(r, in, ro);
        std::cout << (e.empty() ? "[]\n" : "[\n " + e + "\n]\n");
        if (!r.ok) print_error(r);
    } else {
        std::cout << format_row(r, in, ro);
    }
    errno = 0;
    std::cout.flush();
    note_stdout();
}

// One question, streamed to the terminal when the format allows.
int ask_one(const RunArgs& a, Engine& engine, const std::string& fp, const std::string& generator, Reporting* rep) {
    if (ascii::is_blank(a.question, " \t\r\n")) {
        log::error("give a question (an empty one is not asked), or --input FILE (use - for stdin)");
        return 2;
    }
    OutputFormat f = a.format.value_or(OutputFormat::Text);
    bool stream = f == OutputFormat::Text && !a.emit_all;
    RunStats stats;
    // The batch's contract: a first SIGINT/SIGTERM lets the answer run for --grace
    // seconds, then cancels it; the text so far ends with a newline, the summary is
    // printed, the exit code is 128+signal. A second signal exits at once.
    Interrupts interrupts({[&](int sig) {
                               std::cerr << "\n" << signal_name(sig) << ": waiting up to " << a.grace
                                         << " s for the answer, then cancelling it (again to exit now)\n";
                           },
                           [&] { engine.cancel(); },
                           [&](int sig) {
                               std::cout << "\n" << std::flush;  // the answer so far still ends its line
                               std::cerr << "\n" << signal_name(sig) << " again: exiting now\n";
                           }},
                          a.grace);
    JobResult r = engine.run_one(a.question, stream ? ChunkFn(print_chunk) : nullptr, stats);
    if (rep) rep->job(r), rep->stats(stats);
    print_answer(r, a, f, stream, generator, fp);
    if (!a.quiet) {
        stats.print(std::cerr);  // calls, tokens and cache of this question, as for a batch
    }
    if (std::string e = engine.cache_error(); !e.empty()) return log::error(e), 1;  // the answer is printed, not stored
    if (std::string b = engine.budget_reached(); !b.empty()) return log::error("budget " + b + " reached"), kExitBudget;
    if (int sig = interrupts.signal()) {
        std::cerr << "interrupted by " << signal_name(sig) << (r.ok ? "" : ": the answer was cancelled") << "\n";
        return 128 + sig;
    }
    return r.ok ? 0 : 1;
}

}  // namespace

int run(const RunArgs& a, LoadOptions load) {
    LoadResult loaded;
    if (int rc = load_for_run(a, std::move(load), loaded)) return rc;
    std::string fp = fingerprint(loaded.graph, a.seed, a.emit_all);
    std::unique_ptr<Reporting> rep;  // declared first: outlives the engine that calls it
    if (int rc = Reporting::open(a, loaded.graph, stderr_notices(), rep)) return rc;
    std::unique_ptr<Engine> engine = start_engine(a, std::move(loaded.graph), rep ? rep->observer() : nullptr);
    if (!engine) {
        if (rep) rep->discard();
        return 1;
    }
    std::string generator = a.generator.empty() ? "moa:" + a.graph : a.generator;
    int rc = !a.input.empty() ? run_batch(a, *engine, fp, generator, rep.get()) : ask_one(a, *engine, fp, generator, rep.get());
    // The files describe what ran, also after a signal or failed jobs; nothing when
    // the run was refused before its first job.
    if (rep && rc != 0 && !rep->any_job()) rep->discard();
    else if (rep && !rep->finish() && rc == 0) rc = 1;
    return rc;
}

}  // namespace moa::cli
