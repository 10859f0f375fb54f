// `moa cache stats|prune|export|import` as library calls on a response cache file.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

namespace moa {

int cache_stats(const std::string& db, std::ostream& out);
int cache_prune(const std::string& db, int64_t older_than_s /* -1: any age */, const std::string& model, std::ostream& out);
int cache_export(const std::string& db, const std::string& file, std::ostream& out);
int cache_import(const std::string& db, const std::string& file, std::ostream& out);

}  // namespace moa
