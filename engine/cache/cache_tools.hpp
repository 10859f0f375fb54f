// Cache records as export files hold them (the admin calls are in moa/cache_admin.hpp).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

#include "cache/cache.hpp"
#include "moa/cache_admin.hpp"

namespace moa {

// One line of an export file (JSON, in batch_io.cpp with the other simdjson code).
bool parse_cache_record(std::string line, CacheRecord& r);

}  // namespace moa
