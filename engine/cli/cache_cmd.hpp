// `moa cache stats|prune|export|import`: the library calls of moa/cache_admin.hpp, their
// results printed, their errors printed as "moa cache: ..." with exit code 1.
#pragma once

#include <string>

namespace moa::cli {

int cache_stats(const std::string& db);
// `age`: a duration of the language ("" for any age); a bad one is a usage error (2).
int cache_prune(const std::string& db, const std::string& age, const std::string& model);
int cache_export(const std::string& db, const std::string& file);
int cache_import(const std::string& db, const std::string& file);

}  // namespace moa::cli
