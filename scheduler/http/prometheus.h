// /metrics of the HTTP gateway in Prometheus' text format (docs/http.md, "/metrics"): the
// scheduler's gauges and latency histograms, its workers' slots, gRPC calls by method and code,
// and the gateway's own requests.
//
//   RequestStats stats;
//   stats.Record("/api/v1/jobs", 200, absl::Milliseconds(3));
//   ASSIGN_OR_RETURN(std::string text, PrometheusText(scheduler, stats, &grpc_counts));
#ifndef SEMATIC_SCHEDULER_HTTP_PROMETHEUS_H_
#define SEMATIC_SCHEDULER_HTTP_PROMETHEUS_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/labeled_counters.h"
#include "common/latency_histogram.h"
#include "scheduler/core/scheduler.h"

namespace sematic::scheduler::http {

// HTTP requests served, by route and status, and a latency histogram per route. Thread-safe.
class RequestStats {
 public:
  void Record(const std::string& route, int status, absl::Duration latency);
  // Appends the counters and histograms in text format.
  void AppendTo(std::string* text) const;

 private:
  LabeledCounters requests_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<LatencyHistogram>> latency_ ABSL_GUARDED_BY(mu_);
};

// The whole exposition: scheduler gauges and histograms (GetStats, ListWorkers), the gRPC calls
// in `rpc_counts` (null: none served here), then `stats`.
absl::StatusOr<std::string> PrometheusText(Scheduler& scheduler, const RequestStats& stats,
                                           const LabeledCounters* rpc_counts);

// A label value escaped as the text format requires (backslash, quote, newline).
std::string EscapeLabel(std::string_view value);

}  // namespace sematic::scheduler::http

#endif  // SEMATIC_SCHEDULER_HTTP_PROMETHEUS_H_
