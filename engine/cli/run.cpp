#include "run.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "../../dsl/source.hpp"
#include "../batch_io.hpp"
#include "log.hpp"
#include "moa/engine.hpp"

namespace moa::cli {

namespace {

std::string json_id(const std::string& id) {
    std::string s;
    append_json_string(s, id);
    return s;
}

// Reads the ids of the complete records of an earlier output (as JSON strings) and
// cuts off a partial last line left by a killed run.
std::set<std::string> resume_output(const std::string& path, size_t& failed) {
    std::set<std::string> ids;
    std::ifstream in(path, std::ios::binary);
    if (!in) return ids;
    std::string text((std::istreambuf_iterator<char>(in)), {});
    size_t keep = text.rfind('\n');
    keep = keep == std::string::npos ? 0 : keep + 1;
    for (size_t pos = 0; pos < keep;) {
        size_t eol = text.find('\n', pos);
        std::string_view line(text.data() + pos, eol - pos);
        if (line.rfind("{\"id\":\"", 0) == 0) {
            size_t i = 7;
            while (i < line.size() && line[i] != '"') i += line[i] == '\\' ? 2 : 1;
            ids.insert(std::string(line.substr(6, i - 5)));
            if (line.find(",\"ok\":false", i) == i + 1) ++failed;
        }
        pos = eol + 1;
    }
    if (keep < text.size()) std::filesystem::resize_file(path, keep);
    return ids;
}

// Counts lines of a regular file (for the progress bar's total); 0 if unknown.
size_t count_lines(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return 0;
    size_t n = 0;
    std::string buf(1 << 16, '\0');
    while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
        const char* p = buf.data();
        const char* end = p + in.gcount();
        while ((p = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p))))) {
            ++n;
            ++p;
        }
    }
    return n;
}

std::string fmt_duration(double s) {
    if (s < 0 || s > 1e7) return "?";
    int t = static_cast<int>(s + 0.5);
    char buf[32];
    if (t >= 3600) std::snprintf(buf, sizeof buf, "%dh%02dm", t / 3600, t / 60 % 60);
    else std::snprintf(buf, sizeof buf, "%dm%02ds", t / 60, t % 60);
    return buf;
}

// A one-line progress bar on stderr, redrawn a few times a second.
class ProgressBar {
public:
    ProgressBar(const Engine& e, size_t total) : engine_(e), total_(total), t0_(std::chrono::steady_clock::now()) {
        thread_ = std::thread([this] {
            while (!stop_) {
                draw();
                for (int i = 0; i < 5 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            draw();
            std::cerr << "\n";
        });
    }
    ~ProgressBar() {
        stop_ = true;
        thread_.join();
    }

private:
    void draw() {
        auto p = engine_.progress();
        double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
        double rate = el > 0 ? static_cast<double>(p.done) / el : 0;
        std::string bar;
        if (total_) {
            size_t w = 30, fill = std::min(w, p.done * w / total_);
            bar = "[" + std::string(fill, '=') + std::string(w - fill, ' ') + "] ";
        }
        char line[256];
        std::snprintf(line, sizeof line, "\r%s%zu/%s jobs  %zu calls in flight  %.1f jobs/s  ETA %s   ", bar.c_str(),
                      p.done, total_ ? std::to_string(total_).c_str() : "?", p.calls_in_flight, rate,
                      total_ && rate > 0 ? fmt_duration(static_cast<double>(total_ - p.done) / rate).c_str() : "?");
        std::cerr << line << std::flush;
    }
    const Engine& engine_;
    size_t total_;
    std::chrono::steady_clock::time_point t0_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

OutputFormat parse_format(const std::string& f) {
    if (f == "jsonl") return OutputFormat::Jsonl;
    if (f == "alpaca-eval") return OutputFormat::AlpacaEval;
    return OutputFormat::Text;
}

}  // namespace

int run(const RunArgs& a, LoadOptions load) {
    load.overrides = a.sets;
    Diagnostics diags;
    LoadResult loaded = load_graph(a.graph, load, diags);
    diags.render(std::cerr, DiagFormat::Text, a.color);
    if (!loaded.ok) return 1;
    if (loaded.graph.outputs.empty()) {
        log::error(a.graph + " has no output to run");
        return 1;
    }
    // Keys come from the environment: a missing one is reported before any call.
    if (std::string missing = missing_api_keys(loaded.graph); !missing.empty()) {
        std::cerr << missing << "\n";
        return 1;
    }
    EngineOptions eo;
    eo.threads = a.threads;
    eo.max_jobs = a.max_jobs;
    eo.max_calls = a.concurrency;
    eo.emit_all = a.emit_all;
    eo.seed = a.seed;
    eo.cache_mode = a.cache_mode;
    eo.cache_path = a.cache_db;
    std::unique_ptr<Engine> engine_ptr;
    try {
        engine_ptr = std::make_unique<Engine>(std::move(loaded.graph), eo);
    } catch (const std::exception& e) {
        log::error(e.what());
        return 1;
    }
    Engine& engine = *engine_ptr;
    std::string generator = a.generator.empty() ? "moa:" + a.graph : a.generator;

    if (a.input.empty()) {
        if (a.question.empty()) {
            log::error("give a question, or --input FILE (use - for stdin)");
            return 2;
        }
        OutputFormat f = parse_format(a.format.empty() ? "text" : a.format);
        bool stream = f == OutputFormat::Text && !a.emit_all;
        // A retried stream starts over: say on stderr that the text printed so far is
        // discarded, and print the new attempt's answer on a line of its own.
        JobResult r = engine.run_one(a.question, stream ? ChunkFn([](const StreamChunk& c) {
            if (c.restart) {
                std::cout << "\n" << std::flush;
                std::cerr << "moa: the answer's stream was cut; attempt " << c.attempt
                          << " starts over (discard the partial answer above)\n";
            }
            std::cout << c.text << std::flush;
        })
                                                        : nullptr);
        if (stream) {
            std::cout << "\n";
            if (!r.ok) std::cerr << "error: " << (r.error_node.empty() ? "" : r.error_node + ": ") << r.error << "\n";
        } else {
            ResultWriter w(std::cout, f, generator, a.emit_all);
            w.write(r, a.question);
            w.finish();
        }
        if (std::string e = engine.cache_error(); !e.empty()) return log::error(e), 1;  // the answer is printed, not stored
        return r.ok ? 0 : 1;
    }

    std::ifstream file;
    std::istream* in = &std::cin;
    if (a.input != "-") {
        file.open(a.input, std::ios::binary);
        if (!file) {
            log::error("cannot open " + a.input);
            return 2;
        }
        in = &file;
    }
    std::ofstream out_file;
    std::ostream* out = &std::cout;
    // Resume: a JSONL output from an earlier (perhaps killed) run keeps its complete
    // lines; their inputs are skipped and new results are appended.
    std::set<std::string> done_ids;
    bool jsonl_out = parse_format(a.format.empty() ? "jsonl" : a.format) == OutputFormat::Jsonl;
    size_t failed_before = 0;
    if (!a.output.empty() && a.output != "-" && jsonl_out) done_ids = resume_output(a.output, failed_before);
    if (!a.output.empty() && a.output != "-") {
        out_file.open(a.output, std::ios::binary | (done_ids.empty() ? std::ios::trunc : std::ios::app));
        if (!out_file) {
            log::error("cannot write " + a.output);
            return 2;
        }
        out = &out_file;
    }
    JsonlSource jsonl(*in);
    struct SkipDone : QuerySource {
        QuerySource& inner;
        const std::set<std::string>& done;
        size_t skipped = 0;
        SkipDone(QuerySource& s, const std::set<std::string>& d) : inner(s), done(d) {}
        std::optional<Query> next() override {
            for (;;) {
                auto q = inner.next();
                if (!q || done.empty() || !done.count(json_id(q->id))) return q;
                ++skipped;
            }
        }
    } source(jsonl, done_ids);
    if (!done_ids.empty() && !a.quiet)
        std::cerr << "resuming " << a.output << ": " << done_ids.size() << " results already there ("
                  << failed_before << " failed)\n";
    ResultWriter writer(*out, parse_format(a.format.empty() ? "jsonl" : a.format), generator, a.emit_all);
    // The query text is needed again for AlpacaEval's "instruction": keep it per job
    // only until its result is written.
    struct RememberingSource : QuerySource {
        QuerySource& inner;
        std::map<uint64_t, std::string>* seen;
        uint64_t seq = 0;  // the engine numbers jobs in the order next() returns them
        explicit RememberingSource(QuerySource& s, std::map<uint64_t, std::string>* m) : inner(s), seen(m) {}
        std::optional<Query> next() override {
            auto q = inner.next();
            if (q && seen) (*seen)[seq] = q->prompt;
            if (q) ++seq;
            return q;
        }
    };
    bool alpaca = parse_format(a.format) == OutputFormat::AlpacaEval;
    std::map<uint64_t, std::string> queries;
    RememberingSource remembering(source, alpaca ? &queries : nullptr);
    size_t failed = 0;
    std::unique_ptr<ProgressBar> bar;
    if (a.progress && !a.quiet && isatty(STDERR_FILENO))
        bar = std::make_unique<ProgressBar>(engine, a.input == "-" ? 0 : count_lines(a.input));
    RunStats stats = engine.run_batch(remembering, [&](JobResult&& r) {
        if (!r.ok) ++failed;
        std::string q;
        if (alpaca) {
            auto it = queries.find(r.seq);
            if (it != queries.end()) {
                q = std::move(it->second);
                queries.erase(it);
            }
        }
        writer.write(r, q);
    });
    writer.finish();
    bar.reset();
    if (!out->good()) {
        log::error("writing " + (a.output.empty() ? std::string("stdout") : a.output) + " failed");
        return 1;
    }
    if (!a.quiet) stats.print(std::cerr);
    // The cache failed: the run stopped early (results in hand are written above).
    if (std::string e = engine.cache_error(); !e.empty())
        return log::error(e + "; the run stopped early: answers already stored stay, and every result above is in the output"), 1;
    return failed + failed_before ? 1 : 0;  // failures already in the file stay loud
}

}  // namespace moa::cli
