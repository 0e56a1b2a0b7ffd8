// The scheduler: owns every job's dynamic graph, persists it, and dispatches runs to workers.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Scheduler> s, Scheduler::Create({.data_dir = "/var/sematic"}));
//   s->SubmitJob(request, [](absl::StatusOr<v1::SubmitJobResponse> r) { ... });
//   WorkerId w = s->ConnectWorker(std::make_unique<MyConnection>(...));
//   s->OnWorkerMessage(w, message);
//
// This class knows nothing of gRPC: the service adapters translate messages and call it, and
// tests drive it directly with fake worker connections.
//
// Threading: all state lives on one event loop. Every public method may be called from any
// thread; it posts to the loop and returns. Callbacks and WorkerConnection::Send run on the loop
// thread, after the turn's writes are committed to the store (a reply never announces something
// that a crash could lose). Callbacks must not block.
#ifndef SEMATIC_SCHEDULER_CORE_SCHEDULER_H_
#define SEMATIC_SCHEDULER_CORE_SCHEDULER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/latency_histogram.h"
#include "scheduler/artifacts/artifact_service.h"
#include "scheduler/policy/send_ahead.h"
#include "sematic/v1/admin_service.pb.h"
#include "sematic/v1/job.pb.h"
#include "sematic/v1/run_service.pb.h"
#include "sematic/v1/worker_service.pb.h"

namespace sematic::scheduler {

// Size and count limits, enforced with INVALID_ARGUMENT naming the field.
struct Limits {
  size_t max_graph_nodes = 2'000'000;   // nodes in one sub-graph registration (1M steps + gather)
  size_t max_runs_per_job = 10'000'000;
  size_t max_inline_value_bytes = 64 << 20;
  size_t max_name_bytes = 1024;         // function names, arg names, ids, tags
  size_t max_args_per_submit = 1024;
  // Tags of one job: a label each, not a payload (100k tags made one ListJobs page 63 MB).
  size_t max_tags_per_job = 64;
  size_t max_tag_bytes = 256;
  // The largest gRPC message the transport accepts (the daemon's --max-message-bytes); told to
  // workers in Welcome so they refuse oversized results themselves. 0: not known.
  size_t max_message_bytes = 256 << 20;
};

struct SchedulerOptions {
  std::string data_dir;
  bool sync = false;  // fsync every committed batch (group-committed per loop turn)
  absl::Duration heartbeat_timeout = absl::Seconds(15);
  absl::Duration recovery_grace = absl::Seconds(10);
  std::string placement = "pack";  // or "spread"
  Limits limits;
  ArtifactServiceOptions artifacts;
  // A turn's new run records beyond this many bytes (a large sub-graph's registration) are
  // committed in several writes of about this size ahead of the turn's last one, which makes
  // them count (see CreationBatch in scheduler_impl.cc): memory for the writes stays bounded.
  size_t registration_chunk_bytes = size_t{8} << 20;
  // How many runs of a function wait on a busy worker, from how long its runs take.
  SendAheadPolicy send_ahead;
};

// One page of a run's log (Scheduler::ReadRunLogs).
// `lines.run_ended()`: the run had ended when the page was read, so no line follows the stored
// ones. The log is complete once a page comes back empty (a full page may have more behind it).
struct RunLogPage {
  v1::LogLines lines;
};

// Gauges of the scheduler's live state (Scheduler::GetStats), for /metrics.
struct SchedulerStats {
  // Runs not yet ended (recorded ones are counted per job in Job.runs_by_state), by RunState.
  std::vector<int64_t> live_runs_by_state = std::vector<int64_t>(v1::RunState_ARRAYSIZE, 0);
  // Jobs not yet ended, by JobState.
  std::vector<int64_t> live_jobs_by_state = std::vector<int64_t>(v1::JobState_ARRAYSIZE, 0);
  // Runs waiting in each function's dispatch queue, by "name@version".
  std::map<std::string, int64_t> queued_by_function;
  // From a run's entering the dispatch queue (or its retry backoff's end) to its assignment.
  LatencyHistogram::Snapshot dispatch_latency;
  // Each write of committed turns to the store.
  LatencyHistogram::Snapshot commit_latency;
};

// The scheduler's end of one worker's stream. Implemented by the gRPC adapter and by tests.
class WorkerConnection {
 public:
  virtual ~WorkerConnection() = default;
  // Queues `message` for the worker; must not block. Called on the loop thread.
  virtual void Send(v1::SchedulerMessage message) = 0;
  // Ends the stream with `status` (e.g. after a protocol error or a missed heartbeat).
  virtual void Close(absl::Status status) = 0;
};

using WorkerSessionId = uint64_t;

template <typename T>
using Callback = std::function<void(absl::StatusOr<T>)>;

// Events of one job as one loop turn committed them (Scheduler::WatchJobBatches).
using JobEventBatch = std::shared_ptr<const std::vector<v1::JobEvent>>;

class Scheduler {
 public:
  // Opens (or creates) the store under `options.data_dir` and recovers: rebuilds the live runs
  // and starts the grace period in which reconnecting workers report what they still run.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(SchedulerOptions options);
  virtual ~Scheduler() = default;

  // Clients. Errors: see protos/sematic/v1/job.proto.
  virtual void SubmitJob(v1::SubmitJobRequest request, Callback<v1::SubmitJobResponse> done) = 0;
  virtual void GetJob(v1::GetJobRequest request, Callback<v1::Job> done) = 0;
  virtual void ListJobs(v1::ListJobsRequest request, Callback<v1::ListJobsResponse> done) = 0;
  virtual void CancelJob(v1::CancelJobRequest request, Callback<v1::CancelJobResponse> done) = 0;
  virtual void GetRun(v1::GetRunRequest request, Callback<v1::Run> done) = 0;
  virtual void ListRuns(v1::ListRunsRequest request, Callback<v1::ListRunsResponse> done) = 0;
  // The job's runs grouped by (parent, function), with counts by state. INVALID_ARGUMENT: no
  // job id; NOT_FOUND: unknown job.
  virtual void ListRunGroups(v1::ListRunGroupsRequest request,
                             Callback<v1::ListRunGroupsResponse> done) = 0;
  // The job's events after `after_sequence`, then each new one until the job ends; `event`
  // returning false ends the watch. `done` runs once, at the end.
  virtual void WatchJob(v1::WatchJobRequest request,
                        std::function<bool(const v1::JobEvent&)> event,
                        std::function<void(absl::Status)> done) = 0;
  // The same watch, its events in the batches each loop turn commits, one batch object shared
  // by every watcher of the job: the loop copies nothing per watcher (ten dashboards on a
  // 100k-run fan-out cost it ten calls per turn, not ten copies of every event). `batch`
  // returning false ends the watch.
  virtual void WatchJobBatches(v1::WatchJobRequest request,
                               std::function<bool(const JobEventBatch&)> batch,
                               std::function<void(absl::Status)> done) = 0;

  // Up to `max_lines` committed log lines of `request.run_id()` from `request.from_index()`.
  // With `request.follow()` and no line there yet, the reply waits (without polling) until a
  // line is committed or the run ends. NOT_FOUND: unknown run.
  virtual void ReadRunLogs(v1::GetRunLogsRequest request, size_t max_lines,
                           Callback<RunLogPage> done) = 0;
  // NOT_FOUND: unknown run.
  virtual void GetRunMetrics(v1::GetRunMetricsRequest request,
                             Callback<v1::GetRunMetricsResponse> done) = 0;
  // INVALID_ARGUMENT: neither digest nor run id; NOT_FOUND: unknown digest or run.
  virtual void GetLineage(v1::GetLineageRequest request, Callback<v1::GetLineageResponse> done) = 0;

  // Artifact metadata, uploads and downloads: thread-safe, and served without the loop (the
  // bytes are immutable and content-addressed; see artifact_service.h).
  virtual ArtifactService& artifacts() = 0;

  // Operators.
  virtual void ListWorkers(Callback<v1::ListWorkersResponse> done) = 0;
  virtual void ListFunctions(Callback<v1::ListFunctionsResponse> done) = 0;
  virtual void GetInfo(Callback<v1::SchedulerInfo> done) = 0;
  // O(live runs) on the loop: for a scrape every few seconds, not per request.
  virtual void GetStats(Callback<SchedulerStats> done) = 0;

  // Workers. A session starts with ConnectWorker; its first message must be a Hello.
  virtual WorkerSessionId ConnectWorker(std::unique_ptr<WorkerConnection> connection) = 0;
  virtual void OnWorkerMessage(WorkerSessionId session, v1::WorkerMessage message) = 0;
  // The stream broke or ended: the worker's runs are re-queued unless it reconnects in time.
  virtual void OnWorkerGone(WorkerSessionId session, absl::Status why) = 0;

  // Stops accepting work, tells workers to drain, commits and flushes the store.
  virtual void Shutdown() = 0;
};

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_CORE_SCHEDULER_H_
