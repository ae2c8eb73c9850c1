// A log-linear latency histogram (in the manner of HdrHistogram): values in
// nanoseconds fall into 32 sub-buckets per power of two, so any percentile is
// within about 3% of the truth, with a fixed 2,048-counter footprint.
#pragma once
#include <cstdint>
#include <cstring>

namespace corews::core {

class Histogram {
 public:
  static constexpr int kSubBits = 5;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = 64 * kSub;

  void record(uint64_t v, uint64_t times = 1) {
    counts_[index(v)] += times;
    total_ += times;
    if (v > max_) max_ = v;
  }
  void merge(const Histogram& o) {
    for (int i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    if (o.max_ > max_) max_ = o.max_;
  }
  uint64_t count() const { return total_; }
  uint64_t max() const { return max_; }

  // The value at quantile q (0..1): the upper bound of the bucket it falls in.
  uint64_t quantile(double q) const {
    if (total_ == 0) return 0;
    uint64_t rank = uint64_t(q * double(total_ - 1)) + 1;
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        uint64_t upper = upper_bound(i);
        return upper < max_ ? upper : max_;
      }
    }
    return max_;
  }

 private:
  static int index(uint64_t v) {
    if (v < kSub) return int(v);
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - kSubBits;
    return (shift + 1) * kSub + int((v >> shift) & (kSub - 1));
  }
  static uint64_t upper_bound(int i) {
    if (i < kSub) return uint64_t(i);
    int shift = i / kSub - 1;
    uint64_t base = (uint64_t(kSub) | uint64_t(i % kSub)) << shift;
    return base + ((uint64_t(1) << shift) - 1);
  }

  uint64_t counts_[kBuckets] = {};
  uint64_t total_ = 0;
  uint64_t max_ = 0;
};

}  // namespace corews::core
