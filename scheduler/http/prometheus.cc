#include "scheduler/http/prometheus.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "scheduler/core/await_reply.h"

namespace sematic::scheduler::http {

namespace {

// One histogram's lines; `labels` is empty or `name="value",`.
void AppendHistogram(std::string_view name, std::string_view labels,
                     const LatencyHistogram::Snapshot& h, std::string* text) {
  const absl::string_view n(name.data(), name.size());
  const absl::string_view l(labels.data(), labels.size());
  for (size_t i = 0; i < LatencyHistogram::kBounds.size(); ++i) {
    absl::StrAppend(text, n, "_bucket{", l, "le=\"", LatencyHistogram::kBounds[i], "\"} ",
                    h.cumulative[i], "\n");
  }
  absl::StrAppend(text, n, "_bucket{", l, "le=\"+Inf\"} ", h.count, "\n");
  // No trailing ',' and no empty braces.
  const std::string bare = l.empty() ? "" : absl::StrCat("{", l.substr(0, l.size() - 1), "}");
  absl::StrAppend(text, n, "_sum", bare, " ", h.sum_seconds, "\n", n, "_count", bare, " ", h.count,
                  "\n");
}

}  // namespace

void RequestStats::Record(const std::string& route, int status, absl::Duration latency) {
  requests_.Add(route, absl::StrCat(status));
  LatencyHistogram* histogram;
  {
    absl::MutexLock lock(&mu_);
    std::unique_ptr<LatencyHistogram>& slot = latency_[route];
    if (slot == nullptr) slot = std::make_unique<LatencyHistogram>();
    histogram = slot.get();  // never removed: the pointer stays valid
  }
  histogram->Record(latency);
}

void RequestStats::AppendTo(std::string* text) const {
  absl::StrAppend(text, "# HELP sematic_http_requests_total HTTP requests served.\n",
                  "# TYPE sematic_http_requests_total counter\n");
  for (const auto& [labels, count] : requests_.Read()) {
    absl::StrAppend(text, "sematic_http_requests_total{route=\"", EscapeLabel(labels.first),
                    "\",code=\"", labels.second, "\"} ", count, "\n");
  }
  absl::StrAppend(text, "# HELP sematic_http_request_seconds HTTP request latency.\n",
                  "# TYPE sematic_http_request_seconds histogram\n");
  absl::MutexLock lock(&mu_);
  for (const auto& [route, histogram] : latency_) {
    AppendHistogram("sematic_http_request_seconds",
                    absl::StrCat("route=\"", EscapeLabel(route), "\","), histogram->Read(), text);
  }
}

std::string EscapeLabel(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

absl::StatusOr<std::string> PrometheusText(Scheduler& scheduler, const RequestStats& stats,
                                           const LabeledCounters* rpc_counts) {
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
    absl::StrAppend(&text, "sematic_queue_depth{function=\"", EscapeLabel(function), "\"} ", depth,
                    "\n");
  }
  absl::StrAppend(&text, "# HELP sematic_workers Connected workers.\n",
                  "# TYPE sematic_workers gauge\n", "sematic_workers ", workers.workers_size(),
                  "\n");
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
  absl::StrAppend(&text,
                  "# HELP sematic_dispatch_seconds From a run's queueing (or its retry's backoff "
                  "end) to its assignment to a worker.\n",
                  "# TYPE sematic_dispatch_seconds histogram\n");
  AppendHistogram("sematic_dispatch_seconds", "", live.dispatch_latency, &text);
  absl::StrAppend(&text,
                  "# HELP sematic_commit_seconds Each write of committed turns to the store.\n",
                  "# TYPE sematic_commit_seconds histogram\n");
  AppendHistogram("sematic_commit_seconds", "", live.commit_latency, &text);
  if (rpc_counts != nullptr) {
    absl::StrAppend(&text, "# HELP sematic_grpc_requests_total gRPC calls by method and code.\n",
                    "# TYPE sematic_grpc_requests_total counter\n");
    for (const auto& [labels, count] : rpc_counts->Read()) {
      absl::StrAppend(&text, "sematic_grpc_requests_total{method=\"", EscapeLabel(labels.first),
                      "\",code=\"", labels.second, "\"} ", count, "\n");
    }
  }
  stats.AppendTo(&text);
  return text;
}

}  // namespace sematic::scheduler::http
