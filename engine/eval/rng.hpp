// The PRNG of the bootstrap: xoshiro256** seeded through splitmix64, with bounded draws by
// Lemire's multiply-and-reject. Written out here (not <random>'s distributions, whose
// output is implementation-defined) so a seed gives the same intervals on every platform.
#pragma once

#include <cstdint>

namespace moa::eval {

class Rng {
public:
    explicit Rng(uint64_t seed) {
        for (auto& w : s_) w = splitmix64(seed);
    }

    uint64_t next() {
        const uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    // Uniform in [0, n), n >= 1, without modulo bias (Lemire 2019).
    uint32_t below(uint32_t n) {
        uint64_t m = uint64_t(uint32_t(next() >> 32)) * n;
        auto low = uint32_t(m);
        if (low < n) {
            const uint32_t threshold = uint32_t(-n) % n;
            while (low < threshold) {
                m = uint64_t(uint32_t(next() >> 32)) * n;
                low = uint32_t(m);
            }
        }
        return uint32_t(m >> 32);
    }

    // Uniform in [0, 1) with 53 random bits.
    double uniform() { return double(next() >> 11) * 0x1.0p-53; }

private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    static uint64_t splitmix64(uint64_t& x) {
        uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    uint64_t s_[4];
};

}  // namespace moa::eval
