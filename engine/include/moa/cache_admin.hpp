// `moa cache stats|prune|export|import` as library calls on a response cache file.
// Failures throw moa::Error (moa/error.hpp) naming the path and the reason: a missing
// cache ("no cache at PATH", Kind::NotFound, nothing is created except by import), a
// file that is no cache (Kind::Invalid), a corrupted one (Kind::Corrupt, saying what to
// do), an I/O failure (Kind::Io). Every query is checked: a step that stops early is an
// error, never a short answer. Nothing is printed.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "moa/error.hpp"

namespace moa {

struct CacheStats {
    int64_t entries = 0;
    uint64_t file_bytes = 0;  // the database file alone (0 if its size cannot be read); not the WAL
    int64_t tokens_in = 0, tokens_out = 0;
    int64_t hits = 0, misses = 0;  // lookups counted by runs that could write the cache
    std::vector<std::pair<std::string, int64_t>> by_model;  // entries per model, most first
};

// Reads only: works on a cache in a read-only directory.
CacheStats cache_stats(const std::string& db);

// Deletes the entries older than `older_than_s` seconds (-1: any age; 0: every entry)
// and, if `model` is not empty, only that model's. Returns how many were deleted. The
// file keeps its size until cache_compact.
int64_t cache_prune(const std::string& db, int64_t older_than_s, const std::string& model);

// VACUUM: gives the space of deleted entries back to the file system.
void cache_compact(const std::string& db);

struct CacheExport {
    size_t entries = 0;
    bool to_stdout = false;  // `file` was "-" or a path that is this process's stdout
};
// Writes every entry, one JSON object per line, ordered by key. "-" is stdout. A regular
// file is written as FILE.tmp and renamed onto FILE (a failed export leaves no short
// file); a symlink is followed; a device or FIFO is written in place.
CacheExport cache_export(const std::string& db, const std::string& file);

// Adds (or replaces) the entries of an exported file, in one transaction; creates the
// cache if needed. Returns how many were imported. A line that is not a cache record
// fails the import ("FILE:LINE: not a cache record", Kind::Invalid).
size_t cache_import(const std::string& db, const std::string& file);

}  // namespace moa
