// Bounded-memory latency statistics: a log-scale histogram per layer, so a
// million-job batch costs the same memory as a ten-job one.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace moa {

class LatencyHistogram {
public:
    void add(double ms) {
        ++count_;
        buckets_[bucket(ms)]++;
    }
    size_t count() const { return count_; }
    double percentile(double p) const {  // upper edge of the bucket holding the p-quantile
        if (count_ == 0) return 0;
        uint64_t rank = static_cast<uint64_t>(std::ceil(p * static_cast<double>(count_)));
        if (rank == 0) rank = 1;
        uint64_t seen = 0;
        for (size_t b = 0; b < kBuckets; ++b) {
            seen += buckets_[b];
            if (seen >= rank) return edge(b);
        }
        return edge(kBuckets - 1);
    }
    void merge(const LatencyHistogram& o) {
        count_ += o.count_;
        for (size_t b = 0; b < kBuckets; ++b) buckets_[b] += o.buckets_[b];
    }

private:
    // 4% steps from 1 µs to ~10 h.
    static constexpr size_t kBuckets = 640;
    static constexpr double kStep = 1.04;
    static size_t bucket(double ms) {
        double us = ms * 1000;
        if (us <= 1) return 0;
        size_t b = static_cast<size_t>(std::log(us) / std::log(kStep)) + 1;
        return b < kBuckets ? b : kBuckets - 1;
    }
    static double edge(size_t b) { return std::pow(kStep, static_cast<double>(b)) / 1000; }
    std::array<uint64_t, kBuckets> buckets_{};
    size_t count_ = 0;
};

}  // namespace moa
