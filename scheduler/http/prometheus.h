// /metrics of the HTTP gateway in Prometheus' text format (docs/http.md, "/metrics"): the
// scheduler's gauges, its workers' slots, and the gateway's own request counts and latencies.
//
//   RequestStats stats;
//   stats.Record("/api/v1/jobs", 200, absl::Milliseconds(3));
//   ASSIGN_OR_RETURN(std::string text, PrometheusText(scheduler, stats));
#ifndef SEMATIC_SCHEDULER_HTTP_PROMETHEUS_H_
#define SEMATIC_SCHEDULER_HTTP_PROMETHEUS_H_

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "scheduler/core/scheduler.h"

namespace sematic::scheduler::http {

// HTTP requests served, by route and status, and a latency histogram per route. Thread-safe.
class RequestStats {
 public:
  // Upper bounds of the latency buckets, in seconds (Prometheus' `le`).
  static constexpr std::array<double, 10> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,  0.1,    0.25,  1,    5};

  void Record(const std::string& route, int status, absl::Duration latency);
  // Appends the counters and histograms in text format.
  void AppendTo(std::string* text) const;

 private:
  struct Histogram {
    std::array<int64_t, kBuckets.size()> buckets{};
    int64_t count = 0;
    double sum = 0;
  };
  mutable absl::Mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Histogram> latency_ ABSL_GUARDED_BY(mu_);
};

// The whole exposition: scheduler gauges (GetStats, GetInfo, ListWorkers) then `stats`.
absl::StatusOr<std::string> PrometheusText(Scheduler& scheduler, const RequestStats& stats);

// A label value escaped as the text format requires (backslash, quote, newline).
std::string EscapeLabel(std::string_view value);

}  // namespace sematic::scheduler::http

#endif  // SEMATIC_SCHEDULER_HTTP_PROMETHEUS_H_
