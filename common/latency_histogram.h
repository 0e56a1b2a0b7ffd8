// A latency histogram with fixed buckets, cheap to record into from any thread (one relaxed
// atomic add per bucket touched), read as a consistent-enough snapshot for /metrics.
//
//   LatencyHistogram commits;
//   commits.Record(absl::Now() - start);
//   LatencyHistogram::Snapshot s = commits.Read();  // s.count, s.sum_seconds, s.cumulative[i]
#ifndef SEMATIC_COMMON_LATENCY_HISTOGRAM_H_
#define SEMATIC_COMMON_LATENCY_HISTOGRAM_H_

#include <array>
#include <algorithm>
#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace sematic {

class LatencyHistogram {
 public:
  // Upper bounds in seconds (Prometheus' `le`), 50 µs to 10 s; +Inf is `count`.
  static constexpr std::array<double, 14> kBounds = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
      0.01,    0.025,  0.05,    0.1,    0.25,  1,      10};

  struct Snapshot {
    std::array<int64_t, kBounds.size()> cumulative{};  // observations <= kBounds[i]
    int64_t count = 0;
    double sum_seconds = 0;
  };

  void Record(absl::Duration latency) {
    const int64_t nanos = absl::ToInt64Nanoseconds(latency);
    for (size_t i = 0; i < kBounds.size(); ++i) {
      if (nanos <= static_cast<int64_t>(kBounds[i] * 1e9)) {
        buckets_[i].fetch_add(1, std::memory_order_relaxed);
        break;
      }
    }
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_nanos_.fetch_add(nanos, std::memory_order_relaxed);
  }

  Snapshot Read() const {
    Snapshot s;
    int64_t running = 0;
    for (size_t i = 0; i < kBounds.size(); ++i) {
      running += buckets_[i].load(std::memory_order_relaxed);
      s.cumulative[i] = running;
    }
    s.count = std::max(running, count_.load(std::memory_order_relaxed));
    s.sum_seconds = static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) / 1e9;
    return s;
  }

 private:
  std::array<std::atomic<int64_t>, kBounds.size()> buckets_{};  // not cumulative
  std::atomic<int64_t> count_ = 0;
  std::atomic<int64_t> sum_nanos_ = 0;
};

}  // namespace sematic

#endif  // SEMATIC_COMMON_LATENCY_HISTOGRAM_H_
