// How a run uses the response cache (EngineOptions::cache_mode, `moa run --cache`).
#pragma once

#include <optional>
#include <string_view>

namespace moa {

enum class CacheMode {
    Off,        // no cache
    ReadWrite,  // "rw": answers from the cache, misses stored
    Read,       // "read": answers from the cache, nothing stored (a read-only cache works)
    Replay,     // "replay": a miss fails the call, explaining what differs from the recorded request (CI)
    Refresh,    // "refresh": every call goes to the backend, answers stored
};

// "off", "rw", "read", "replay", "refresh" (the spellings of `--cache`), or nullopt.
std::optional<CacheMode> parse_cache_mode(std::string_view s);
const char* to_string(CacheMode m);

}  // namespace moa
