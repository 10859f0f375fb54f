// The `moa` command line: a thin front over libmoa.
// Exit codes: 0 ok, 1 diagnostics (or, later, failed jobs), 2 usage.
#include <CLI/CLI.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "moa/diagnostics.hpp"
#include "log.hpp"
#include "run.hpp"
#include "run_flags.hpp"
#include "cache_cmd.hpp"
#include "plan_cmd.hpp"
#include "eval_cmd.hpp"
#include "moa/dsl.hpp"
#include "moa/duration.hpp"
#include "moa/engine.hpp"
#include "moa/plan.hpp"

#ifndef MOA_VERSION
#define MOA_VERSION "0.0.0"
#endif
#ifndef MOA_STDLIB_DIR
#define MOA_STDLIB_DIR ""
#endif

namespace fs = std::filesystem;

namespace {

struct Common {
    std::vector<std::string> include_dirs;
    std::vector<std::string> params;  // --param NAME=value (check, graph, run)
    bool color = false;
};

// share/moa/stdlib next to the binary's bin/, or "".
std::string installed_stdlib(const fs::path& exe) {
    std::error_code ec;
    if (exe.empty()) return "";
    fs::path installed = exe.parent_path().parent_path() / "share" / "moa" / "stdlib";
    return fs::is_directory(installed, ec) ? installed.string() : "";
}

moa::LoadOptions load_options(const Common& c) {
    moa::LoadOptions o;
    o.import_paths = c.include_dirs;
    if (const char* p = std::getenv("MOA_PATH")) {
        std::stringstream ss(p);
        for (std::string dir; std::getline(ss, dir, ':');)
            if (!dir.empty()) o.import_paths.push_back(dir);
    }
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (std::string installed = installed_stdlib(exe); !installed.empty()) o.import_paths.push_back(installed);
    if (*MOA_STDLIB_DIR) o.import_paths.push_back(MOA_STDLIB_DIR);
    for (const auto& p : c.params)
        if (auto kv = moa::split_param_arg(p)) o.params.push_back(*kv);  // the form was checked by the parser
    // The price table (stdlib/prices.moa) is read with every graph: the installed one,
    // else the source tree's.
    for (const std::string& dir : {installed_stdlib(exe), std::string(MOA_STDLIB_DIR)}) {
        if (dir.empty() || !fs::is_regular_file(fs::path(dir) / "prices.moa", ec)) continue;
        o.price_table = (fs::path(dir) / "prices.moa").string();
        break;
    }
    return o;
}

// `--param NAME=value` on check, graph and run.
void add_param_option(CLI::App* cmd, Common& common) {
    cmd->add_option("--param", common.params,
                    "Set the graph's `param NAME = default` for this command: NAME=value, the value written as in a "
                    ".moa file (3, 0.7, 30s, [a, b]; a string param's value bare or quoted) (repeatable)")
        ->allow_extra_args(false)  // one value per --param, so a question can follow
        ->check(CLI::Validator(
            [](std::string& v) -> std::string {
                return moa::split_param_arg(v) ? "" : "--param takes NAME=value, not '" + v + "'";
            },
            "NAME=VALUE"));
}

int cmd_check(const Common& c, const std::vector<std::string>& files, moa::DiagFormat format, bool werror) {
    moa::Diagnostics all;
    size_t errors = 0, warnings = 0;
    std::vector<moa::Diagnostic> collected;
    for (const auto& f : files) {
        moa::Diagnostics d;
        moa::load_graph(f, load_options(c), d);
        errors += d.error_count();
        warnings += d.warning_count();
        for (const auto& x : d.all()) collected.push_back(x);
        if (format != moa::DiagFormat::Json) d.render(std::cerr, format, c.color);
    }
    if (format == moa::DiagFormat::Json) {
        moa::Diagnostics j;
        for (auto& x : collected) {
            auto& e = x.severity == moa::Severity::Error ? j.error(x.file, x.offset, x.message, x.length)
                                                         : j.warning(x.file, x.offset, x.message, x.length);
            e.notes = x.notes;
        }
        j.render(std::cout, moa::DiagFormat::Json, false);
    }
    if (format == moa::DiagFormat::Text && (errors || warnings))
        std::cerr << errors << " error" << (errors == 1 ? "" : "s") << ", " << warnings << " warning"
                  << (warnings == 1 ? "" : "s") << "\n";
    moa::log::info("checked " + std::to_string(files.size()) + " file(s)");
    return errors || (werror && warnings) ? 1 : 0;
}

int cmd_graph(const Common& c, const std::string& file, moa::DumpFormat f, const std::string& output) {
    moa::Diagnostics d;
    auto r = moa::load_graph(file, load_options(c), d);
    d.render(std::cerr, moa::DiagFormat::Text, c.color);
    if (!r.ok) return 1;
    if (output.empty() || output == "-") {
        moa::dump_graph(std::cout, r.graph, f);
        return 0;
    }
    std::ofstream out(output);
    if (!out) {
        moa::log::error("cannot write " + output + ": " + std::strerror(errno));
        return 1;
    }
    moa::dump_graph(out, r.graph, f);
    out.flush();
    if (!out) {
        moa::log::error("writing " + output + " failed: " + std::strerror(errno));
        return 1;
    }
    return 0;
}

int cmd_fmt(const Common& c, const std::vector<std::string>& files, bool check, bool to_stdout) {
    int rc = 0;
    for (const auto& f : files) {
        std::ifstream in(f, std::ios::binary);
        if (!in) {
            moa::log::error("cannot open " + f + ": " + std::strerror(errno));
            rc = 1;
            continue;
        }
        std::string text((std::istreambuf_iterator<char>(in)), {});
        std::string out;
        moa::Diagnostics d;
        if (!moa::format_source(f, text, out, d)) {
            d.render(std::cerr, moa::DiagFormat::Text, c.color);
            rc = 1;
            continue;
        }
        if (to_stdout) {
            std::cout << out;
        } else if (check) {
            if (out != text) {
                std::cout << f << ": not formatted (run `moa fmt " << f << "`)\n";
                rc = 1;
            }
        } else if (out != text) {
            std::ofstream o(f, std::ios::binary | std::ios::trunc);
            o << out;
            o.flush();
            if (!o) {
                moa::log::error("cannot write " + f + ": " + std::strerror(errno));
                rc = 1;
                continue;
            }
            moa::log::info("formatted " + f);
        }
    }
    return rc;
}

// Every command's stdout is checked once at the end: a full disk or a closed pipe is an
// error (exit 1), not a silent truncation. Batches write with write(2) and check each row.
int check_stdout(int rc) {
    errno = 0;
    std::cout.flush();  // through stdio: the first failed flush sets errno
    int e = errno;
    bool failed = std::fflush(stdout) != 0 || std::ferror(stdout) || !std::cout;
    if (!failed) return rc;
    if (moa::cli::stdout_errno()) e = moa::cli::stdout_errno();
    if (!e) e = errno ? errno : EIO;
    std::cerr << "moa: error: writing stdout failed: " << std::strerror(e) << "\n";
    return rc ? rc : 1;
}

int run_command(int argc, char** argv);

// Every call in flight over HTTP/1.1 holds a socket, so the usual soft limit of 1,024
// open files would cap a wide graph long before its backends' max_concurrent does.
// Raised to the hard limit, as the Go runtime and most servers do; never lowered.
void raise_file_limit() {
    rlimit l{};
    if (getrlimit(RLIMIT_NOFILE, &l) != 0 || l.rlim_cur >= l.rlim_max) return;
    l.rlim_cur = l.rlim_max;
    setrlimit(RLIMIT_NOFILE, &l);
}

}  // namespace

int main(int argc, char** argv) {
    raise_file_limit();
    return check_stdout(run_command(argc, argv));
}

namespace {

// Each subcommand's options live in one struct that outlives the parse (CLI11 binds to
// the members), filled by its add_* function.
struct CheckCmd {
    CLI::App* cmd = nullptr;
    std::vector<std::string> files;
    std::string format = "text";
    bool werror = false;
};

struct GraphCmd {
    CLI::App* cmd = nullptr;
    std::string file, format = "text", output;
};

struct FmtCmd {
    CLI::App* cmd = nullptr;
    std::vector<std::string> files;
    bool check = false, to_stdout = false;
};

struct PlanCmd {
    CLI::App* cmd = nullptr;
    moa::cli::PlanArgs args;
};

struct CacheCmd {
    CLI::App *cmd = nullptr, *stats = nullptr, *prune = nullptr, *exp = nullptr, *imp = nullptr;
    std::string db = ".moa/cache.db", prune_age, prune_model, file;
};

void add_global_flags(CLI::App& app, bool& verbose, bool& quiet, Common& common) {
    app.require_subcommand(1);
    app.fallthrough();  // global flags (-v, -q, -I/--import-path) are accepted after the subcommand too
    app.set_version_flag("--version", std::string("moa ") + MOA_VERSION);
    app.add_flag("-v,--verbose", verbose, "Log debug detail to stderr");
    app.add_flag("-q,--quiet", quiet, "Log only errors");
    app.add_option("-I,--include,--import-path", common.include_dirs,
                   "Directory searched for imports after the file's own, and one that imports may read "
                   "(imports stay inside the main file's directory, these and the stdlib; repeatable)")
        ->allow_extra_args(false);  // one directory per -I, so files can follow
}

void add_check(CLI::App& app, CheckCmd& c) {
    c.cmd = app.add_subcommand("check", "Parse and check .moa files; print diagnostics");
    c.cmd->add_option("files", c.files, "Files to check")->required()->check(CLI::ExistingFile);
    c.cmd->add_option("--format", c.format, "Diagnostics format (default text)")->check(CLI::IsMember({"text", "github", "json"}));
    c.cmd->add_flag("--werror", c.werror, "Treat warnings as errors");
}

void add_graph(CLI::App& app, GraphCmd& g) {
    g.cmd = app.add_subcommand("graph", "Print the checked graph (text, json, dot or mermaid)");
    g.cmd->add_option("file", g.file, "Graph file")->required()->check(CLI::ExistingFile);
    g.cmd->add_option("--format", g.format, "Output format (default text)")->check(CLI::IsMember({"text", "json", "dot", "mermaid"}));
    g.cmd->add_option("-o,--output", g.output, "Write to this file instead of stdout");
}

void add_fmt(CLI::App& app, FmtCmd& f) {
    f.cmd = app.add_subcommand("fmt", "Format .moa files in place (canonical layout, comments kept)");
    f.cmd->add_option("files", f.files, "Files to format")->required()->check(CLI::ExistingFile);
    f.cmd->add_flag("--check", f.check, "Do not write; exit 1 if any file is not formatted");
    f.cmd->add_flag("--stdout", f.to_stdout, "Print the formatted text instead of writing the file");
}

void add_plan(CLI::App& app, PlanCmd& p) {
    p.cmd = app.add_subcommand("plan", "Calls, tokens, cost and critical-path latency of a graph, for one query and a batch, "
                                       "without calling any model (no API key needed; docs/cli.md)");
    moa::cli::PlanArgs& a = p.args;
    p.cmd->add_option("graph", a.graph, "Graph file")->required()->check(CLI::ExistingFile);
    p.cmd->add_option("-i,--input", a.input, "JSONL batch to plan for, as `moa run --input` (- for stdin; default: one "
                                              "typical query of " + std::to_string(moa::kTypicalQueryChars) + " characters)");
    p.cmd->add_option("--format", a.format, "Output format: text or json (default text)")->check(CLI::IsMember({"text", "json"}));
    p.cmd->add_option("--set", a.sets, "Override a backend or agent field, as `moa run --set` (repeatable)")->allow_extra_args(false);
    p.cmd->add_option("--concurrency", a.concurrency, "Cap on model calls in flight, as `moa run` (default 0: per-backend limits only)")
        ->check(CLI::NonNegativeNumber);
    p.cmd->add_option("--max-jobs", a.max_jobs, "Jobs in flight, as `moa run` (default: derived from the graph, at least 256)")
        ->check(CLI::Range(1, 1000000));
    p.cmd->add_option("--seed", a.seed, "Seed of the draws, and of the simulated backend as in `moa run` (default 0)");
    p.cmd->add_option("--cache-db", a.cache_db, "Cache whose recorded latencies and answer lengths profile real models "
                                                "(default .moa/cache.db when it exists; read only)");
}

void add_cache(CLI::App& app, CacheCmd& c) {
    c.cmd = app.add_subcommand("cache", "Inspect and maintain the response cache");
    c.cmd->footer(
        "Every command exits 1 with a message naming the path when the cache is missing (\"no cache at PATH\": "
        "nothing is created, except by import), corrupted (\"move it away\"), or unreadable; 2 on a usage error. "
        "stats and export only read: they work on a cache in a read-only directory; an empty (0-byte) file is no cache for "
        "stats, export and prune.");
    c.cmd->require_subcommand(1);
    c.cmd->add_option("--cache-db", c.db, "Cache database (default .moa/cache.db)");
    c.stats = c.cmd->add_subcommand("stats", "Entries, size, hit rate, entries by model");
    c.prune = c.cmd->add_subcommand("prune", "Delete entries older than an age and/or of a model");
    c.prune->add_option("--older-than", c.prune_age, "Age: a duration of the language, like 90min, 12h, 7d or 2w (units ms, s, min, m, h, d, w); 0 prunes every entry (default: any age, so with --model alone every entry of that model)");
    c.prune->add_option("--model", c.prune_model, "Only this model");
    c.exp = c.cmd->add_subcommand("export", "Write every entry to a portable JSONL file");
    c.exp->add_option("file", c.file, "Output file (symlinks followed; devices and FIFOs written in place; - for stdout)")->required();
    c.imp = c.cmd->add_subcommand("import", "Add the entries of an exported file");
    c.imp->add_option("file", c.file, "Input file")->required()->check(CLI::ExistingFile);
}

// Help longer than stdio's buffer is flushed while it prints: keep the reason of a
// failed write (a full disk) before other calls overwrite errno.
int printed(int rc) {
    moa::cli::note_stdout();
    return rc;
}

// Parses the command line; a value means the command is over (help, version: 0; usage error: 2).
std::optional<int> parse_args(CLI::App& app, int argc, char** argv) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return printed(app.exit(e));
    } catch (const CLI::CallForAllHelp& e) {
        return printed(app.exit(e));
    } catch (const CLI::CallForVersion& e) {
        return printed(app.exit(e));
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return 2;
    }
    return std::nullopt;
}

struct Subcommands {
    CheckCmd check;
    GraphCmd graph;
    FmtCmd fmt;
    CacheCmd cache;
    PlanCmd plan;
    moa::cli::EvalArgs eval;  // `moa eval` (eval_cmd.cpp)
    CLI::App* eval_cmd = nullptr;
};

// Color on a terminal unless NO_COLOR is set; -v and -q pick the log level.
void init_logging(bool verbose, bool quiet, Common& common) {
    const char* no_color = std::getenv("NO_COLOR");
    common.color = isatty(STDERR_FILENO) && !(no_color && *no_color);
    moa::log::init(verbose ? moa::log::Level::Debug : quiet ? moa::log::Level::Error : moa::log::Level::Warn,
                   common.color);
}

int cmd_cache(const CacheCmd& c) {
    if (*c.stats) return moa::cli::cache_stats(c.db);
    if (*c.exp) return moa::cli::cache_export(c.db, c.file);
    if (*c.imp) return moa::cli::cache_import(c.db, c.file);
    if (*c.prune) return moa::cli::cache_prune(c.db, c.prune_age, c.prune_model);
    return 2;
}

// Every subcommand but run. The formats were checked by IsMember: they parse.
int dispatch(const Subcommands& s, const Common& common) {
    if (*s.check.cmd)
        return cmd_check(common, s.check.files, moa::parse_diag_format(s.check.format).value_or(moa::DiagFormat::Text),
                         s.check.werror);
    if (*s.graph.cmd)
        return cmd_graph(common, s.graph.file, moa::parse_dump_format(s.graph.format).value_or(moa::DumpFormat::Text),
                         s.graph.output);
    if (*s.fmt.cmd) return cmd_fmt(common, s.fmt.files, s.fmt.check, s.fmt.to_stdout);
    if (*s.cache.cmd) return cmd_cache(s.cache);
    if (*s.plan.cmd) {
        moa::cli::PlanArgs a = s.plan.args;
        a.color = common.color;
        return moa::cli::plan(a, load_options(common));
    }
    if (*s.eval_cmd) {
        moa::cli::EvalArgs a = s.eval;
        a.color = common.color;
        return moa::cli::eval(a, load_options(common));
    }
    return 2;
}

// `moa run` after the parse: the flags CLI11 cannot check, folded into RunArgs.
int cmd_run(moa::cli::RunArgs& run_args, const CLI::App& run, const std::string& run_format,
            const std::string& cache_opt, bool no_progress, bool quiet, const Common& common) {
    run_args.progress = !no_progress;
    if (!run_format.empty()) run_args.format = moa::parse_output_format(run_format);  // checked by IsMember
    if (!cache_opt.empty()) {
        if (auto mode = moa::parse_cache_mode(cache_opt))
            run_args.cache_mode = *mode;
        else
            run_args.cache_db = cache_opt;  // `--cache PATH`
    }
    run_args.quiet = quiet;
    run_args.color = common.color;
    if (run.count("--output") && run_args.output.empty()) {
        std::cerr << "moa run: --output needs a file name (- for stdout)\n";
        return 2;
    }
    if (run_args.question.empty() && run_args.input.empty()) {
        std::cerr << "moa run: give a question, or --input FILE (- for stdin)\n" << run.help();
        return 2;
    }
    if (!run_args.question.empty() && !run_args.input.empty()) {
        std::cerr << "moa run: give a question or --input FILE, not both (the question would be ignored)\n";
        return 2;
    }
    return moa::cli::run(run_args, load_options(common));
}

// `moa run` and its flags (docs/cli.md).
struct RunCmd {
    moa::cli::RunArgs args;
    std::string format, cache_opt;
    bool no_progress = false;
};

// long: one add_option per flag of `moa run`, each with its help text; nothing to split.
CLI::App* add_run(CLI::App& app, RunCmd& r, Common& common) {
    auto* run = app.add_subcommand("run", "Run a graph: one question streamed to the terminal, or a JSONL batch (docs/cli.md)");
    run->add_option("graph", r.args.graph, "Graph file")->required()->check(CLI::ExistingFile);
    run->add_option("question", r.args.question, "The question (not with --input)");
    run->add_option("-i,--input", r.args.input,
                    "JSONL batch input, one {\"prompt\" (or \"instruction\"), \"id\", \"dataset\"} per line; - for stdin");
    run->add_option("-o,--output", r.args.output,
                    "Write results here instead of stdout; an existing output of the same graph and input is resumed "
                    "(a symlink is followed; a device or FIFO is written in place, not resumed)");
    run->add_option("--format", r.format, "Result format (default: text for one question, jsonl for a batch)")
        ->check(CLI::IsMember({"text", "jsonl", "alpaca-eval"}));
    run->add_option("--output-node", r.args.output_node,
                    "The graph output that answers (default: the graph file's first declared output)");
    run->add_flag("--overwrite", r.args.overwrite, "Start --output again instead of resuming it");
    run->add_flag("--keep-failed", r.args.keep_failed, "On resume, keep failed rows instead of retrying them");
    run->add_option("--grace", r.args.grace,
                    "Seconds the jobs in flight get to finish after SIGINT/SIGTERM before they are cancelled (default 5; 0 to 3600; "
                    "also a duration like 500ms or 2min)")
        ->transform(CLI::Validator(
            [](std::string& v) -> std::string {
                // The one duration parser; the value is handed on as seconds.
                auto ms = moa::parse_duration_ms(v, moa::DurationForm::LiteralOrSeconds);
                if (!ms || *ms < 0 || *ms > 3600 * 1000) return "--grace takes seconds from 0 to 3600, not '" + v + "'";
                v = std::to_string(static_cast<double>(*ms) / 1000);
                return "";
            },
            "SECONDS"));
    run->add_option("--generator", r.args.generator, "The \"generator\" name in alpaca-eval output (default moa:GRAPH)");
    run->add_flag("--emit-all", r.args.emit_all, "Write every node's output per job (for a `result = pick` node also its reply and the input it picked); "
                  "part of the resume fingerprint");
    run->add_option("--set", r.args.sets, "Override a backend or agent field: NAME.field=value, a string field's value bare or quoted (repeatable)")
        ->allow_extra_args(false);  // one value per --set, so a question can follow
    add_param_option(run, common);
    run->add_option("--concurrency", r.args.concurrency, "Cap on model calls in flight across all backends (default 0: per-backend limits only)")
        ->check(CLI::NonNegativeNumber);
    run->add_option("--max-jobs", r.args.max_jobs, "Jobs (queries) in flight at once (default: enough to fill every backend's max_concurrent, from the graph's layers; at least 256)")
        ->check(CLI::Validator(
            [](std::string& v) -> std::string {
                char* end = nullptr;
                long n = std::strtol(v.c_str(), &end, 10);
                return end == v.c_str() || *end || n < 1 || n > 1000000 ? "--max-jobs takes a whole number from 1 to 1000000, not '" + v + "'" : "";
            },
            "N"));
    moa::cli::add_threads_flag(*run, r.args.threads);
    run->add_option("--io-threads", r.args.io_threads,
                    "HTTP I/O threads, each with its own connections (default 0 = the MOA_IO_THREADS variable if set, else from "
                    "the core count: " + std::to_string(moa::default_io_threads()) + " here; at most 64)")
        ->check(CLI::Range(0, 64));
    run->add_option("--http-client", r.args.http_client,
           "HTTP client of plain http:// URLs on an IP address or localhost with no proxy variable applying: native "
           "(moa's HTTP/1.1 client, less CPU per call) or curl (default: the MOA_HTTP_CLIENT variable if set, else native; "
           "https://, host names and proxies always use libcurl)")
        ->check(CLI::IsMember({"native", "curl"}));
    run->add_option("--seed", r.args.seed, "Seed mixed into the simulated backend (default 0)");
    moa::cli::add_budget_flags(*run, r.args);
    run->add_option("--cache", r.cache_opt,
                    "Response cache: rw (default), read, replay (a miss is an error: for CI), refresh, off; or a database path. "
                    "read and replay never write (a read-only cache works); rw and refresh refuse a read-only cache. "
                    "A cache that fails mid-run (disk full, corrupted) stops the run: exit 1, the error names the path");
    run->add_option("--cache-db", r.args.cache_db, "Cache database (default .moa/cache.db)");
    run->add_flag("--no-progress", r.no_progress, "No progress bar even on a terminal");
    moa::cli::add_report_flags(*run, r.args);
    return run;
}

int run_command(int argc, char** argv) {
    CLI::App app{"moa: Mixture-of-Agents topologies as text files, run as dataflow graphs"};
    bool verbose = false, quiet = false;
    Common common;
    add_global_flags(app, verbose, quiet, common);
    Subcommands sub;  // in the order of --help: check, graph, fmt, run, plan, cache
    add_check(app, sub.check);
    add_graph(app, sub.graph);
    add_param_option(sub.check.cmd, common);
    add_param_option(sub.graph.cmd, common);
    add_fmt(app, sub.fmt);

    RunCmd rc;
    CLI::App* run = add_run(app, rc, common);

    add_plan(app, sub.plan);
    add_cache(app, sub.cache);
    sub.eval_cmd = moa::cli::add_eval(app, sub.eval);
    if (auto rc = parse_args(app, argc, argv)) return *rc;
    init_logging(verbose, quiet, common);
    sub.eval.quiet = quiet;
    if (*run) return cmd_run(rc.args, *run, rc.format, rc.cache_opt, rc.no_progress, quiet, common);
    return dispatch(sub, common);
}

}  // namespace
