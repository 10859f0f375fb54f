// libFuzzer target for the .moa language: parse + check (load_graph_text) and the
// formatter, on arbitrary bytes.
//
// Properties checked (abort() on violation, so libFuzzer saves the input):
//   * no crash / sanitizer report / hang in load_graph_text or format_source;
//   * when format_source(input) succeeds, its output parses without syntax errors
//     (formatting never introduces one), and
//   * formatting is idempotent: format(format(x)) == format(x).
//
// Imports: the input is "loaded" as <tmp>/moa-fuzz-<pid>/input.moa, a fresh, empty
// directory, so relative imports find nothing except the stdlib. The stdlib directory
// (searched as an import path, so `import "moa.moa"` works) comes from the
// MOA_STDLIB_DIR environment variable, else a MOA_STDLIB_DIR compile definition, else
// <this file's directory>/../../stdlib.
//
// Build and run: see docs/performance.md ("Fuzzing").
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>

#include "moa/dsl.hpp"

namespace {

namespace fs = std::filesystem;

std::string stdlib_dir() {
    if (const char* e = std::getenv("MOA_STDLIB_DIR"); e && *e) return e;
#ifdef MOA_STDLIB_DIR
    return MOA_STDLIB_DIR;
#else
    return (fs::path(__FILE__).parent_path() / ".." / ".." / "stdlib").lexically_normal().string();
#endif
}

struct Setup {
    std::string path;
    moa::LoadOptions opts;

    Setup() {
        std::error_code ec;
        fs::path dir = fs::temp_directory_path(ec) / ("moa-fuzz-" + std::to_string(::getpid()));
        fs::create_directories(dir, ec);
        path = (dir / "input.moa").string();
        opts.import_paths.push_back(stdlib_dir());
        if (!fs::is_regular_file(fs::path(opts.import_paths[0]) / "moa.moa", ec))
            std::fprintf(stderr, "fuzz_dsl: warning: no moa.moa in stdlib dir %s (set MOA_STDLIB_DIR)\n",
                         opts.import_paths[0].c_str());
    }
};

const Setup& setup() {
    static const Setup s;
    return s;
}

[[noreturn]] void fail(const char* what, const std::string& a, const std::string& b,
                       const moa::Diagnostics* d) {
    std::fprintf(stderr, "\n==== fuzz_dsl property violated: %s ====\n", what);
    std::fprintf(stderr, "---- first (%zu bytes) ----\n%s\n", a.size(), a.c_str());
    std::fprintf(stderr, "---- second (%zu bytes) ----\n%s\n", b.size(), b.c_str());
    if (d) {
        std::fprintf(stderr, "---- diagnostics ----\n");
        for (const auto& x : d->all()) std::fprintf(stderr, "%s\n", moa::render_text(x).c_str());
    }
    std::fflush(stderr);
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    (void)setup();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const Setup& s = setup();
    std::string text(reinterpret_cast<const char*>(data), size);

    {  // parse + check, with imports
        moa::Diagnostics diags;
        moa::LoadResult r = moa::load_graph_text(s.path, text, s.opts, diags);
        // Exercise the diagnostics renderer and the graph dumpers too: they run on
        // every `moa check` / `moa graph`.
        for (const auto& d : diags.all()) (void)moa::render_text(d);
        if (r.ok) {
            for (auto f : {moa::DumpFormat::Text, moa::DumpFormat::Json, moa::DumpFormat::Dot,
                           moa::DumpFormat::Mermaid}) {
                std::ostringstream out;
                moa::dump_graph(out, r.graph, f);
            }
        }
    }

    // The formatter.
    moa::Diagnostics d1;
    std::string f1;
    if (!moa::format_source(s.path, text, f1, d1)) return 0;  // input does not parse: nothing to format

    // Formatting then re-parsing gives no new syntax error; formatting is idempotent.
    moa::Diagnostics d2;
    std::string f2;
    if (!moa::format_source(s.path, f1, f2, d2)) fail("formatted output does not parse", text, f1, &d2);
    if (f2 != f1) fail("formatter is not idempotent (format(format(x)) != format(x))", f1, f2, nullptr);
    return 0;
}
