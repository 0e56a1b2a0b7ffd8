// Counters keyed by two labels (route and status, method and code), for /metrics. Thread-safe;
// a lock per increment, for counts of requests (not of per-run work).
//
//   LabeledCounters rpcs;
//   rpcs.Add("/sematic.v1.JobService/GetJob", "OK");
//   for (const auto& [labels, count] : rpcs.Read()) ...
#ifndef SEMATIC_COMMON_LABELED_COUNTERS_H_
#define SEMATIC_COMMON_LABELED_COUNTERS_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace sematic {

class LabeledCounters {
 public:
  using Labels = std::pair<std::string, std::string>;

  void Add(std::string_view first, std::string_view second, int64_t n = 1) {
    absl::MutexLock lock(&mu_);
    counts_[Labels(first, second)] += n;
  }

  std::map<Labels, int64_t> Read() const {
    absl::MutexLock lock(&mu_);
    return counts_;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<Labels, int64_t> counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sematic

#endif  // SEMATIC_COMMON_LABELED_COUNTERS_H_
