// Fast non-cryptographic hashing (splitmix64's finaliser over 8-byte words): cache
// keys, retry jitter, and whatever identity a backend derives from a request. The
// values are part of the cache's on-disk format: changing them orphans every cache.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace moa {

inline uint64_t mix(uint64_t x) {  // splitmix64 finaliser
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

inline uint64_t hash_bytes(std::string_view s, uint64_t seed) {
    // 8 bytes at a time: prompts of aggregators run to tens of kilobytes.
    uint64_t h = mix(seed ^ s.size());
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        h = (h ^ mix(w)) * 0x9FB21C651E98DF25ULL;
    }
    uint64_t tail = 0;
    std::memcpy(&tail, s.data() + i, s.size() - i);
    return mix(h ^ tail ^ (s.size() - i));
}

}  // namespace moa
