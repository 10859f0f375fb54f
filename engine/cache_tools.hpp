// `moa cache stats|prune|export|import`.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

#include "cache.hpp"

namespace moa {

int cache_stats(const std::string& db, std::ostream& out);
int cache_prune(const std::string& db, int64_t older_than_s /* -1: any age */, const std::string& model, std::ostream& out);
int cache_export(const std::string& db, const std::string& file, std::ostream& out);
int cache_import(const std::string& db, const std::string& file, std::ostream& out);

// One line of an export file (JSON, in batch_io.cpp with the other simdjson code).
bool parse_cache_record(std::string line, CacheRecord& r);

}  // namespace moa
