#include "scheduler/http/prometheus.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "scheduler/core/await_reply.h"

namespace sematic::scheduler::http {

void RequestStats::Record(const std::string& route, int status, absl::Duration latency) {
  const double seconds = absl::ToDoubleSeconds(latency);
  absl::MutexLock lock(&mu_);
  ++requests_[{route, status}];
  Histogram& h = latency_[route];
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++h.buckets[i];
  }
  ++h.count;
  h.sum += seconds;
}

void RequestStats::AppendTo(std::string* text) const {
  absl::MutexLock lock(&mu_);
  absl::StrAppend(text, "# HELP sematic_http_requests_total HTTP requests served.\n",
                  "# TYPE sematic_http_requests_total counter\n");
  for (const auto& [key, count] : requests_) {
    absl::StrAppend(text, "sematic_http_requests_total{route=\"", EscapeLabel(key.first),
                    "\",code=\"", key.second, "\"} ", count, "\n");
  }
  absl::StrAppend(text, "# HELP sematic_http_request_seconds HTTP request latency.\n",
                  "# TYPE sematic_http_request_seconds histogram\n");
  for (const auto& [route, h] : latency_) {
    const std::string label = EscapeLabel(route);
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      absl::StrAppend(text, "sematic_http_request_seconds_bucket{route=\"", label, "\",le=\"",
                      kBuckets[i], "\"} ", h.buckets[i], "\n");
    }
    absl::StrAppend(text, "sematic_http_request_seconds_bucket{route=\"", label,
                    "\",le=\"+Inf\"} ", h.count, "\n", "sematic_http_request_seconds_sum{route=\"",
                    label, "\"} ", h.sum, "\n", "sematic_http_request_seconds_count{route=\"",
                    label, "\"} ", h.count, "\n");
  }
}

std::string EscapeLabel(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

absl::StatusOr<std::string> PrometheusText(Scheduler& scheduler, const RequestStats& stats) {
  const absl::Duration timeout = absl::Seconds(10);
  ASSIGN_OR_RETURN(SchedulerStats live,
                   AwaitReply<SchedulerStats>("GetStats", timeout, [&](auto done) {
                     scheduler.GetStats(std::move(done));
                   }));
  ASSIGN_OR_RETURN(v1::ListWorkersResponse workers,
                   AwaitReply<v1::ListWorkersResponse>("ListWorkers", timeout, [&](auto done) {
                     scheduler.ListWorkers(std::move(done));
                   }));
  std::string text;
  absl::StrAppend(&text, "# HELP sematic_live_runs Runs not yet ended, by state.\n",
                  "# TYPE sematic_live_runs gauge\n");
  // Live runs are in the states before an end (CREATED .. WAITING).
  for (int state = v1::CREATED; state <= v1::WAITING; ++state) {
    absl::StrAppend(&text, "sematic_live_runs{state=\"",
                    v1::RunState_Name(static_cast<v1::RunState>(state)), "\"} ",
                    live.live_runs_by_state[state], "\n");
  }
  absl::StrAppend(&text, "# HELP sematic_live_jobs Jobs not yet ended, by state.\n",
                  "# TYPE sematic_live_jobs gauge\n");
  for (int state : {v1::JOB_PENDING, v1::JOB_RUNNING}) {
    absl::StrAppend(&text, "sematic_live_jobs{state=\"",
                    v1::JobState_Name(static_cast<v1::JobState>(state)), "\"} ",
                    live.live_jobs_by_state[state], "\n");
  }
  absl::StrAppend(&text, "# HELP sematic_queue_depth Runs waiting for a worker, per function.\n",
                  "# TYPE sematic_queue_depth gauge\n");
  for (const auto& [function, depth] : live.queued_by_function) {
    absl::StrAppend(&text, "sematic_queue_depth{function=\"", EscapeLabel(function), "\"} ",
                    depth, "\n");
  }
  absl::StrAppend(&text, "# HELP sematic_workers Connected workers.\n",
                  "# TYPE sematic_workers gauge\n", "sematic_workers ",
                  workers.workers_size(), "\n");
  absl::StrAppend(&text, "# HELP sematic_worker_slots Run slots of each worker.\n",
                  "# TYPE sematic_worker_slots gauge\n");
  for (const v1::WorkerInfo& w : workers.workers()) {
    absl::StrAppend(&text, "sematic_worker_slots{worker=\"", EscapeLabel(w.worker_id()), "\"} ",
                    w.max_concurrent_runs(), "\n");
  }
  absl::StrAppend(&text, "# HELP sematic_worker_slots_free Free run slots of each worker.\n",
                  "# TYPE sematic_worker_slots_free gauge\n");
  for (const v1::WorkerInfo& w : workers.workers()) {
    absl::StrAppend(&text, "sematic_worker_slots_free{worker=\"", EscapeLabel(w.worker_id()),
                    "\"} ", std::max(0, w.max_concurrent_runs() - w.running()), "\n");
  }
  stats.AppendTo(&text);
  return text;
}

}  // namespace sematic::scheduler::http
