#include "moa/cache_mode.hpp"

namespace moa {

namespace {

struct Name {
    CacheMode mode;
    const char* text;
};
constexpr Name kNames[] = {{CacheMode::Off, "off"},
                           {CacheMode::ReadWrite, "rw"},
                           {CacheMode::Read, "read"},
                           {CacheMode::Replay, "replay"},
                           {CacheMode::Refresh, "refresh"}};

}  // namespace

std::optional<CacheMode> parse_cache_mode(std::string_view s) {
    for (const auto& n : kNames)
        if (s == n.text) return n.mode;
    return std::nullopt;
}

const char* to_string(CacheMode m) {
    for (const auto& n : kNames)
        if (m == n.mode) return n.text;
    return "off";
}

}  // namespace moa
