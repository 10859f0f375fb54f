#include "cache_cmd.hpp"

#include <cerrno>
#include <cstring>
#include <iostream>
#include <sstream>

#include "moa/cache_admin.hpp"
#include "moa/duration.hpp"

namespace moa::cli {

namespace {

int fail(const std::string& err) {
    std::cerr << "moa cache: " << err << "\n";
    return 1;
}

// Flushes what a command printed: a full disk or closed pipe on stdout is the
// command's failure (exit 1), never a silent short report.
int finish() {
    errno = 0;
    std::cout.flush();
    if (std::cout) return 0;
    int e = errno;
    return fail(std::string("writing stdout failed: ") + (e ? std::strerror(e) : "the stream reported an error"));
}

// Runs one library call: its moa::Error is the command's message and exit code 1.
template <typename Fn>
int guarded(Fn&& fn) {
    try {
        return fn();
    } catch (const Error& e) {
        return fail(e.what());
    }
}

}  // namespace

int cache_stats(const std::string& path) {
    return guarded([&] {
        CacheStats s = moa::cache_stats(path);
        std::ostringstream o;  // printed only when every query succeeded
        o << "cache: " << path << "\n";
        o << "entries: " << s.entries << "\n";
        o << "file size: " << s.file_bytes << " bytes (+ WAL)\n";
        o << "tokens stored: " << s.tokens_in << " in, " << s.tokens_out << " out\n";
        o << "lookups: " << s.hits << " hits, " << s.misses << " misses";
        if (s.hits + s.misses > 0) o << " (hit rate " << (100 * s.hits / (s.hits + s.misses)) << "%)";
        o << "\nby model:\n";
        for (const auto& [model, n] : s.by_model) o << "  " << model << ": " << n << "\n";
        std::cout << o.str();
        return finish();
    });
}

int cache_prune(const std::string& path, const std::string& age_text, const std::string& model) {
    int64_t age = -1;
    if (!age_text.empty()) {
        // The language's own duration literal: "h" or "5days" is a usage error, never age 0.
        std::string why;
        auto ms = parse_duration_ms(age_text, &why);
        if (!ms || *ms < 0) {
            std::cerr << "moa cache prune: --older-than " << age_text << ": "
                      << (ms ? "the age cannot be negative" : why) << "; an age is written like 90min, 12h, 7d or 2w\n";
            return 2;
        }
        age = *ms / 1000;
    }
    if (age < 0 && model.empty()) {
        std::cerr << "moa cache prune: give --older-than and/or --model\n";
        return 2;
    }
    return guarded([&] {
        int64_t n = moa::cache_prune(path, age, model);
        std::cout << "pruned " << n << " entries\n";
        try {
            cache_compact(path);
        } catch (const Error& e) {
            return fail(std::string("pruned, but VACUUM failed: ") + e.what());
        }
        return finish();
    });
}

int cache_export(const std::string& path, const std::string& file) {
    return guarded([&] {
        CacheExport r = moa::cache_export(path, file);
        // With `-` the export is stdout: the summary goes to stderr.
        std::ostream& report = r.to_stdout ? std::cerr : std::cout;
        report << "exported " << r.entries << " entries to " << (r.to_stdout ? std::string("stdout") : file) << "\n";
        return r.to_stdout ? 0 : finish();
    });
}

int cache_import(const std::string& path, const std::string& file) {
    return guarded([&] {
        size_t n = moa::cache_import(path, file);
        std::cout << "imported " << n << " entries into " << path << "\n";
        return finish();
    });
}

}  // namespace moa::cli
