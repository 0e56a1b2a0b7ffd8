// The scheduler's state machine over jobs, runs and workers. Everything here runs on one event
// loop; each turn's durable changes go into one store batch, committed at the turn's end, and
// only then are replies and worker messages released (see Outbox).
#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/digest.h"
#include "common/event_loop.h"
#include "common/ids.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "common/worker_protocol.h"
#include "scheduler/artifacts/blob_store.h"
#include "scheduler/core/commit_pipeline.h"
#include "scheduler/core/graph_rewrite.h"
#include "scheduler/core/requests.h"
#include "scheduler/core/run_reads.h"
#include "scheduler/core/scheduler.h"
#include "scheduler/core/worker_registry.h"
#include "scheduler/policy/crash_triage.h"
#include "scheduler/policy/placement/placement_policy.h"
#include "scheduler/policy/retry_policy.h"
#include "scheduler/policy/run_state_machine.h"
#include "scheduler/policy/send_ahead.h"
#include "scheduler/store/store.h"
#include "sematic/codec.h"
#include "sematic/future.h"
#include "sematic/graph.h"
#include "sematic/payload.h"

namespace sematic::scheduler {
namespace {

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }

// A run that has not finished. Finished runs live only in the store.
struct LiveRun {
  static constexpr uint64_t kNoParent = UINT64_MAX;
  RunKey key;
  // Its record without the node, which is kept apart, and without the run's id, job id and
  // parent id: they follow from `key` and `parent_index` (three heap strings per run were
  // ~160 MiB of a million-run fan-out). Copies for clients get them from FillIdentity, and
  // store writes from WithIds.
  internal::StoredRun stored;
  // What it executes: shares the sub-graph it came in (a fan-out's nodes are not copied per run).
  std::shared_ptr<const v1::CallNode> node;
  // Its whole record is stored; later flushes write only a RunUpdate.
  bool recorded = false;
  // (consumer, argument index) pairs waiting for this run's output. One edge per argument, so
  // that an arrival is O(1) even for a gather of a million inputs.
  std::vector<std::pair<RunKey, int>> dependents;
  // A nested run's graph: ranges [begin, end) of run indexes in its job (one per registration;
  // recovery adds one per child).
  std::vector<std::pair<uint64_t, uint64_t>> children;
  // Per argument, once produced (rebuilt on recovery); empty when every argument is a literal.
  std::vector<std::string> input_digests;
  uint64_t parent_index = kNoParent;  // the nested run (of the same job) whose graph it is in
  int pending_inputs = 0;
  WorkerSessionId session = 0;  // while ASSIGNED/RUNNING
  bool sent_ahead = false;      // waiting on `session` for room (see WorkerSession::sent_ahead)
  std::shared_ptr<const RunDemand> demand;  // reserved on `session` (shared per function)
  bool queued = false;          // in the dispatch queue
  int64_t queued_at_micros = 0;  // when it last entered the queue (dispatch latency)
  // The worker losses it was aboard (crash_triage.h): whether it must run alone.
  LossHistory losses;
  bool placed_alone = false;  // holds `session` to itself (WorkerSession::alone_runs)
  // Changed in this loop turn: one event is published at the turn's end, and the record written
  // if `write_pending` (a run created, queued and assigned in one turn costs one write, not
  // three).
  bool dirty = false;
  bool write_pending = false;
};

struct LiveJob {
  internal::StoredJob stored;
  int64_t unfinished = 0;  // live runs
  int in_flight = 0;       // ASSIGNED/RUNNING, for max_parallelism
  v1::RunState root_state = v1::RUN_STATE_UNSPECIFIED;  // once the root run ended
  struct Watch {
    // Takes each turn's events together, shared by every watcher (never copied per watcher).
    std::function<bool(const JobEventBatch&)> batch;
    std::function<void(absl::Status)> done;
    bool job_only = false;  // WatchJobRequest.job_only
    // Cleared (on the loop thread) once `batch` returns false: the watch is dropped.
    std::shared_ptr<bool> wanted = std::make_shared<bool>(true);
  };
  std::vector<Watch> watches;
  int run_watches = 0;  // watches that want run events
  // This turn's events for the watchers, handed over together (DeliverEvents): one closure per
  // watcher and turn rather than one per event and watcher.
  std::vector<v1::JobEvent> unsent_events;
  std::deque<RunKey> parked;  // QUEUED runs waiting for a max_parallelism slot
};

// The QUEUED runs of one function, in arrival order, and why the first cannot be placed.
// Runs that had an attempt already (retries, runs requeued from a lost or draining worker) wait
// apart and go first: they became ready before every run queued behind them, have waited their
// backoff, and their job's downstream waits on them — at the back of a 100k-run queue a retry
// would wait for the whole fan-out.
struct DispatchQueue {
  std::string function;
  std::string version;
  std::deque<RunKey> retries;  // served first, in the order they were requeued
  std::deque<RunKey> runs;     // first attempts
  std::string reason;  // why none can be placed now ("" when none is known)
  // The function's signature among the live workers' and the demand it declares, as of
  // `generation` (SchedulerImpl::sessions_generation_): looked up once per change of workers,
  // not per run.
  uint64_t generation = 0;
  const v1::FunctionSignature* signature = nullptr;  // null: `missing` says why
  absl::Status missing;
  std::shared_ptr<const RunDemand> demand;
  StepDurations durations;  // of the function's runs that ended with a value or a graph
};

}  // namespace

class SchedulerImpl : public Scheduler {
 public:
  SchedulerImpl(SchedulerOptions options, std::unique_ptr<Store> store,
                std::unique_ptr<BlobStore> blobs, std::unique_ptr<PlacementPolicy> policy)
      : options_(std::move(options)),
        store_(std::move(store)),
        blobs_(std::move(blobs)),
        policy_(std::move(policy)),
        artifacts_(store_.get(), blobs_.get(), options_.artifacts),
        scheduler_id_(RandomHex64()),
        started_(absl::Now()),
        rng_(std::random_device{}()) {}

  ~SchedulerImpl() override {
    Shutdown();
    loop_.reset();  // runs what is still posted and commits the last turn
  }

  // Rebuilds the live state from the store and starts the loop.
  absl::Status Start() {
    RETURN_IF_ERROR(Recover());
    commits_ = std::make_unique<CommitPipeline>(
        store_.get(), [this](std::function<void()> release) { loop_->Post(std::move(release)); },
        &commit_latency_);
    // A turn ends early once its batch is large, so that a burst of results (one closure per
    // worker message) becomes several turns whose commits overlap the next turn's work.
    loop_ = std::make_unique<EventLoop>([this] { EndTurn(); },
                                        [this] {
      return batch_.ByteSize() + creations_.ByteSize() >= kTurnBatchBytes;
    });
    loop_->Post([this] {
      for (const RunKey& key : ready_after_recovery_) {
        auto it = runs_.find(key);
        if (it != runs_.end() && it->second.stored.run().state() == v1::CREATED) {
          InputsReady(it->second);
        }
      }
      ready_after_recovery_.clear();
      recovering_until_ = absl::Now() + options_.recovery_grace;
      loop_->RunAt(recovering_until_, [this] { EndRecovery(); });
      ScheduleHeartbeatCheck();
    });
    return absl::OkStatus();
  }

  // ---- Clients ------------------------------------------------------------------------------

  void SubmitJob(v1::SubmitJobRequest request, Callback<v1::SubmitJobResponse> done) override {
    loop_->Post([this, request = std::move(request), done = std::move(done)]() mutable {
      Reply(std::move(done), DoSubmit(request));
    });
  }

  // Reads run after the turn's commit, so they see every change posted before them.
  void GetJob(v1::GetJobRequest request, Callback<v1::Job> done) override {
    PostRead([this, request = std::move(request), done = std::move(done)]() mutable {
      Reply(std::move(done), LookupJob(request.job_id()));
    });
  }

  void ListJobs(v1::ListJobsRequest request, Callback<v1::ListJobsResponse> done) override {
    PostRead([this, request = std::move(request), done = std::move(done)]() mutable {
      Reply(std::move(done), DoListJobs(request));
    });
  }

  void CancelJob(v1::CancelJobRequest request, Callback<v1::CancelJobResponse> done) override {
    loop_->Post([this, request = std::move(request), done = std::move(done)]() mutable {
      absl::Status cancelled = DoCancelJob(request.job_id());
      if (!cancelled.ok()) {
        Reply(std::move(done), absl::StatusOr<v1::CancelJobResponse>(cancelled));
        return;
      }
      reads_.push_back([this, id = request.job_id(), done = std::move(done)]() mutable {
        absl::StatusOr<v1::Job> job = LookupJob(id);
        if (!job.ok()) {
          Reply(std::move(done), absl::StatusOr<v1::CancelJobResponse>(job.status()));
          return;
        }
        v1::CancelJobResponse response;
        *response.mutable_job() = *std::move(job);
        Reply(std::move(done), absl::StatusOr<v1::CancelJobResponse>(std::move(response)));
      });
    });
  }

  void GetRun(v1::GetRunRequest request, Callback<v1::Run> done) override {
    PostRead([this, request = std::move(request), done = std::move(done)]() mutable {
      Reply(std::move(done), LookupRun(request.run_id()));
    });
  }

  void ListRuns(v1::ListRunsRequest request, Callback<v1::ListRunsResponse> done) override {
    PostRead([this, request = std::move(request), done = std::move(done)]() mutable {
      Reply(std::move(done), DoListRuns(request));
    });
  }

  void ListRunGroups(v1::ListRunGroupsRequest request,
                     Callback<v1::ListRunGroupsResponse> done) override {
    PostRead([this, request = std::move(request), done = std::move(done)]() mutable {
      Reply(std::move(done), DoListRunGroups(request));
    });
  }

  void WatchJob(v1::WatchJobRequest request, std::function<bool(const v1::JobEvent&)> event,
                std::function<void(absl::Status)> done) override {
    WatchJobBatches(
        std::move(request),
        [event = std::move(event)](const JobEventBatch& batch) {
          for (const v1::JobEvent& e : *batch) {
            if (!event(e)) return false;
          }
          return true;
        },
        std::move(done));
  }

  void WatchJobBatches(v1::WatchJobRequest request,
                       std::function<bool(const JobEventBatch&)> event,
                       std::function<void(absl::Status)> done) override {
    PostRead([this, request = std::move(request), event = std::move(event),
              done = std::move(done)]() mutable {
      DoWatch(request, std::move(event), std::move(done));
    });
  }

  // ---- Run history and artifacts (run_reads.h, artifact_service.h) -------------------------

  void ReadRunLogs(v1::GetRunLogsRequest request, size_t max_lines,
                   Callback<RunLogPage> done) override {
    PostRead([this, request = std::move(request), max_lines, done = std::move(done)]() mutable {
      DoReadRunLogs(request, max_lines, std::move(done));
    });
  }

  void GetRunMetrics(v1::GetRunMetricsRequest request,
                     Callback<v1::GetRunMetricsResponse> done) override {
    PostRead([this, request = std::move(request), done = std::move(done)]() mutable {
      absl::StatusOr<RunKey> key = KnownRun(request.run_id());
      Reply(std::move(done), key.ok() ? ReadMetrics(*store_, *key, request.name())
                                      : absl::StatusOr<v1::GetRunMetricsResponse>(key.status()));
    });
  }

  void GetLineage(v1::GetLineageRequest request,
                  Callback<v1::GetLineageResponse> done) override {
    PostRead([this, request = std::move(request), done = std::move(done)]() mutable {
      Reply(std::move(done), BuildLineage(*store_, request));
    });
  }

  ArtifactService& artifacts() override { return artifacts_; }

  void ListWorkers(Callback<v1::ListWorkersResponse> done) override {
    loop_->Post([this, done = std::move(done)]() mutable {
      v1::ListWorkersResponse out;
      for (const auto& [id, s] : sessions_) {
        if (s.greeted) *out.add_workers() = InfoOf(s);
      }
      Reply(std::move(done), absl::StatusOr<v1::ListWorkersResponse>(std::move(out)));
    });
  }

  void ListFunctions(Callback<v1::ListFunctionsResponse> done) override {
    loop_->Post([this, done = std::move(done)]() mutable {
      v1::ListFunctionsResponse out;
      std::set<std::string> seen;
      for (const auto& [id, s] : sessions_) {
        if (!s.greeted) continue;
        for (const auto& f : s.hello.functions()) {
          if (seen.insert(FunctionKey(f.name(), f.version())).second) *out.add_functions() = f;
        }
      }
      Reply(std::move(done), absl::StatusOr<v1::ListFunctionsResponse>(std::move(out)));
    });
  }

  void GetInfo(Callback<v1::SchedulerInfo> done) override {
    loop_->Post([this, done = std::move(done)]() mutable {
      v1::SchedulerInfo info;
      info.set_scheduler_id(scheduler_id_);
      info.set_version("0.1.0");
      info.set_data_dir(options_.data_dir);
      info.set_sync_writes(options_.sync);
      info.set_started_unix_micros(Micros(started_));
      info.set_jobs(static_cast<int64_t>(jobs_.size()));
      info.set_runs(static_cast<int64_t>(runs_.size()));
      info.set_queued_runs(static_cast<int64_t>(queued_runs_));
      info.set_recovering(absl::Now() < recovering_until_);
      Reply(std::move(done), absl::StatusOr<v1::SchedulerInfo>(std::move(info)));
    });
  }

  void GetStats(Callback<SchedulerStats> done) override {
    loop_->Post([this, done = std::move(done)]() mutable {
      SchedulerStats stats;
      for (const auto& [key, run] : runs_) ++stats.live_runs_by_state[run.stored.run().state()];
      for (const auto& [id, job] : jobs_) ++stats.live_jobs_by_state[job.stored.job().state()];
      for (const auto& [key, queue] : queues_) {
        const int64_t waiting = static_cast<int64_t>(queue.runs.size() + queue.retries.size());
        if (waiting > 0) {
          stats.queued_by_function[absl::StrCat(queue.function, "@", queue.version)] += waiting;
        }
      }
      stats.dispatch_latency = dispatch_latency_.Read();
      stats.commit_latency = commit_latency_.Read();
      Reply(std::move(done), absl::StatusOr<SchedulerStats>(std::move(stats)));
    });
  }

  // ---- Workers ------------------------------------------------------------------------------

  WorkerSessionId ConnectWorker(std::unique_ptr<WorkerConnection> connection) override {
    const WorkerSessionId id = next_session_.fetch_add(1) + 1;
    // std::function needs copyable closures: hand the connection over as a raw pointer.
    WorkerConnection* raw = connection.release();
    loop_->Post([this, id, raw] {
      WorkerSession& s = sessions_[id];
      s.id = id;
      s.connection.reset(raw);
      s.connected = s.last_heard = absl::Now();
    });
    return id;
  }

  void OnWorkerMessage(WorkerSessionId id, v1::WorkerMessage message) override {
    loop_->Post([this, id, message = std::move(message)]() mutable {
      auto it = sessions_.find(id);
      if (it == sessions_.end()) return;
      WorkerSession& s = it->second;
      s.last_heard = absl::Now();
      absl::Status status = HandleWorkerMessage(s, message);
      if (!status.ok()) DropWorker(id, status);
    });
  }

  void OnWorkerGone(WorkerSessionId id, absl::Status why) override {
    loop_->Post([this, id, why = std::move(why)] { DropWorker(id, why); });
  }

  // Idempotent. The loop keeps running afterwards (until destruction), so that gRPC reactors
  // still finishing may call in safely; new jobs are refused with UNAVAILABLE.
  void Shutdown() override {
    if (loop_ == nullptr || shut_down_.exchange(true)) return;
    loop_->RunSync([this] {
      shutting_down_ = true;
      v1::SchedulerMessage drain;
      drain.mutable_drain()->set_reason("the scheduler is shutting down");
      for (auto& [id, s] : sessions_) Send(s, drain);
    });
    loop_->RunSync([] {});  // the drain turn is committed and its messages sent
    (void)store_->Flush();
  }


 private:
  // ---- Turn bookkeeping ---------------------------------------------------------------------

  // Runs `read` on the loop after the current turn's commit.
  void PostRead(std::function<void()> read) {
    loop_->Post([this, read = std::move(read)]() mutable { reads_.push_back(std::move(read)); });
  }

  template <typename T>
  void Reply(Callback<T> done, absl::StatusOr<T> result) {
    outbox_.push_back([done = std::move(done), result = std::move(result)]() mutable {
      done(std::move(result));
    });
  }

  void Send(WorkerSession& s, v1::SchedulerMessage message) {
    const WorkerSessionId id = s.id;
    outbox_.push_back([this, id, message = std::move(message)]() mutable {
      auto it = sessions_.find(id);
      if (it != sessions_.end() && it->second.connection) {
        it->second.connection->Send(std::move(message));
      }
    });
  }

  // Turn end: place what can be placed and write the turn's changes as one batch; its replies
  // and worker messages are released once the batch is committed.
  //
  // While more work is queued, or earlier batches are still being written, the batch goes to the
  // commit pipeline and the loop moves on: a burst of results is split into turns (see
  // kTurnBatchBytes) whose RocksDB writes overlap the next turn's scheduling on the other core.
  // Otherwise — and always when the turn has reads, which must see everything written so far, or
  // while shutting down — it commits here: an idle loop gains nothing from the hand-off, and a
  // lone reply (a chain's next step) would only wait for another thread.
  void EndTurn() {
    HandleBugs();
    Dispatch();
    HandleBugs();
    SendAcks();
    FlushChanges();
    for (uint64_t job_id : std::exchange(jobs_with_unsent_events_, {})) {
      auto job = jobs_.find(job_id);
      if (job != jobs_.end()) DeliverEvents(job->second);
    }
    // Creation records precede the rest of the turn's writes (see CreationBatch).
    Store::Batch batch = std::exchange(creations_, Store::Batch());
    batch.Append(std::exchange(batch_, Store::Batch()));
    std::vector<std::string> written = std::exchange(unreleased_this_turn_, {});
    if (reads_.empty() && !shutting_down_ &&
        (loop_->HasQueuedClosures() || !commits_->idle())) {
      commits_->Submit(std::move(batch), [this, written = std::move(written),
                                          outbox = std::exchange(outbox_, {})]() mutable {
        ForgetUnreleased(written);
        for (auto& send : outbox) send();
      });
      return;
    }
    commits_->Drain();
    if (!batch.empty()) {
      const absl::Time start = absl::Now();
      absl::Status status = store_->Commit(std::move(batch));
      commit_latency_.Record(absl::Now() - start);
      if (!status.ok()) {
        // The store refused: what this turn promised is not durable. Fail loudly rather than
        // acknowledge it; the process restarts from the last committed state.
        std::fprintf(stderr, "sematic-scheduler: store commit failed: %s\n",
                     status.ToString().c_str());
        std::abort();
      }
    }
    ForgetUnreleased(written);
    if (value_cache_full_) {  // everything is committed: the store answers for every value
      values_.clear();
      cached_bytes_ = 0;
      value_cache_full_ = false;
    }
    std::vector<std::function<void()>> reads;
    reads.swap(reads_);
    for (auto& read : reads) read();
    std::vector<std::function<void()>> outbox;
    outbox.swap(outbox_);
    for (auto& send : outbox) send();
  }

  // The turn that wrote these values is committed: the store answers for them from now on.
  void ForgetUnreleased(const std::vector<std::string>& digests) {
    for (const std::string& digest : digests) uncommitted_values_.erase(digest);
  }

  // Makes the store hold everything the loop has written (for a read on the loop that cannot
  // wait for the turn's end). Releases the replies of the turns committed meanwhile.
  void SettleStore() { commits_->Drain(); }

  // ---- Run history --------------------------------------------------------------------------

  // The key of a run that exists (live, or in the store); NOT_FOUND otherwise.
  absl::StatusOr<RunKey> KnownRun(std::string_view run_id) {
    ASSIGN_OR_RETURN(RunKey key, ParseRunId(run_id));
    if (runs_.contains(key)) return key;
    absl::Status stored = store_->GetRun(key).status();
    if (stored.ok()) stored = CheckRegistered(key);
    if (absl::IsNotFound(stored)) {
      return absl::NotFoundError(absl::StrCat("no run ", AsAbsl(run_id)));
    }
    RETURN_IF_ERROR(stored);
    return key;
  }

  // The next run index of job `job_id`: runs at or past it are not registered (see
  // CreationBatch). NOT_FOUND for an unknown job.
  absl::StatusOr<uint64_t> NextRunIndex(uint64_t job_id) {
    auto job = jobs_.find(job_id);
    if (job != jobs_.end()) return job->second.stored.next_run_index();
    ASSIGN_OR_RETURN(internal::StoredJob stored, store_->GetJob(job_id));
    return stored.next_run_index();
  }

  // OK for a stored run of a committed registration; NOT_FOUND for the record of one that a
  // crash cut short.
  absl::Status CheckRegistered(RunKey key) {
    ASSIGN_OR_RETURN(uint64_t next, NextRunIndex(key.job));
    if (key.index >= next) return absl::NotFoundError(absl::StrCat("no run ", FormatRunId(key)));
    return absl::OkStatus();
  }

  // Runs after a commit, so the page holds every line committed so far. A follower with nothing
  // to read waits in log_waiters_ until OnLogs commits a line for the run or the run ends.
  void DoReadRunLogs(const v1::GetRunLogsRequest& request, size_t max_lines,
                     Callback<RunLogPage> done) {
    absl::StatusOr<RunKey> key = KnownRun(request.run_id());
    if (!key.ok()) {
      Reply(std::move(done), absl::StatusOr<RunLogPage>(key.status()));
      return;
    }
    absl::StatusOr<v1::LogLines> lines =
        ReadLogPage(*store_, *key, request.from_index(), max_lines);
    if (!lines.ok()) {
      Reply(std::move(done), absl::StatusOr<RunLogPage>(lines.status()));
      return;
    }
    const bool live = runs_.contains(*key);
    if (lines->entries().empty() && live && request.follow()) {
      log_waiters_[*key].push_back([this, request, max_lines, done]() mutable {
        DoReadRunLogs(request, max_lines, std::move(done));
      });
      return;
    }
    RunLogPage page;
    page.lines = *std::move(lines);
    page.lines.set_run_ended(!live);
    Reply(std::move(done), absl::StatusOr<RunLogPage>(std::move(page)));
  }

  // The index of `key`'s next log line. The first use per run (and so the first after a
  // restart) continues after the lines already stored: a recovered run's log is appended to,
  // not overwritten from line 0.
  uint64_t& NextLogIndex(RunKey key) {
    auto [it, inserted] = next_log_index_.try_emplace(key, 0);
    if (inserted) {
      absl::Status scanned = store_->ScanLogs(key, 0, [&](uint64_t line, const v1::LogEntry&) {
        it->second = line + 1;
        return true;
      });
      if (!scanned.ok()) {
        std::fprintf(stderr, "sematic-scheduler: reading the log of %s: %s\n",
                     FormatRunId(key).c_str(), scanned.ToString().c_str());
      }
    }
    return it->second;
  }

  // Lines of `key` were appended, or it ended: its followers read again after the commit.
  void WakeLogWaiters(RunKey key) {
    auto it = log_waiters_.find(key);
    if (it == log_waiters_.end()) return;
    for (auto& read : it->second) reads_.push_back(std::move(read));
    log_waiters_.erase(it);
  }

  // A run reported an uploaded artifact as its output: it must be of the run's output type.
  // Records the run as its producer. INVALID_ARGUMENT naming both types on a mismatch.
  absl::Status AcceptOutputArtifact(const LiveRun& run, const std::string& digest) {
    absl::StatusOr<v1::ArtifactMeta> meta = store_->GetArtifact(digest);
    if (absl::IsNotFound(meta.status())) {
      SettleStore();  // written by a turn still in the commit pipeline
      meta = store_->GetArtifact(digest);
    }
    if (!meta.ok()) {
      // Never accepted unchecked: a value of this turn is in memory (values_) with no type.
      return absl::InvalidArgumentError(absl::StrCat(
          "results.artifact_digest: the type of artifact ", digest,
          " is not known yet (upload it and wait for the upload's reply): ",
          meta.status().message()));
    }
    const v1::TypeDesc& expected = run.node->output_type();
    if (!SameType(meta->type(), expected)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "results.artifact_digest: artifact ", digest, " is ", TypeName(meta->type()), ", but ",
          run.node->function(), " returns ", TypeName(expected)));
    }
    if (meta->producer_run_id().empty()) {
      meta->set_producer_run_id(FormatRunId(run.key));
      batch_.PutArtifact(*meta);
    }
    return absl::OkStatus();
  }

  // ---- Jobs ---------------------------------------------------------------------------------

  const v1::FunctionSignature* FindSignature(std::string_view name, std::string_view version,
                                             absl::Status* why) {
    const v1::FunctionSignature* found = nullptr;
    std::set<std::string> versions;
    for (const auto& [id, s] : sessions_) {
      if (!s.greeted) continue;
      for (const auto& f : s.hello.functions()) {
        if (f.name() != name) continue;
        versions.insert(f.version());
        if (version.empty() || f.version() == version) found = &f;
      }
    }
    if (found == nullptr) {
      *why = absl::NotFoundError(absl::StrCat(
          "no live worker offers ", AsAbsl(name), version.empty() ? "" : "@", AsAbsl(version)));
    } else if (version.empty() && versions.size() > 1) {
      *why = absl::InvalidArgumentError(absl::StrCat("version: ", AsAbsl(name),
                                                     " is offered at several versions; name one"));
      found = nullptr;
    }
    return found;
  }

  absl::StatusOr<v1::SubmitJobResponse> DoSubmit(const v1::SubmitJobRequest& request) {
    if (shutting_down_) return absl::UnavailableError("the scheduler is shutting down");
    RETURN_IF_ERROR(CheckSubmitShape(request, options_.limits));
    if (!request.idempotency_key().empty()) {
      SettleStore();  // the job may have ended in a turn still being written
      absl::StatusOr<uint64_t> existing = store_->GetIdempotency(request.idempotency_key());
      auto pending = pending_idempotency_.find(request.idempotency_key());
      if (existing.ok() || pending != pending_idempotency_.end()) {
        const uint64_t job = existing.ok() ? *existing : pending->second;
        ASSIGN_OR_RETURN(internal::StoredJob found, LookupStoredJob(job));
        if (!found.request_digest().empty() &&
            found.request_digest() != SubmitRequestDigest(request)) {
          return absl::AlreadyExistsError(absl::StrCat(
              "idempotency_key: \"", AsAbsl(request.idempotency_key()), "\" was used by job ",
              found.job().id(), " for a different request (function, arguments or options "
              "differ); use a new key"));
        }
        v1::SubmitJobResponse out;
        *out.mutable_job() = std::move(*found.mutable_job());
        out.set_deduplicated(true);
        return out;
      }
    }
    absl::Status why;
    const v1::FunctionSignature* signature =
        FindSignature(request.function(), request.version(), &why);
    if (signature == nullptr) return why;
    ASSIGN_OR_RETURN(v1::CallNode root,
                     RootCall(request, *signature, options_.limits,
                              [this](std::string_view d) -> absl::StatusOr<v1::TypeDesc> {
                                ASSIGN_OR_RETURN(v1::ArtifactMeta meta, store_->GetArtifact(d));
                                return std::move(*meta.mutable_type());
                              },
                              StoredPayloads()));

    const uint64_t job_id = ++last_job_id_;
    LiveJob& job = jobs_[job_id];
    v1::Job& j = *job.stored.mutable_job();
    j.set_id(FormatJobId(job_id));
    j.set_function(signature->name());
    j.set_version(signature->version());
    j.set_state(v1::JOB_PENDING);
    *j.mutable_options() = request.options();
    j.set_created_unix_micros(Micros(absl::Now()));
    j.set_idempotency_key(request.idempotency_key());
    if (!request.idempotency_key().empty()) {
      job.stored.set_request_digest(SubmitRequestDigest(request));
      batch_.PutIdempotency(request.idempotency_key(), job_id);
      pending_idempotency_[request.idempotency_key()] = job_id;
    }
    auto graph = std::make_shared<v1::Graph>();
    *graph->add_nodes() = std::move(root);
    graph->set_output_node("root");
    ASSIGN_OR_RETURN(const RunKey root_run, AddGraph(job_id, std::move(graph), nullptr));
    j.set_root_run_id(FormatRunId(root_run));
    j.set_state(v1::JOB_RUNNING);
    PersistJob(job_id);
    Emit(job_id, j);
    v1::SubmitJobResponse out;
    *out.mutable_job() = j;
    return out;
  }

  absl::StatusOr<internal::StoredJob> LookupStoredJob(uint64_t job_id) {
    auto it = jobs_.find(job_id);
    if (it != jobs_.end()) return it->second.stored;
    return store_->GetJob(job_id);
  }

  absl::StatusOr<v1::Job> LookupJob(std::string_view id) {
    ASSIGN_OR_RETURN(uint64_t job_id, ParseJobId(id));
    auto it = jobs_.find(job_id);
    if (it != jobs_.end()) return it->second.stored.job();
    ASSIGN_OR_RETURN(internal::StoredJob stored, store_->GetJob(job_id));
    return stored.job();
  }

  absl::StatusOr<v1::ListJobsResponse> DoListJobs(const v1::ListJobsRequest& request) {
    if (request.page_size() < 0 || request.page_size() > 1000) {
      return absl::InvalidArgumentError("page_size: expected 0 to 1000");
    }
    const int limit = request.page_size() == 0 ? 50 : request.page_size();
    uint64_t before = UINT64_MAX;
    if (!request.page_token().empty()) {
      ASSIGN_OR_RETURN(before, ParseJobsPageToken(request.page_token()));
    }
    RETURN_IF_ERROR(CheckJobStates(request.states()));
    v1::ListJobsResponse out;
    std::set<int> states(request.states().begin(), request.states().end());
    uint64_t last = 0;
    RETURN_IF_ERROR(store_->ScanJobs(before, [&](const internal::StoredJob& stored) {
      const v1::Job& j = stored.job();
      absl::StatusOr<uint64_t> parsed = ParseJobId(j.id());
      if (!parsed.ok()) return true;
      const uint64_t id = *parsed;
      last = id;
      const v1::Job& current = jobs_.contains(id) ? jobs_[id].stored.job() : j;
      if (!states.empty() && !states.contains(current.state())) return true;
      if (!request.function().empty() && current.function() != request.function()) return true;
      if (!request.tag().empty() &&
          std::find(current.options().tags().begin(), current.options().tags().end(),
                    request.tag()) == current.options().tags().end()) {
        return true;
      }
      if (request.created_after_unix_micros() != 0 &&
          current.created_unix_micros() <= request.created_after_unix_micros()) {
        return true;
      }
      if (request.created_before_unix_micros() != 0 &&
          current.created_unix_micros() >= request.created_before_unix_micros()) {
        return true;
      }
      *out.add_jobs() = current;
      return out.jobs_size() < limit;
    }));
    if (out.jobs_size() == limit && last > 1) out.set_next_page_token(FormatJobId(last));
    return out;
  }

  absl::Status DoCancelJob(std::string_view id) {
    ASSIGN_OR_RETURN(uint64_t job_id, ParseJobId(id));
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) {
      SettleStore();  // it may have ended in a turn still being written
      ASSIGN_OR_RETURN(internal::StoredJob stored, store_->GetJob(job_id));
      return absl::FailedPreconditionError(absl::StrCat(
          "job ", AsAbsl(id), " already ended ", v1::JobState_Name(stored.job().state())));
    }
    std::vector<RunKey> live;
    for (const auto& [key, run] : runs_) {
      if (key.job == job_id) live.push_back(key);
    }
    for (const RunKey& key : live) {
      CancelRun(key, "the job was cancelled");
    }
    return absl::OkStatus();
  }

  // ---- Runs ---------------------------------------------------------------------------------

  absl::StatusOr<v1::Run> LookupRun(std::string_view id) {
    ASSIGN_OR_RETURN(RunKey key, ParseRunId(id));
    auto it = runs_.find(key);
    // A live run's record is written in the turn that creates it, so its inputs are in the store
    // (its copy in memory drops the producers' ids once written).
    ASSIGN_OR_RETURN(internal::StoredRun stored, store_->GetRun(key));
    if (it == runs_.end()) RETURN_IF_ERROR(CheckRegistered(key));
    v1::Run run = it != runs_.end() ? Presented(it->second) : stored.run();
    ASSIGN_OR_RETURN(
        *run.mutable_inputs(),
        ReadRunInputs(*store_, stored,
                      it != runs_.end() ? it->second.input_digests : std::vector<std::string>{}));
    return run;
  }

  // A live run as clients see it: a QUEUED run says why no worker takes it.
  v1::Run Presented(const LiveRun& live) {
    v1::Run run = live.stored.run();
    FillIdentity(live, &run);
    if (run.state() == v1::QUEUED && live.losses.run_alone) {
      run.set_queued_reason("waiting for a worker with no other runs: it was on a lost worker");
    } else if (run.state() == v1::QUEUED) {
      auto queue = queues_.find(QueueKey(*live.node));
      if (queue != queues_.end()) run.set_queued_reason(queue->second.reason);
    }
    return run;
  }

  // A live run keeps what its node says (function, version, node id, label) only in the node,
  // and its ids only in its key; copies of it for clients and events get them here.
  static void FillIdentity(const LiveRun& live, v1::Run* run) {
    FillIds(live, run);
    const v1::CallNode& node = *live.node;
    run->set_function(node.function());
    run->set_version(node.version());
    run->set_node_id(node.id());
    run->set_label(node.created_at());
  }

  static void FillIds(const LiveRun& live, v1::Run* run) {
    run->set_id(FormatRunId(live.key));
    run->set_job_id(FormatJobId(live.key.job));
    if (live.parent_index != LiveRun::kNoParent) {
      run->set_parent_id(FormatRunId(RunKey{live.key.job, live.parent_index}));
    }
  }

  // Drops the ids FillIds set, freeing their strings (clear_* would keep them allocated).
  static void DropIds(v1::Run* run) {
    run->set_allocated_id(nullptr);
    run->set_allocated_job_id(nullptr);
    run->set_allocated_parent_id(nullptr);
  }

  // Frees a record's producer ids (Clear would keep the strings allocated): only the store
  // needs them once the record is written.
  static void FreeInputRunIds(internal::StoredRun& stored) {
    google::protobuf::RepeatedPtrField<std::string>().Swap(stored.mutable_input_run_ids());
  }

  static bool AllLiterals(const v1::CallNode& node) {
    return std::all_of(node.args().begin(), node.args().end(), [](const v1::Arg& arg) {
      return arg.source_case() == v1::Arg::kLiteral;
    });
  }

  absl::StatusOr<v1::ListRunsResponse> DoListRuns(const v1::ListRunsRequest& request) {
    if (request.job_id().empty()) return absl::InvalidArgumentError("job_id: required");
    ASSIGN_OR_RETURN(uint64_t job_id, ParseJobId(request.job_id()));
    ASSIGN_OR_RETURN(const uint64_t end, NextRunIndex(job_id));
    if (request.page_size() < 0 || request.page_size() > 1000) {
      return absl::InvalidArgumentError("page_size: expected 0 to 1000");
    }
    const int limit = request.page_size() == 0 ? 100 : request.page_size();
    uint64_t after = 0;
    if (!request.page_token().empty()) {
      ASSIGN_OR_RETURN(const uint64_t last_listed,
                       ParseRunsPageToken(request.page_token(), job_id));
      after = last_listed + 1;
    }
    RETURN_IF_ERROR(CheckRunStates(request.states()));
    std::set<int> states(request.states().begin(), request.states().end());
    v1::ListRunsResponse out;
    uint64_t last = 0;
    RETURN_IF_ERROR(store_->ScanRuns(job_id, after, [&](const internal::StoredRun& stored) {
      const uint64_t index = ParseRunId(stored.run().id())->index;
      if (index >= end) return false;  // a registration cut short (see CreationBatch)
      last = index;
      auto live = runs_.find(RunKey{job_id, last});
      const v1::Run& run = live != runs_.end() ? live->second.stored.run() : stored.run();
      if (!states.empty() && !states.contains(run.state())) return true;
      // A live run's copy has no ids (LiveRun::stored); the record's parent is the same.
      if (!request.parent_id().empty() && stored.run().parent_id() != request.parent_id()) {
        return true;
      }
      if (!request.function().empty() && stored.node().function() != request.function()) {
        return true;
      }
      *out.add_runs() = live != runs_.end() ? Presented(live->second) : run;
      return out.runs_size() < limit;
    }));
    if (out.runs_size() == limit) out.set_next_page_token(FormatRunId(RunKey{job_id, last}));
    return out;
  }

  absl::StatusOr<v1::ListRunGroupsResponse> DoListRunGroups(
      const v1::ListRunGroupsRequest& request) {
    if (request.job_id().empty()) return absl::InvalidArgumentError("job_id: required");
    ASSIGN_OR_RETURN(uint64_t job_id, ParseJobId(request.job_id()));
    ASSIGN_OR_RETURN(const uint64_t end, NextRunIndex(job_id));
    // The answer is a scan of the job's records (~120 ms for 100k runs): every dashboard open on
    // a running job re-reads it, so a live job's is reused for ten times what it cost (at least
    // a second), and an ended job's, which cannot change, until evicted.
    const absl::Time now = absl::Now();
    const bool live = jobs_.contains(job_id);
    if (auto cached = run_groups_cache_.find(job_id); cached != run_groups_cache_.end() &&
        (cached->second.ended || (live && now < cached->second.fresh_until))) {
      return cached->second.groups;
    }
    ASSIGN_OR_RETURN(v1::ListRunGroupsResponse out, ScanRunGroups(job_id, end));
    if (run_groups_cache_.size() >= kRunGroupsCached) run_groups_cache_.clear();
    run_groups_cache_[job_id] = {.groups = out,
                                 .ended = !live,
                                 .fresh_until = now + std::max(absl::Seconds(1),
                                                               10 * (absl::Now() - now))};
    return out;
  }

  absl::StatusOr<v1::ListRunGroupsResponse> ScanRunGroups(uint64_t job_id, uint64_t end) {
    v1::ListRunGroupsResponse out;
    absl::flat_hash_map<std::pair<std::string, std::string>, int> group_of;
    RETURN_IF_ERROR(store_->ScanRuns(job_id, 0, [&](const internal::StoredRun& stored) {
      const uint64_t index = ParseRunId(stored.run().id())->index;
      if (index >= end) return false;  // a registration cut short (see CreationBatch)
      auto live = runs_.find(RunKey{job_id, index});
      const v1::Run& run = live != runs_.end() ? live->second.stored.run() : stored.run();
      auto [slot, added] = group_of.try_emplace(
          std::pair{stored.run().parent_id(), stored.node().function()}, out.groups_size());
      v1::RunGroup* group;
      if (added) {
        group = out.add_groups();
        group->set_parent_id(stored.run().parent_id());
        group->set_function(stored.node().function());
        group->set_first_run_id(stored.run().id());
        group->set_first_created_unix_micros(run.created_unix_micros());
        group->set_builtin(stored.run().builtin());
        group->mutable_runs_by_state()->Resize(v1::RunState_ARRAYSIZE, 0);
      } else {
        group = out.mutable_groups(slot->second);
      }
      group->set_count(group->count() + 1);
      group->set_nested(group->nested() || run.nested());
      group->set_runs_by_state(run.state(), group->runs_by_state(run.state()) + 1);
      if (run.started_unix_micros() > 0 && (group->first_started_unix_micros() == 0 ||
                                            run.started_unix_micros() <
                                                group->first_started_unix_micros())) {
        group->set_first_started_unix_micros(run.started_unix_micros());
      }
      group->set_last_ended_unix_micros(
          std::max(group->last_ended_unix_micros(), run.ended_unix_micros()));
      return true;
    }, /*bulk=*/true));
    return out;
  }

  void DoWatch(const v1::WatchJobRequest& request,
               std::function<bool(const JobEventBatch&)> event,
               std::function<void(absl::Status)> done) {
    absl::StatusOr<uint64_t> job_id = ParseJobId(request.job_id());
    if (!job_id.ok()) {
      outbox_.push_back([done, s = job_id.status()] { done(s); });
      return;
    }
    auto live = jobs_.find(*job_id);
    if (live == jobs_.end() && !store_->GetJob(*job_id).ok()) {
      outbox_.push_back([done, id = request.job_id()] {
        done(absl::NotFoundError(absl::StrCat("no job ", id)));
      });
      return;
    }
    // Past events from the store (committed ones), then live ones as they happen.
    auto past = std::make_shared<std::vector<v1::JobEvent>>();
    absl::Status scan = store_->ScanEvents(*job_id, request.after_sequence(),
                                           [&](const v1::JobEvent& e) {
                                             if (!request.job_only() || e.has_job()) {
                                               past->push_back(e);
                                             }
                                             return true;
                                           });
    const bool ended = live == jobs_.end();
    std::shared_ptr<bool> wanted;
    if (!ended) {
      live->second.watches.push_back({event, done, request.job_only()});
      wanted = live->second.watches.back().wanted;
      if (!request.job_only()) ++live->second.run_watches;
    }
    outbox_.push_back([past = JobEventBatch(std::move(past)), event, done, ended, scan, wanted]() {
      if (!past->empty() && !event(past) && wanted != nullptr) *wanted = false;
      if (ended || !scan.ok()) done(scan);
    });
  }

  // Adds the runs of `graph` to job `job_id` under `parent` (nullptr: the job's root graph).
  // Returns the first run's key (node i becomes run first + i). The graph must already be
  // validated.
  // `submitted` is rewritten (SplitLargeGathers) and then shared, read-only, by the new runs.
  absl::StatusOr<RunKey> AddGraph(uint64_t job_id,
                                               std::shared_ptr<v1::Graph> submitted,
                                               LiveRun* parent) {
    SplitLargeGathers(submitted.get(), kMaxGatherInputs);
    const std::shared_ptr<const v1::Graph> shared = std::move(submitted);
    const v1::Graph& graph = *shared;
    LiveJob& job = jobs_.at(job_id);
    const uint64_t first = job.stored.next_run_index();
    if (first + graph.nodes_size() > options_.limits.max_runs_per_job) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the job would have more than ", options_.limits.max_runs_per_job, " runs"));
    }
    job.stored.set_next_run_index(first + graph.nodes_size());
    // Node id -> its run's index - first (node i is run first + i).
    absl::flat_hash_map<std::string_view, uint32_t> by_node;
    by_node.reserve(graph.nodes_size());
    auto run_of = [&](std::string_view node_id) {
      return RunKey{job_id, first + by_node.at(node_id)};
    };
    const int64_t now = Micros(absl::Now());
    for (int i = 0; i < graph.nodes_size(); ++i) {
      const v1::CallNode& node = graph.nodes(i);
      const RunKey key{job_id, first + static_cast<uint64_t>(i)};
      LiveRun& run = runs_[key];
      run.key = key;
      v1::Run& r = *run.stored.mutable_run();
      if (parent != nullptr) run.parent_index = parent->key.index;
      // Ids, function, version, node_id and label are not kept per run (see FillIdentity).
      r.set_builtin(node.function().starts_with("sematic."));
      r.set_state(v1::CREATED);
      CountRunState(job_id, v1::RUN_STATE_UNSPECIFIED, v1::CREATED);
      r.set_created_unix_micros(now);
      run.node = std::shared_ptr<const v1::CallNode>(shared, &node);
      if (!AllLiterals(node)) run.input_digests.resize(node.args_size());
      // Producers by position (none for literals and artifacts), only when there are any: most
      // fan-out calls take literals alone.
      const bool from_nodes =
          std::any_of(node.args().begin(), node.args().end(),
                      [](const v1::Arg& arg) { return arg.source_case() == v1::Arg::kNode; });
      std::vector<RunKey> producers;
      if (from_nodes) producers.resize(node.args_size(), kNoProducer);
      for (int a = 0; a < node.args_size(); ++a) {
        const v1::Arg& arg = node.args(a);
        if (arg.source_case() == v1::Arg::kNode) {
          const RunKey producer = run_of(arg.node());
          producers[a] = producer;
          runs_.at(producer).dependents.emplace_back(key, a);
          CreationBatch().PutDep(producer, key);
          ++run.pending_inputs;
        } else if (arg.source_case() == v1::Arg::kArtifact) {
          run.input_digests[a] = arg.artifact().digest();
        }
      }
      if (from_nodes) unrecorded_producers_.emplace(key, std::move(producers));
      by_node.emplace(node.id(), static_cast<uint32_t>(i));
      ++job.unfinished;
    }
    if (parent != nullptr) {
      parent->children.emplace_back(first, first + graph.nodes_size());
      const RunKey output = run_of(graph.output_node());
      parent->stored.set_output_child_run_id(FormatRunId(output));
      output_parent_[output] = parent->key;
      PersistRun(*parent);
    }
    by_node = {};
    for (int i = 0; i < graph.nodes_size(); ++i) {
      // A run that failed may have cancelled later ones already.
      auto it = runs_.find(RunKey{job_id, first + static_cast<uint64_t>(i)});
      if (it == runs_.end()) continue;
      PersistRun(it->second);
      // A run whose inputs were all produced while this loop ran (the consumer of a gather of
      // nothing, or of a literal, evaluated on the spot) was readied then: once is enough.
      if (it->second.pending_inputs == 0 && it->second.stored.run().state() == v1::CREATED) {
        InputsReady(it->second);
      }
    }
    return RunKey{job_id, first};
  }

  // Keeps Job.runs_by_state (indexed by RunState) in step with a run moving `from` -> `to`
  // (UNSPECIFIED: a new run). The job record is written at the turn's end if `persist`.
  void CountRunState(uint64_t job_id, v1::RunState from, v1::RunState to, bool persist = true) {
    auto job = jobs_.find(job_id);
    if (job == jobs_.end()) return;
    auto* counts = job->second.stored.mutable_job()->mutable_runs_by_state();
    while (counts->size() <= v1::RunState_MAX) counts->Add(0);
    // `from` may be outside the enum only in a corrupt record (see FailJobOnBug).
    if (from > v1::RUN_STATE_UNSPECIFIED && from <= v1::RunState_MAX && counts->Get(from) > 0) {
      counts->Set(from, counts->Get(from) - 1);
    }
    counts->Set(to, counts->Get(to) + 1);
    if (persist) PersistJob(job_id);
  }

  // Marks a run changed; FlushChanges writes it (and publishes its event) once per turn.
  void PersistRun(LiveRun& run) {
    run.write_pending = true;
    MarkChanged(run);
  }
  // Marks a run changed for watchers only: its event is published, nothing is written.
  void MarkChanged(LiveRun& run) {
    if (run.dirty) return;
    run.dirty = true;
    dirty_runs_.push_back(run.key);
  }
  void PersistJob(uint64_t job_id) { dirty_jobs_.insert(job_id); }

  // Where this turn's new runs' creation records (and dependency edges) go. They are committed
  // before the turn's other writes, and when they outgrow registration_chunk_bytes (a sub-graph
  // of a million runs is hundreds of MiB of records) in several commits, so that neither this
  // batch nor RocksDB's copy and memtables of it hold the whole registration at once.
  // Atomicity is kept by the job record: the new runs' indexes are >= the stored job's
  // next_run_index until the turn's last batch (which holds the job record, the parent's
  // WAITING and everything that acknowledges the registration) is committed, and recovery and
  // reads ignore runs at or past it (RegisteredRun), so a crash between the commits never shows
  // half a sub-graph. Their indexes are reused by the next registration, overwriting them.
  Store::Batch& CreationBatch() {
    if (creations_.ByteSize() >= options_.registration_chunk_bytes) {
      // At most one earlier chunk waits: the loop does not run far ahead of the store.
      commits_->WaitForBacklogAtMost(1);
      commits_->Submit(std::exchange(creations_, Store::Batch()), nullptr);
    }
    return creations_;
  }

  // Writes a changed run now and publishes its state (before it leaves memory).
  void FlushRun(LiveRun& run) {
    if (!run.dirty) return;
    run.dirty = false;
    if (run.write_pending) {
      run.write_pending = false;
      // The store keys (and a creation record holds) the run's ids: lent for the write.
      if (run.recorded) {
        run.stored.mutable_run()->set_id(FormatRunId(run.key));  // an update needs only its key
        batch_.PutRunUpdate(run.stored);
      } else {
        FillIds(run, run.stored.mutable_run());
        // Its producers' ids, written once: recovery rebuilds its inputs from them.
        auto producers = unrecorded_producers_.find(run.key);
        if (producers != unrecorded_producers_.end()) {
          for (const RunKey& producer : producers->second) {
            run.stored.add_input_run_ids(producer == kNoProducer ? "" : FormatRunId(producer));
          }
          unrecorded_producers_.erase(producers);
        }
        CreationBatch().PutRun(run.stored, *run.node);
        run.recorded = true;
        FreeInputRunIds(run.stored);
      }
      DropIds(run.stored.mutable_run());
    }
    if (jobs_.contains(run.key.job)) Emit(run.key.job, run);
  }

  // The turn's end: one record and one event per changed run, one record per changed job.
  void FlushChanges() {
    std::vector<RunKey> runs;
    runs.swap(dirty_runs_);
    for (const RunKey& key : runs) {
      auto it = runs_.find(key);
      if (it != runs_.end()) FlushRun(it->second);
    }
    for (uint64_t job_id : dirty_jobs_) {
      auto it = jobs_.find(job_id);
      if (it != jobs_.end()) batch_.PutJob(it->second.stored);
    }
    dirty_jobs_.clear();
  }

  // Publishes a job event. Job changes and runs reaching a final state are stored with the next
  // sequence number (a watcher resumes from them); a run's progress through QUEUED, ASSIGNED,
  // RUNNING... goes only to the watchers connected now, with sequence 0. That spares a stored
  // record (and the copy) per intermediate transition: a resumed watcher reads current states
  // with ListRuns, and every outcome is in the stored events.
  template <typename T>
  void Emit(uint64_t job_id, const T& what) {
    LiveJob& job = jobs_.at(job_id);
    bool stored = true;
    if constexpr (std::is_same_v<T, LiveRun>) stored = IsTerminal(what.stored.run().state());
    const bool watched = std::is_same_v<T, LiveRun> ? job.run_watches > 0 : !job.watches.empty();
    if (!stored && !watched) return;
    v1::JobEvent event;
    if (stored) {
      event.set_sequence(job.stored.next_event_sequence() + 1);
      job.stored.set_next_event_sequence(event.sequence());
      PersistJob(job_id);
    }
    event.set_job_id(job.stored.job().id());
    if constexpr (std::is_same_v<T, LiveRun>) {
      v1::Run* run = event.mutable_run();
      *run = what.stored.run();
      FillIdentity(what, run);
      run->clear_logs();
      run->clear_metrics();
    } else {
      *event.mutable_job() = what;
    }
    if (stored) batch_.PutEvent(job_id, event);
    if (!watched) return;
    if (job.unsent_events.empty()) jobs_with_unsent_events_.push_back(job_id);
    job.unsent_events.push_back(std::move(event));
  }

  // Hands the job's events of this turn to its watchers (released with the turn's commit).
  void DeliverEvents(LiveJob& job) {
    if (job.unsent_events.empty()) return;
    const JobEventBatch events =
        std::make_shared<const std::vector<v1::JobEvent>>(std::move(job.unsent_events));
    job.unsent_events.clear();
    // Watchers that said they want no more are dropped (a browser that went away).
    std::erase_if(job.watches, [&job](const LiveJob::Watch& w) {
      if (*w.wanted) return false;
      if (!w.job_only) --job.run_watches;
      return true;
    });
    JobEventBatch job_events;  // only the job's own changes, for job_only watchers
    for (auto& watch : job.watches) {
      if (watch.job_only && job_events == nullptr) {
        auto only = std::make_shared<std::vector<v1::JobEvent>>();
        for (const v1::JobEvent& e : *events) {
          if (e.has_job()) only->push_back(e);
        }
        job_events = std::move(only);
      }
      const JobEventBatch& batch = watch.job_only ? job_events : events;
      if (batch->empty()) continue;
      outbox_.push_back([batch, fn = watch.batch, wanted = watch.wanted] {
        if (*wanted && !fn(batch)) *wanted = false;
      });
    }
  }

  // ASSIGNED -> RUNNING is not written: recovery treats the two alike (the run waits for its
  // worker to report it), so the store keeps ASSIGNED until the next change, and a worker's
  // "started" heartbeat costs no commit. Watchers still see RUNNING.
  absl::Status SetState(LiveRun& run, RunEvent event) {
    ASSIGN_OR_RETURN(v1::RunState next, Transition(run.stored.run().state(), event));
    const bool durable = event != RunEvent::kStarted;
    CountRunState(run.key.job, run.stored.run().state(), next, durable);
    run.stored.mutable_run()->set_state(next);
    if (durable) {
      PersistRun(run);
    } else {
      MarkChanged(run);
    }
    return absl::OkStatus();
  }

  // A transition the logic believes legal. Refused, it is a bug — in the scheduler, or a stored
  // record or worker's graph breaking an invariant nothing else caught: it is reported
  // (ReportBug), and the caller leaves the run alone (returns false). The daemon goes on.
  [[nodiscard]] bool MustSetState(LiveRun& run, RunEvent event) {
    absl::Status s = SetState(run, event);
    if (s.ok()) return true;
    ReportBug(run.key, s);
    return false;
  }

  // Logs a bug found while handling `key` loudly and fails its job with INTERNAL naming the run
  // at the turn's next safe point (HandleBugs): callers up the stack may still hold references
  // to the job's runs, so it is not torn down here.
  void ReportBug(RunKey key, const absl::Status& why) {
    std::fprintf(stderr, "sematic-scheduler: BUG: run %s: %s (failing job %s)\n",
                 FormatRunId(key).c_str(), why.ToString().c_str(),
                 FormatJobId(key.job).c_str());
    bugs_.emplace_back(key, why);
  }

  // Fails the job of every bug reported so far (see ReportBug).
  void HandleBugs() {
    while (!bugs_.empty()) {
      for (const auto& [key, why] : std::exchange(bugs_, {})) FailJobOnBug(key, why);
    }
  }

  // Ends the job of `culprit` FAILED with an INTERNAL error naming the run: the culprit FAILED,
  // its other live runs CANCELED, each released from its worker. States are set without the
  // transition table, whose refusal is what brought us here; nothing cascades.
  void FailJobOnBug(RunKey culprit, const absl::Status& why) {
    if (!jobs_.contains(culprit.job)) return;  // ended already (an earlier bug of the turn)
    const std::string error =
        absl::StrCat("INTERNAL: scheduler bug in run ", FormatRunId(culprit), ": ", why.message(),
                     " (the job was stopped; other jobs are not affected)");
    const std::string cancelled =
        absl::StrCat("cancelled: the job was stopped by a scheduler bug in run ",
                     FormatRunId(culprit));
    std::vector<RunKey> live;
    for (const auto& [key, run] : runs_) {
      if (key.job == culprit.job) live.push_back(key);
    }
    std::sort(live.begin(), live.end());
    const int64_t now = Micros(absl::Now());
    for (const RunKey& key : live) {
      LiveRun& run = runs_.at(key);
      TellWorkerToCancel(run, "the job was stopped by a scheduler bug");
      ReleaseWorker(run);
      orphans_.erase(key);
      output_parent_.erase(key);
      run.dependents.clear();
      v1::Run& r = *run.stored.mutable_run();
      const v1::RunState to = key == culprit ? v1::FAILED : v1::CANCELED;
      r.set_error(key == culprit ? error : cancelled);
      r.set_ended_unix_micros(now);
      CountRunState(key.job, r.state(), to);
      r.set_state(to);
      Retire(key);
    }
    jobs_.at(culprit.job).stored.mutable_job()->set_error(error);
    FinishJob(culprit.job, v1::JOB_FAILED);
  }

  // Tells the worker holding `run` (if any) to stop its attempt.
  void TellWorkerToCancel(const LiveRun& run, const std::string& reason) {
    if (run.session == 0) return;
    auto s = sessions_.find(run.session);
    if (s == sessions_.end()) return;
    v1::SchedulerMessage cancel;
    v1::RunAttempt* attempt = cancel.mutable_cancel()->add_runs();
    attempt->set_run_id(FormatRunId(run.key));
    attempt->set_attempt(run.stored.run().attempt());
    cancel.mutable_cancel()->set_reason(reason);
    Send(s->second, std::move(cancel));
  }

  void InputsReady(LiveRun& run) {
    if (run.stored.run().builtin()) {
      EvaluateBuiltin(run);
      return;
    }
    if (!MustSetState(run, RunEvent::kInputsReady)) return;
    Enqueue(run);
  }

  void Enqueue(LiveRun& run) {
    if (run.queued) return;
    run.queued = true;
    run.queued_at_micros = Micros(absl::Now());
    if (run.losses.run_alone) {
      alone_queue_.push_back(run.key);
    } else {
      DispatchQueue& queue = QueueOf(*run.node);
      (run.stored.run().attempt() > 0 ? queue.retries : queue.runs).push_back(run.key);
    }
    ++queued_runs_;
  }

  // The dispatch queue of the node's function. Queues are never removed, so the last one used
  // is remembered: a fan-out enqueues runs of one function in a row.
  DispatchQueue& QueueOf(const v1::CallNode& node) {
    if (last_queue_ != nullptr && last_queue_->function == node.function() &&
        last_queue_->version == node.version()) {
      return *last_queue_;
    }
    DispatchQueue& queue = queues_[QueueKey(node)];
    if (queue.function.empty()) {
      queue.function = node.function();
      queue.version = node.version();
    }
    last_queue_ = &queue;
    return queue;
  }

  static std::string QueueKey(const v1::CallNode& node) {
    return absl::StrCat(node.function(), "@", node.version());
  }

  // The sizes of stored payloads, for CheckPayloadsStored: payloads are uploaded (committed by
  // the ArtifactService before the upload returns), never produced in a turn.
  PayloadSizeLookup StoredPayloads() {
    return [this](std::string_view digest) -> absl::StatusOr<uint64_t> {
      ASSIGN_OR_RETURN(v1::ArtifactMeta meta, store_->GetArtifact(digest));
      return meta.size_bytes();
    };
  }

  // Whether the artifact's bytes are stored (committed, or in this turn's batch).
  bool HasArtifact(std::string_view digest) {
    return values_.contains(AsAbsl(digest)) || uncommitted_values_.contains(AsAbsl(digest)) ||
           store_->GetArtifact(digest).ok() || blobs_->Contains(digest);
  }

  // The canonical bytes of an artifact: small ones live in the store, large ones in blob files.
  absl::StatusOr<std::string> ArtifactBytes(std::string_view digest) {
    absl::StatusOr<std::string> bytes = store_->GetValueBytes(digest);
    if (!absl::IsNotFound(bytes.status())) return bytes;
    return blobs_->ReadAll(digest);
  }

  // The value of input `i` of `run`, inline.
  absl::StatusOr<v1::Value> InputValue(const LiveRun& run, int i) {
    const v1::Arg& arg = run.node->args(i);
    if (arg.source_case() == v1::Arg::kLiteral) return arg.literal();
    const std::string& digest = run.input_digests[i];
    auto cached = values_.find(digest);
    if (cached != values_.end()) return *cached->second;
    auto uncommitted = uncommitted_values_.find(digest);
    if (uncommitted != uncommitted_values_.end()) return *uncommitted->second;
    ASSIGN_OR_RETURN(std::string bytes, ArtifactBytes(digest));
    v1::TypedValue tv;
    if (!tv.ParseFromString(bytes)) {
      return absl::DataLossError(absl::StrCat("artifact ", digest, " does not parse"));
    }
    return std::move(*tv.mutable_value());
  }

  // Built-in nodes (gather, field, element, literal) are evaluated here, not on workers.
  void EvaluateBuiltin(LiveRun& run) {
    const v1::CallNode& node = *run.node;
    absl::StatusOr<v1::Value> value;
    const bool pick = node.function() == internal::kFieldFunction ||
                      node.function() == internal::kElementFunction;
    if (node.function() == internal::kLiteralFunction && node.args_size() == 1) {
      value = node.args(0).literal();
    } else if (node.function() == "sematic.gather" || node.function() == kConcatFunction) {
      const bool concat = node.function() == kConcatFunction;
      v1::Value list;
      list.mutable_list_value();
      value = list;
      for (int i = 0; i < node.args_size(); ++i) {
        absl::StatusOr<v1::Value> item = InputValue(run, i);
        if (!item.ok()) {
          value = item.status();
          break;
        }
        if (!concat) {
          *value->mutable_list_value()->add_items() = *std::move(item);
          continue;
        }
        for (v1::Value& part : *item->mutable_list_value()->mutable_items()) {
          *value->mutable_list_value()->add_items() = std::move(part);
        }
      }
    } else if (!pick || node.args_size() != 2) {
      // Validated graphs never hold such a node; a worker offering a "sematic." name, or a
      // stored record, could.
      value = absl::InternalError(absl::StrCat("no built-in ", node.function(), " taking ",
                                               node.args_size(), " arguments"));
    } else {
      absl::StatusOr<v1::Value> input = InputValue(run, 0);
      const uint64_t index = node.args(1).literal().uint_value();
      if (!input.ok()) {
        value = input.status();
      } else if (input->kind_case() != v1::Value::kListValue ||
                 index >= static_cast<uint64_t>(input->list_value().items_size())) {
        value = absl::InvalidArgumentError(absl::StrCat(node.function(), ": no item ", index));
      } else {
        value = input->list_value().items(static_cast<int>(index));
      }
    }
    if (!value.ok()) {
      FailRun(run.key, value.status(), RunEvent::kFailedFinal);
      return;
    }
    absl::StatusOr<std::string> digest = StoreValue(node.output_type(), *value, run.key);
    if (!digest.ok()) {
      FailRun(run.key, digest.status(), RunEvent::kFailedFinal);
      return;
    }
    run.stored.mutable_run()->set_attempt(1);
    if (!MustSetState(run, RunEvent::kCompletedWithoutDispatch)) return;
    Succeed(run.key, *digest);
  }

  // Stores a value as an artifact produced by `producer`; returns its digest.
  absl::StatusOr<std::string> StoreValue(const v1::TypeDesc& type, const v1::Value& value,
                                         RunKey producer) {
    if (value.ByteSizeLong() > options_.limits.max_inline_value_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("value: larger than ",
                                                     options_.limits.max_inline_value_bytes,
                                                     " bytes; upload it as an artifact"));
    }
    RETURN_IF_ERROR(ValidateValue(type, value, "value"));
    ASSIGN_OR_RETURN(const std::string bytes, CanonicalBytes(type, value));
    const bool small = bytes.size() <= kSmallValueBytes;
    std::string digest;
    if (small) {
      // Small values go into this turn's batch, in their artifact's record (no file per
      // value), once: a cached value's record is written already.
      digest = Sha256Hex(bytes);
      if (values_.contains(digest) || uncommitted_values_.contains(digest)) return digest;
      // They stay in memory to feed downstream assignments without a read: in the cache, or
      // past its budget until their turn is committed (a consumer may be dispatched in this very
      // turn).
      const size_t cost = bytes.size() + kValueCacheEntryBytes;
      auto shared = std::make_shared<const v1::Value>(value);
      if (cached_bytes_ + cost <= kValueCacheBytes) {
        cached_bytes_ += cost;
        values_.emplace(digest, std::move(shared));
      } else {
        value_cache_full_ = true;  // emptied at the next turn that commits in place
        uncommitted_values_.emplace(digest, std::move(shared));
        unreleased_this_turn_.push_back(digest);
      }
    } else {
      ASSIGN_OR_RETURN(digest, blobs_->Put(bytes));
    }
    // Written without a read: if the store has the artifact already, its record stays.
    v1::ArtifactMeta meta;
    meta.set_digest(digest);
    *meta.mutable_type() = type;
    meta.set_size_bytes(bytes.size());
    meta.set_created_unix_micros(Micros(absl::Now()));
    meta.set_producer_run_id(FormatRunId(producer));
    batch_.PutArtifact(meta, small ? std::string_view(bytes) : std::string_view());
    return digest;
  }

  // `key` produced `digest`: record it, wake its consumers, finish the nested run it was the
  // output of, and the job if it was the root.
  void Succeed(RunKey key, const std::string& digest) {
    LiveRun& run = runs_.at(key);
    v1::Run& r = *run.stored.mutable_run();
    r.set_output_digest(digest);
    r.set_ended_unix_micros(Micros(absl::Now()));
    if (r.state() != v1::SUCCEEDED && !MustSetState(run, RunEvent::kSucceeded)) return;
    const std::vector<std::pair<RunKey, int>> dependents = std::move(run.dependents);
    Retire(key);
    // Consumers' pending counts and input digests are not re-persisted per arrival (a gather of
    // 100k inputs would rewrite its record 100k times); recovery recomputes them from the
    // producers' records.
    for (const auto& [d, arg] : dependents) {
      auto it = runs_.find(d);
      if (it == runs_.end()) continue;
      LiveRun& dep = it->second;
      dep.input_digests[arg] = digest;
      if (--dep.pending_inputs == 0) InputsReady(dep);
    }
    // The nested run it was the output of succeeds with the same value.
    if (std::optional<RunKey> parent = ParentOf(key); parent.has_value()) Succeed(*parent, digest);
    MaybeFinishJob(key.job);
  }

  // The nested run whose output `key` is, if it is still live.
  std::optional<RunKey> ParentOf(RunKey key) {
    auto it = output_parent_.find(key);
    if (it == output_parent_.end()) return std::nullopt;
    const RunKey parent = it->second;
    output_parent_.erase(it);
    if (!runs_.contains(parent)) return std::nullopt;
    return parent;
  }

  void Retire(RunKey key) {
    auto it = runs_.find(key);
    if (it == runs_.end()) return;
    const v1::Run& r = it->second.stored.run();
    PersistRun(it->second);
    FlushRun(it->second);
    WakeLogWaiters(key);  // the run ends: its log followers finish
    LiveJob& job = jobs_.at(key.job);
    --job.unfinished;
    v1::Job& j = *job.stored.mutable_job();
    if (absl::StatusOr<RunKey> root = ParseRunId(j.root_run_id()); root.ok() && *root == key) {
      job.root_state = r.state();
      j.set_output_digest(r.output_digest());
      j.set_error(r.error());
    }
    runs_.erase(it);
  }

  void MaybeFinishJob(uint64_t job_id) {
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return;
    LiveJob& job = it->second;
    v1::Job& j = *job.stored.mutable_job();
    if (job.unfinished > 0) return;
    v1::RunState root_state = job.root_state;
    if (root_state == v1::RUN_STATE_UNSPECIFIED) {  // ended before a restart
      absl::StatusOr<RunKey> root = ParseRunId(j.root_run_id());
      absl::StatusOr<internal::StoredRun> stored =
          root.ok() ? store_->GetRun(*root) : absl::StatusOr<internal::StoredRun>(root.status());
      root_state = stored.ok() ? stored->run().state() : v1::FAILED;
    }
    FinishJob(job_id, JobStateFor(root_state, 0));
  }

  // Ends job `job_id` (live, with no live run left) in `state` and closes its watches.
  void FinishJob(uint64_t job_id, v1::JobState state) {
    auto it = jobs_.find(job_id);
    LiveJob& job = it->second;
    v1::Job& j = *job.stored.mutable_job();
    j.set_state(state);
    j.set_ended_unix_micros(Micros(absl::Now()));
    Emit(job_id, j);
    batch_.PutJob(job.stored);
    dirty_jobs_.erase(job_id);
    DeliverEvents(job);  // before the watches end
    for (auto& watch : job.watches) outbox_.push_back([done = watch.done] { done(absl::OkStatus()); });
    jobs_.erase(it);
  }

  // ---- Failure, retries, cancellation -------------------------------------------------------

  // Fails `key` for good (`event`: kFailedFinal or kTimedOutFinal) and carries the failure on:
  // the nested runs it is the output of fail with it (so the root, and the job, end FAILED with
  // the failing step's error, nested in each parent's), the runs that needed its output are
  // cancelled, and under fail-fast so is every other live run of the job — each naming this run
  // (`cancelled: run <id> (<function>) failed`), whichever ancestor's failure reaches them.
  void FailRun(RunKey key, const absl::Status& why, RunEvent event) {
    auto it = runs_.find(key);
    if (it == runs_.end()) return;
    LiveRun& run = it->second;
    v1::Run& r = *run.stored.mutable_run();
    const std::string id = FormatRunId(key);
    r.set_error(absl::StrCat("step ", run.node->function(), " (run ", id, ") failed",
                             r.attempt() > 1 ? absl::StrCat(" after ", r.attempt(), " attempts")
                                             : "",
                             ": ", why.message()));
    r.set_ended_unix_micros(Micros(absl::Now()));
    if (!MustSetState(run, event)) return;
    ReleaseWorker(run);
    const std::vector<std::pair<RunKey, int>> dependents = run.dependents;
    const std::vector<std::pair<uint64_t, uint64_t>> children = std::move(run.children);
    const uint64_t parent_index = run.parent_index;
    const absl::Status failure(why.code(), r.error());
    const std::string self = absl::StrCat("run ", id, " (", run.node->function(), ") failed");
    Retire(key);
    const bool fail_fast =
        jobs_.at(key.job).stored.job().options().failure_policy() == v1::FAIL_FAST;
    // The run whose failure this is: the first to fail of this cascade.
    const bool first = failing_cause_.empty();
    if (first) failing_cause_ = self;
    const std::string cause = failing_cause_;
    CancelChildren(key.job, children, fail_fast ? cause : absl::StrCat("parent ", self));
    for (const auto& [d, arg] : dependents) {
      CancelRun(d, fail_fast ? cause : absl::StrCat("upstream ", self), &failure);
    }
    std::optional<RunKey> parent = ParentOf(key);
    if (!parent.has_value() && fail_fast && parent_index != LiveRun::kNoParent &&
        runs_.contains(RunKey{key.job, parent_index})) {
      parent = RunKey{key.job, parent_index};  // fail-fast: the job is failing, ancestors too
    }
    if (parent.has_value()) FailRun(*parent, failure, RunEvent::kFailedFinal);
    if (first) {
      if (fail_fast) {
        std::vector<RunKey> live;
        for (const auto& [k, other] : runs_) {
          if (k.job == key.job) live.push_back(k);
        }
        std::sort(live.begin(), live.end());
        for (const RunKey& k : live) CancelRun(k, cause);
      }
      failing_cause_.clear();
    }
    MaybeFinishJob(key.job);
  }

  // Cancels `key` and what cannot go on without it: its children, the runs that needed its
  // output, and the nested run it is the output of — which fails with `upstream_failure` when
  // the cancellation comes from a failed run upstream (it did not succeed, and its job must
  // say why), and is cancelled otherwise.
  void CancelRun(RunKey key, const std::string& reason,
                 const absl::Status* upstream_failure = nullptr) {
    auto it = runs_.find(key);
    if (it == runs_.end()) return;
    LiveRun& run = it->second;
    v1::Run& r = *run.stored.mutable_run();
    if (IsTerminal(r.state())) return;
    r.set_error(absl::StrCat("cancelled: ", reason));
    r.set_ended_unix_micros(Micros(absl::Now()));
    if (!MustSetState(run, RunEvent::kCancel)) return;
    TellWorkerToCancel(run, reason);
    ReleaseWorker(run);
    const std::vector<std::pair<RunKey, int>> dependents = run.dependents;
    const std::vector<std::pair<uint64_t, uint64_t>> children = std::move(run.children);
    Retire(key);
    CancelChildren(key.job, children, reason);
    for (const auto& [d, arg] : dependents) CancelRun(d, reason, upstream_failure);
    auto parent = ParentOf(key);
    if (parent.has_value()) {
      if (upstream_failure != nullptr) {
        FailRun(*parent, *upstream_failure, RunEvent::kFailedFinal);
      } else {
        CancelRun(*parent, reason);
      }
    }
    MaybeFinishJob(key.job);
  }

  void CancelChildren(uint64_t job_id, const std::vector<std::pair<uint64_t, uint64_t>>& children,
                      const std::string& reason) {
    for (const auto& [begin, end] : children) {
      for (uint64_t index = begin; index < end; ++index) CancelRun(RunKey{job_id, index}, reason);
    }
  }

  void ReleaseWorker(LiveRun& run) {
    if (run.session == 0) return;
    // It ended with its worker alive: whatever kills workers, it is not this run.
    CrashTriage::AttemptEnded(run.losses);
    auto s = sessions_.find(run.session);
    if (s != sessions_.end()) {
      WorkerSession& session = s->second;
      if (run.placed_alone) --session.alone_runs;
      session.runs.erase(FormatRunId(run.key));
      if (run.sent_ahead) {
        auto& ahead = session.sent_ahead;
        ahead.erase(std::remove(ahead.begin(), ahead.end(), run.key), ahead.end());
      } else if (run.demand != nullptr) {
        Release(*run.demand, &session.view);
        StartSentAhead(session);
      }
    }
    run.sent_ahead = false;
    run.placed_alone = false;
    ReleaseJobSlot(run.key.job);
    run.session = 0;
    run.stored.set_worker_id("");
  }

  // A run ended on `session`: the runs sent ahead to it start there now, in the order sent, as
  // far as they fit — as the worker starts them (Worker's StartWaiting), so both account alike.
  void StartSentAhead(WorkerSession& session) {
    while (!session.sent_ahead.empty()) {
      auto it = runs_.find(session.sent_ahead.front());
      if (it == runs_.end() || !it->second.sent_ahead || it->second.session != session.id) {
        session.sent_ahead.pop_front();  // stale
        continue;
      }
      LiveRun& run = it->second;
      if (!Fits(*run.demand, session.view, nullptr)) return;
      Reserve(*run.demand, &session.view);
      run.sent_ahead = false;
      session.sent_ahead.pop_front();
    }
  }

  // Where a run that no worker has room for now may be sent ahead: a worker that could run it
  // once idle, with fewer runs waiting there than the function's send-ahead limit for it
  // (send_ahead.h: ~32 ms of work per running run, so a finishing run always has a successor at
  // hand and results travel in batches; none for long steps), the least loaded first. Only for
  // functions without a timeout (a deadline would include the wait). -1: none.
  int SendAheadTarget(const DispatchQueue& queue, std::vector<WorkerView>& views,
                      const std::vector<WorkerSessionId>& ids) {
    if (queue.signature == nullptr || queue.signature->timeout_millis() > 0) return -1;
    const std::optional<absl::Duration> typical = queue.durations.typical();
    int best = -1;
    size_t best_waiting = 0;
    for (size_t w = 0; w < views.size(); ++w) {
      const WorkerSession& session = sessions_.at(ids[w]);
      if (session.alone_runs > 0 || session.set_aside) continue;
      const size_t waiting = session.sent_ahead.size();
      const int limit = SendAheadLimit(options_.send_ahead, typical, views[w].running);
      if (waiting >= static_cast<size_t>(limit)) continue;
      // Would it fit on the idle worker? (The view is a copy of this turn's: restored below.)
      WorkerView& view = views[w];
      v1::Resources in_use;
      in_use.Swap(&view.in_use);
      const int running = std::exchange(view.running, 0);
      const bool fits = Fits(*queue.demand, view, nullptr);
      in_use.Swap(&view.in_use);
      view.running = running;
      if (!fits) continue;
      if (best < 0 || waiting < best_waiting ||
          (waiting == best_waiting && view.id < views[best].id)) {
        best = static_cast<int>(w);
        best_waiting = waiting;
      }
    }
    return best;
  }

  RetryBudget BudgetFor(const LiveRun& run) {
    RetryBudget budget;
    absl::Status ignored;
    const v1::FunctionSignature* signature =
        FindSignature(run.node->function(), run.node->version(), &ignored);
    if (signature != nullptr) budget.max_user_retries = signature->max_retries();
    return budget;
  }

  // An attempt failed (`kind`): retry per the budgets or fail the run.
  void AttemptFailed(RunKey key, FailureKind kind, const absl::Status& why) {
    auto it = runs_.find(key);
    if (it == runs_.end()) return;
    LiveRun& run = it->second;
    const RetryBudget budget = BudgetFor(run);
    const RetryDecision decision =
        Decide(budget, kind, run.stored.user_failures(), run.stored.infra_failures());
    if (kind == FailureKind::kInfrastructure) {
      run.stored.set_infra_failures(run.stored.infra_failures() + 1);
    } else {
      run.stored.set_user_failures(run.stored.user_failures() + 1);
    }
    const RunEvent event = EventFor(kind, decision);
    if (decision == RetryDecision::kGiveUp) {
      FailRun(key, why, event);
      return;
    }
    ReleaseWorker(run);
    // A lost worker says nothing about the run: re-queue it at once. Failures of the run itself
    // back off.
    const int retry = run.stored.user_failures();
    const absl::Time at = kind == FailureKind::kInfrastructure
                              ? absl::Now()
                              : absl::Now() + BackoffDelay(budget, retry, rng_);
    Requeue(run, event,
            absl::StrCat("attempt ", run.stored.run().attempt(), " failed: ", why.ToString(),
                         "; retrying"),
            at);
  }

  // Moves `run` (its worker released) back to QUEUED by `event`, with a line in its log saying
  // why, and queues it for dispatch at `at`.
  void Requeue(LiveRun& run, RunEvent event, std::string note_text, absl::Time at) {
    RecordEndedAttempt(run, note_text);
    v1::LogEntry* note = run.stored.mutable_run()->add_logs();
    note->set_unix_micros(Micros(absl::Now()));
    note->set_text(std::move(note_text));
    batch_.AppendLog(run.key, NextLogIndex(run.key)++, *note);
    run.stored.mutable_run()->clear_logs();
    if (!MustSetState(run, event)) return;
    run.stored.set_not_before_unix_micros(Micros(at));
    PersistRun(run);
    loop_->RunAt(at, [this, key = run.key] {
      auto r = runs_.find(key);
      if (r != runs_.end() && r->second.stored.run().state() == v1::QUEUED) Enqueue(r->second);
    });
  }

  // Keeps the attempt that just ended without ending the run (Run.attempts): the dashboard
  // shows each attempt and why it ended, not only the latest.
  static void RecordEndedAttempt(LiveRun& run, const std::string& why) {
    v1::Run& r = *run.stored.mutable_run();
    if (r.attempt() == 0) return;  // never assigned: no attempt to record
    v1::AttemptRecord* attempt = r.add_attempts();
    attempt->set_attempt(r.attempt());
    attempt->set_worker_id(r.worker_id());
    attempt->set_started_unix_micros(r.started_unix_micros());
    attempt->set_ended_unix_micros(Micros(absl::Now()));
    attempt->set_outcome(v1::FAILED);
    attempt->set_error(why);
  }

  // ---- Dispatch -----------------------------------------------------------------------------

  // Places queued runs, function by function. All runs of one function have the same demand,
  // so when its first queued run cannot be placed none can: Dispatch moves on to the next
  // function without looking at the rest. A turn costs O(functions + runs placed), not
  // O(runs queued) — 100k queued runs do not make every turn walk 100k entries.
  void Dispatch() {
    if (queued_runs_ == 0 || shutting_down_) return;
    std::vector<WorkerView> views;
    std::vector<WorkerSessionId> ids;
    for (auto& [id, s] : sessions_) {
      if (!s.greeted) continue;
      views.push_back(s.view);
      ids.push_back(id);
    }
    std::vector<bool> view_changed(views.size(), false);
    Batches batches;
    DispatchAlone(views, ids, view_changed, batches);
    // A worker held for a run alone takes nothing else: full, as placement sees it this turn.
    struct Closed {
      size_t w;
      int max_concurrent_runs;
      bool alive;
    };
    std::vector<Closed> closed;
    for (size_t w = 0; w < views.size(); ++w) {
      const WorkerSession& session = sessions_.at(ids[w]);
      if (session.alone_runs == 0 && !session.set_aside) continue;
      closed.push_back({w, views[w].max_concurrent_runs, views[w].alive});
      views[w].max_concurrent_runs = std::max(views[w].running, 1);
      if (views[w].running == 0) views[w].alive = false;  // not expected: it holds runs
    }
    for (auto& [function_key, queue] : queues_) {
      while (!queue.retries.empty() || !queue.runs.empty()) {
        std::deque<RunKey>& from = queue.retries.empty() ? queue.runs : queue.retries;
        const RunKey key = from.front();
        LiveRun* const dispatchable = Dispatchable(key);
        if (dispatchable == nullptr) {
          from.pop_front();
          continue;
        }
        LiveRun& run = *dispatchable;
        EnsureSignature(queue);
        const v1::FunctionSignature* signature = queue.signature;
        absl::StatusOr<std::string> placed =
            signature != nullptr ? policy_->Place(*queue.demand, views) : queue.missing;
        // Every able worker is busy: send it ahead to one, to start there without a round trip
        // the moment a run ends.
        int ahead = -1;
        if (!placed.ok() && absl::IsUnavailable(placed.status())) {
          ahead = SendAheadTarget(queue, views, ids);
        }
        if (!placed.ok() && ahead < 0) {
          NotePlacementFailure(queue, placed.status());
          break;  // the rest of this function's runs cannot be placed either
        }
        queue.reason.clear();
        from.pop_front();
        --queued_runs_;
        run.queued = false;
        if (!MustSetState(run, RunEvent::kAssigned)) continue;  // nothing reserved yet
        run.demand = queue.demand;
        size_t w = 0;
        if (ahead >= 0) {
          w = static_cast<size_t>(ahead);
        } else {
          while (views[w].id != *placed) ++w;
          Reserve(*run.demand, &views[w]);
          view_changed[w] = true;
        }
        Assign(run, w, ahead >= 0, *signature, views, ids, batches);
      }
    }
    for (const Closed& c : closed) {
      views[c.w].max_concurrent_runs = c.max_concurrent_runs;
      views[c.w].alive = c.alive;
    }
    for (size_t w = 0; w < views.size(); ++w) {
      if (view_changed[w]) sessions_.at(ids[w]).view = std::move(views[w]);
    }
    for (auto& [id, message] : batches) {
      WorkerSession& session = sessions_.at(id);
      // The turn's acknowledgements ride along: a chain step costs one message each way.
      if (HasUnsentAck(session)) message.mutable_ack()->Swap(&session.unsent_ack);
      Send(session, std::move(message));
    }
  }

  using Batches = absl::flat_hash_map<WorkerSessionId, v1::SchedulerMessage>;

  // The run at the head of a dispatch queue, or nullptr when it leaves the queue instead (the
  // caller pops it): cancelled or failed while queued, or its job is at max_parallelism — then
  // it is parked with its job until one of the job's runs ends (see ReleaseJobSlot).
  LiveRun* Dispatchable(const RunKey& key) {
    auto it = runs_.find(key);
    if (it == runs_.end() || !it->second.queued ||
        it->second.stored.run().state() != v1::QUEUED) {
      --queued_runs_;
      if (it != runs_.end()) it->second.queued = false;
      return nullptr;
    }
    LiveRun& run = it->second;
    LiveJob& job = jobs_.at(key.job);
    const int max_parallel = job.stored.job().options().max_parallelism();
    if (max_parallel > 0 && job.in_flight >= max_parallel) {
      --queued_runs_;
      run.queued = false;
      job.parked.push_back(key);
      return nullptr;
    }
    return &run;
  }

  // Assigns `run`, its demand reserved in `views[w]` (or sent ahead there when `ahead`), to the
  // worker `ids[w]` (the caller has moved it to ASSIGNED): its next attempt goes into the
  // worker's batch of this turn.
  void Assign(LiveRun& run, size_t w, bool ahead, const v1::FunctionSignature& signature,
              std::vector<WorkerView>& views, const std::vector<WorkerSessionId>& ids,
              Batches& batches) {
    const WorkerSessionId session_id = ids[w];
    WorkerSession& session = sessions_.at(session_id);
    if (ahead) {
      run.sent_ahead = true;
      session.sent_ahead.push_back(run.key);
    }
    run.queued = false;
    run.session = session_id;
    run.stored.set_worker_id(session.hello.worker_id());
    v1::Run& r = *run.stored.mutable_run();
    r.set_worker_id(session.hello.worker_id());
    r.set_attempt(r.attempt() + 1);
    r.set_started_unix_micros(Micros(absl::Now()));
    // A retry's backoff is time it was not meant to be dispatched in: not counted.
    dispatch_latency_.Record(absl::Microseconds(
        r.started_unix_micros() - std::max(run.queued_at_micros, run.stored.not_before_unix_micros())));
    session.runs.insert(FormatRunId(run.key));
    ++jobs_.at(run.key.job).in_flight;
    absl::StatusOr<v1::Assignment> assignment = AssignmentFor(run, signature);
    if (!assignment.ok()) {
      session.view = views[w];
      FailRun(run.key, assignment.status(), RunEvent::kFailedFinal);
      views[w] = session.view;  // FailRun released the reservation
      return;
    }
    assignment->set_queued(run.sent_ahead);
    *batches[session_id].mutable_assignments()->add_assignments() = *std::move(assignment);
    if (signature.timeout_millis() > 0) {
      const int attempt = r.attempt();
      const int64_t timeout = signature.timeout_millis();
      loop_->RunAt(absl::Now() + absl::Milliseconds(timeout),
                   [this, key = run.key, attempt, timeout] { OnDeadline(key, attempt, timeout); });
    }
  }

  // Runs that were aboard a lost worker (crash_triage.h) each get a worker with nothing else on
  // it, in the order they were queued: an empty one that fits, else the able worker with the
  // fewest runs is set aside (nothing new goes there) until it is empty — one at a time, so
  // that the others keep serving everything else.
  void DispatchAlone(std::vector<WorkerView>& views, const std::vector<WorkerSessionId>& ids,
                     std::vector<bool>& view_changed, Batches& batches) {
    for (WorkerSessionId id : ids) sessions_.at(id).set_aside = false;
    bool set_aside = false;
    std::deque<RunKey> waiting;
    while (!alone_queue_.empty()) {
      const RunKey key = alone_queue_.front();
      alone_queue_.pop_front();
      LiveRun* const dispatchable = Dispatchable(key);
      if (dispatchable == nullptr) continue;
      LiveRun& run = *dispatchable;
      DispatchQueue& queue = QueueOf(*run.node);
      EnsureSignature(queue);
      if (queue.signature == nullptr) {
        waiting.push_back(key);
        continue;
      }
      int empty = -1;
      int busy = -1;
      for (size_t w = 0; w < views.size(); ++w) {
        const WorkerSession& session = sessions_.at(ids[w]);
        if (session.alone_runs > 0 || session.set_aside) continue;
        const int i = static_cast<int>(w);
        if (session.runs.empty()) {
          if (Fits(*queue.demand, views[w], nullptr) &&
              (empty < 0 || views[w].id < views[empty].id)) {
            empty = i;
          }
          continue;
        }
        if (set_aside || !FitsOnceIdle(*queue.demand, views[w])) continue;
        const size_t held = session.runs.size();
        const size_t best = busy < 0 ? 0 : sessions_.at(ids[busy]).runs.size();
        if (busy < 0 || held < best || (held == best && views[w].id < views[busy].id)) busy = i;
      }
      if (empty >= 0) {
        --queued_runs_;
        run.queued = false;
        if (!MustSetState(run, RunEvent::kAssigned)) continue;  // nothing reserved yet
        run.demand = queue.demand;
        Reserve(*run.demand, &views[empty]);
        view_changed[empty] = true;
        run.placed_alone = true;
        ++sessions_.at(ids[empty]).alone_runs;
        Assign(run, static_cast<size_t>(empty), /*ahead=*/false, *queue.signature, views, ids,
               batches);
        continue;
      }
      if (busy >= 0) {
        sessions_.at(ids[busy]).set_aside = true;
        set_aside = true;
      }
      waiting.push_back(key);
    }
    alone_queue_.swap(waiting);
  }

  // Whether `demand` would fit on `view` with nothing running there.
  static bool FitsOnceIdle(const RunDemand& demand, const WorkerView& view) {
    WorkerView idle = view;
    idle.in_use.Clear();
    idle.running = 0;
    return Fits(demand, idle, nullptr);
  }

  // Looks up the queue's function among the live workers' signatures, unless it did since the
  // workers last changed.
  void EnsureSignature(DispatchQueue& queue) {
    if (queue.generation == sessions_generation_) return;
    queue.generation = sessions_generation_;
    queue.missing = absl::OkStatus();
    queue.signature = FindSignature(queue.function, queue.version, &queue.missing);
    queue.demand = queue.signature != nullptr
                       ? std::make_shared<const RunDemand>(RunDemandFor(*queue.signature))
                       : nullptr;
  }

  // Why a function's runs wait, shown with each of them (Presented): a structural reason (no
  // live worker offers the function, or none could ever fit it). While able workers are merely
  // busy there is none. Kept in memory only: it describes the present, not the run's history.
  void NotePlacementFailure(DispatchQueue& queue, const absl::Status& why) {
    queue.reason = absl::IsUnavailable(why) ? "" : std::string(why.message());
  }

  // One of the job's runs left ASSIGNED/RUNNING: runs parked by max_parallelism queue again.
  void ReleaseJobSlot(uint64_t job_id) {
    auto job = jobs_.find(job_id);
    if (job == jobs_.end()) return;
    --job->second.in_flight;
    std::deque<RunKey> parked;
    parked.swap(job->second.parked);
    for (const RunKey& key : parked) {
      auto it = runs_.find(key);
      if (it != runs_.end() && it->second.stored.run().state() == v1::QUEUED) Enqueue(it->second);
    }
  }

  absl::StatusOr<v1::Assignment> AssignmentFor(const LiveRun& run,
                                                const v1::FunctionSignature& signature) {
    const v1::Run& r = run.stored.run();
    v1::Assignment a;
    a.set_run_id(FormatRunId(run.key));
    a.set_attempt(r.attempt());
    a.set_job_id(FormatJobId(run.key.job));
    if (run.parent_index != LiveRun::kNoParent) {
      a.set_parent_id(FormatRunId(RunKey{run.key.job, run.parent_index}));
    }
    a.set_function(run.node->function());
    a.set_version(run.node->version());
    for (int i = 0; i < run.node->args_size(); ++i) {
      v1::AssignedInput* input = a.add_inputs();
      input->set_name(run.node->args(i).name());
      ASSIGN_OR_RETURN(*input->mutable_value(), InputValue(run, i));
    }
    if (signature.timeout_millis() > 0) {
      a.set_deadline_unix_micros(Micros(absl::Now()) + signature.timeout_millis() * 1000);
    }
    return a;
  }

  void OnDeadline(RunKey key, int attempt, int64_t timeout_millis) {
    auto it = runs_.find(key);
    if (it == runs_.end()) return;
    LiveRun& run = it->second;
    const v1::RunState state = run.stored.run().state();
    if (run.stored.run().attempt() != attempt ||
        (state != v1::ASSIGNED && state != v1::RUNNING)) {
      return;
    }
    if (run.session != 0) {
      auto s = sessions_.find(run.session);
      if (s != sessions_.end()) {
        v1::SchedulerMessage cancel;
        v1::RunAttempt* a = cancel.mutable_cancel()->add_runs();
        a->set_run_id(FormatRunId(key));
        a->set_attempt(attempt);
        cancel.mutable_cancel()->set_reason("timed out");
        Send(s->second, std::move(cancel));
      }
    }
    AttemptFailed(key, FailureKind::kTimeout,
                  absl::DeadlineExceededError(absl::StrCat(
                      "timed out after ", timeout_millis, " ms")));
  }

  // ---- Worker protocol ----------------------------------------------------------------------

  absl::Status HandleWorkerMessage(WorkerSession& s, v1::WorkerMessage& message) {
    if (!s.greeted && message.message_case() != v1::WorkerMessage::kHello) {
      return absl::InvalidArgumentError("the first message on a worker stream must be a hello");
    }
    switch (message.message_case()) {
      case v1::WorkerMessage::kHello:
        return OnHello(s, message.hello());
      case v1::WorkerMessage::kResults:
        for (v1::RunResult& result : *message.mutable_results()->mutable_results()) {
          RETURN_IF_ERROR(OnResult(s, result));
        }
        return absl::OkStatus();
      case v1::WorkerMessage::kLogs:
        OnLogs(message.logs());
        return absl::OkStatus();
      case v1::WorkerMessage::kHeartbeat:
        // Placement passes a draining worker by; nothing more is sent ahead there.
        if (message.heartbeat().draining()) s.view.draining = true;
        for (const v1::RunAttempt& a : message.heartbeat().running()) OnStarted(s, a);
        return absl::OkStatus();
      case v1::WorkerMessage::MESSAGE_NOT_SET:
        return absl::InvalidArgumentError("worker message: empty");
    }
    return absl::OkStatus();
  }

  absl::Status OnHello(WorkerSession& s, const v1::Hello& hello) {
    if (s.greeted) return absl::InvalidArgumentError("hello: sent twice on one stream");
    RETURN_IF_ERROR(ValidateHello(hello, options_.limits.max_name_bytes));
    // A reconnecting worker replaces its previous session. Its runs wait for this Hello's
    // in_flight to claim them; those it does not claim (a process restarted under the same
    // --worker-id knows nothing of its predecessor's runs) are lost with the old process.
    std::vector<std::string> replaced_runs;
    absl::flat_hash_set<RunKey> replaced_never_started;
    for (auto& [id, other] : sessions_) {
      if (id != s.id && other.greeted && other.hello.worker_id() == hello.worker_id()) {
        replaced_runs.assign(other.runs.begin(), other.runs.end());
        replaced_never_started = SentAheadNeverStarted(other);
        DropWorker(id, absl::AbortedError("the worker reconnected"), /*requeue=*/false);
        break;
      }
    }
    s.greeted = true;
    s.hello = hello;
    ++sessions_generation_;  // signatures cached by the dispatch queues may have changed
    WorkerView& view = s.view;
    view.id = hello.worker_id();
    view.capacity = hello.resources();
    view.labels.clear();
    for (const auto& [k, v] : hello.labels()) view.labels[k] = v;
    view.max_concurrent_runs = hello.max_concurrent_runs();
    for (const auto& f : hello.functions()) view.functions.insert(FunctionKey(f.name(), f.version()));
    v1::SchedulerMessage welcome;
    welcome.mutable_welcome()->set_scheduler_id(scheduler_id_);
    welcome.mutable_welcome()->set_heartbeat_interval_millis(
        absl::ToInt64Milliseconds(options_.heartbeat_timeout / 3));
    welcome.mutable_welcome()->set_max_message_bytes(
        static_cast<int64_t>(options_.limits.max_message_bytes));
    // Runs the worker still executes: keep those whose attempt is current, abandon the rest.
    for (const v1::RunAttempt& a : hello.in_flight()) {
      LiveRun* run = FindLive(a.run_id());
      const bool current = run != nullptr && run->stored.run().attempt() == a.attempt() &&
                           (run->stored.run().state() == v1::ASSIGNED ||
                            run->stored.run().state() == v1::RUNNING) &&
                           (run->session == 0 || run->session == s.id);
      if (!current) {
        *welcome.mutable_welcome()->add_abandon() = a;
        continue;
      }
      run->session = s.id;
      run->stored.set_worker_id(hello.worker_id());
      s.runs.insert(a.run_id());
      if (run->demand == nullptr) {  // recovered from the store: never placed by this process
        DispatchQueue& queue = QueueOf(*run->node);
        EnsureSignature(queue);
        run->demand = queue.demand;
      }
      if (run->demand != nullptr) Reserve(*run->demand, &view);
      orphans_.erase(run->key);
    }
    Send(s, std::move(welcome));
    std::vector<RunKey> unclaimed;
    for (const std::string& run_id : replaced_runs) {
      LiveRun* run = FindLive(run_id);
      if (run == nullptr || run->session != 0 || run->queued) continue;  // claimed, or moved on
      const v1::RunState state = run->stored.run().state();
      if (state == v1::ASSIGNED || state == v1::RUNNING) unclaimed.push_back(run->key);
    }
    if (!unclaimed.empty()) {
      RequeueLostWith(hello.worker_id(),
                      absl::UnavailableError("it restarted and no longer runs them"), unclaimed,
                      replaced_never_started);
    }
    // Queued runs need nothing more: they wait in their queues, which Dispatch looks up again
    // now that the workers changed. (Enqueueing every QUEUED run here, as before, walked all
    // runs per hello in hash order and cut retries' backoff short.)
    return absl::OkStatus();
  }

  LiveRun* FindLive(std::string_view run_id) {
    absl::StatusOr<RunKey> key = ParseRunId(run_id);
    if (!key.ok()) return nullptr;
    auto it = runs_.find(*key);
    return it == runs_.end() ? nullptr : &it->second;
  }

  void OnStarted(WorkerSession& s, const v1::RunAttempt& a) {
    LiveRun* run = FindLive(a.run_id());
    if (run == nullptr || run->session != s.id || run->stored.run().attempt() != a.attempt()) {
      return;
    }
    if (run->stored.run().state() == v1::ASSIGNED) (void)MustSetState(*run, RunEvent::kStarted);
  }

  // `result` may be taken apart (a sub-graph is moved out, not copied).
  absl::Status OnResult(WorkerSession& s, v1::RunResult& result) {
    LiveRun* run = FindLive(result.run_id());
    // Fencing: accept only the current attempt, from the worker that holds it.
    absl::Status fence =
        run == nullptr
            ? absl::NotFoundError(absl::StrCat("run ", result.run_id(), " is not live"))
            : CheckAttemptFence(run->stored.run().state(), run->stored.run().attempt(),
                                result.attempt());
    if (fence.ok() && run->session != s.id) {
      fence = absl::FailedPreconditionError("the run is assigned to another worker");
    }
    if (!fence.ok()) {
      AckResult(s, result, /*accepted=*/false);
      std::fprintf(stderr, "sematic-scheduler: rejected result for %s attempt %d from %s: %s\n",
                   result.run_id().c_str(), result.attempt(), s.hello.worker_id().c_str(),
                   fence.ToString().c_str());
      return absl::OkStatus();
    }
    const RunKey key = run->key;
    if (run->stored.run().state() == v1::ASSIGNED && !MustSetState(*run, RunEvent::kStarted)) {
      AckResult(s, result, /*accepted=*/false);  // its job is failed (ReportBug)
      return absl::OkStatus();
    }
    if (result.outcome_case() != v1::RunResult::kError) NoteDuration(*run, result);
    switch (result.outcome_case()) {
      case v1::RunResult::kValue: {
        // The worker uploads a result's payloads before it sends the result.
        if (absl::Status stored =
                CheckPayloadsStored(result.value(), StoredPayloads(), "results.value");
            !stored.ok()) {
          ReleaseWorker(*run);
          RefuseResult(s, result, *run,
                       absl::Status(stored.code(), absl::StrCat(stored.message(), " (a result of ",
                                                                run->node->function(), ")")));
          return absl::OkStatus();
        }
        absl::StatusOr<std::string> digest = StoreValue(run->node->output_type(),
                                                        result.value(), key);
        ReleaseWorker(*run);
        if (!digest.ok()) {
          RefuseResult(s, result, *run,
                       absl::InvalidArgumentError(absl::StrCat(
                           "results.value: a result of ", run->node->function(), " (returns ",
                           TypeName(run->node->output_type()), "): ", digest.status().message())));
          return absl::OkStatus();
        }
        Succeed(key, *digest);
        break;
      }
      case v1::RunResult::kArtifactDigest:
        if (!HasArtifact(result.artifact_digest())) {
          return absl::InvalidArgumentError(absl::StrCat(
              "results.artifact_digest: ", result.artifact_digest(), " was never uploaded"));
        }
        ReleaseWorker(*run);
        // A wrong type is the step's (deterministic) fault: it fails the run, not the stream.
        if (absl::Status accepted = AcceptOutputArtifact(*run, result.artifact_digest());
            !accepted.ok()) {
          RefuseResult(s, result, *run, accepted);
          return absl::OkStatus();
        }
        Succeed(key, result.artifact_digest());
        break;
      case v1::RunResult::kGraph: {
        absl::Status valid = CheckGraphResult(s, *run, result.graph());
        ReleaseWorker(*run);
        if (!valid.ok()) {
          RefuseResult(s, result, *run, valid);
          return absl::OkStatus();
        }
        run->stored.mutable_run()->set_nested(true);  // written with the state below
        if (!MustSetState(*run, RunEvent::kChildrenRegistered)) break;
        absl::StatusOr<RunKey> children = AddGraph(
            key.job, std::make_shared<v1::Graph>(std::move(*result.mutable_graph())), run);
        if (!children.ok()) FailRun(key, children.status(), RunEvent::kFailedFinal);
        break;
      }
      case v1::RunResult::kError: {
        const v1::RunError& error = result.error();
        if (error.never_started() && error.retryable() && error.kind() == v1::INFRASTRUCTURE) {
          ReleaseWorker(*run);
          RequeueUnstarted(*run, error.message());
          break;
        }
        FailureKind kind = FailureKindFor(error.kind());
        absl::Status why = absl::UnknownError(
            error.message().empty()
                ? absl::StrCat("the worker reported a ", v1::ErrorKind_Name(error.kind()),
                               " error without a message")
                : error.message());
        if (!error.retryable() && kind != FailureKind::kCancelled) {
          ReleaseWorker(*run);
          FailRun(key, why, RunEvent::kFailedFinal);
        } else if (kind == FailureKind::kCancelled) {
          CancelRun(key, error.message());
        } else {
          AttemptFailed(key, kind, why);
        }
        break;
      }
      case v1::RunResult::OUTCOME_NOT_SET:
        return absl::InvalidArgumentError("results.outcome: empty");
    }
    AckResult(s, result, /*accepted=*/true);
    return absl::OkStatus();
  }

  // `result` does not fit its function's signature or canonical form (`why`: INVALID_ARGUMENT;
  // FAILED_PRECONDITION for a payload never uploaded): the run fails with `why`, and the worker
  // is told so in its ack (rejected, with the reason in `refused`).
  void RefuseResult(WorkerSession& s, const v1::RunResult& result, const LiveRun& run,
                    const absl::Status& why) {
    const RunKey key = run.key;
    AckResult(s, result, /*accepted=*/false);
    v1::RefusedResult* refused = s.unsent_ack.add_refused();
    refused->mutable_attempt()->set_run_id(result.run_id());
    refused->mutable_attempt()->set_attempt(result.attempt());
    refused->set_code(static_cast<int32_t>(why.code()));
    refused->set_message(std::string(why.message()));
    std::fprintf(stderr, "sematic-scheduler: refused result for %s attempt %d from %s: %s\n",
                 result.run_id().c_str(), result.attempt(), s.hello.worker_id().c_str(),
                 why.ToString().c_str());
    FailRun(key, why, RunEvent::kFailedFinal);
  }

  // A graph is the outcome of a nested step only, and its output node must have the step's
  // result type (which the parent's value will be). INVALID_ARGUMENT naming the function and
  // both types otherwise, or what ValidateSubGraph finds.
  absl::Status CheckGraphResult(const WorkerSession& s, const LiveRun& run,
                                const v1::Graph& graph) {
    const v1::CallNode& node = *run.node;
    const v1::FunctionSignature* signature = nullptr;
    for (const v1::FunctionSignature& f : s.hello.functions()) {
      if (f.name() == node.function() && f.version() == node.version()) signature = &f;
    }
    if (signature == nullptr || !signature->nested()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "results.graph: ", node.function(), " is not a nested step (",
          signature == nullptr ? "its worker does not offer it" : "by its signature",
          "): it must return a ", TypeName(node.output_type()), " value, not a graph"));
    }
    RETURN_IF_ERROR(ValidateSubGraph(graph));
    for (const v1::CallNode& child : graph.nodes()) {
      if (child.id() != graph.output_node()) continue;
      if (!SameType(child.output_type(), node.output_type())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "results.graph: output node \"", child.id(), "\" is ",
            TypeName(child.output_type()), ", but ", node.function(), " returns ",
            TypeName(node.output_type())));
      }
      break;
    }
    return CheckGraphLiterals(graph);
  }

  // Literal arguments of a sub-graph enter the store as they are: in canonical form, with their
  // payloads uploaded (the worker externalizes and uploads them before it sends the graph).
  // INVALID_ARGUMENT or FAILED_PRECONDITION naming the node, the argument and the place.
  absl::Status CheckGraphLiterals(const v1::Graph& graph) {
    const PayloadSizeLookup stored = StoredPayloads();
    for (int i = 0; i < graph.nodes_size(); ++i) {
      const v1::CallNode& child = graph.nodes(i);
      for (int j = 0; j < child.args_size(); ++j) {
        if (child.args(j).source_case() != v1::Arg::kLiteral) continue;
        const v1::Value& literal = child.args(j).literal();
        absl::Status canonical = CheckPayloadsExternal(literal, "literal");
        if (canonical.ok()) canonical = CheckPayloadsStored(literal, stored, "literal");
        if (!canonical.ok()) {
          return absl::Status(canonical.code(),
                              absl::StrCat("results.graph.nodes[", i, "] (", child.id(),
                                           ").args[", j, "].", canonical.message()));
        }
      }
    }
    return absl::OkStatus();
  }

  // How long the step ran on the worker (its clock at both ends), for SendAheadTarget.
  void NoteDuration(const LiveRun& run, const v1::RunResult& result) {
    if (result.started_unix_micros() <= 0 || result.ended_unix_micros() <= 0) return;
    QueueOf(*run.node).durations.Add(
        absl::Microseconds(result.ended_unix_micros() - result.started_unix_micros()));
  }

  // Acknowledges `result` in the worker's ResultAck of this turn (SendAcks sends it).
  void AckResult(WorkerSession& s, const v1::RunResult& result, bool accepted) {
    if (!HasUnsentAck(s)) {
      sessions_with_acks_.push_back(s.id);
    }
    v1::RunAttempt* acked = accepted ? s.unsent_ack.add_accepted() : s.unsent_ack.add_rejected();
    acked->set_run_id(result.run_id());
    acked->set_attempt(result.attempt());
  }

  static bool HasUnsentAck(const WorkerSession& s) {
    return s.unsent_ack.accepted_size() > 0 || s.unsent_ack.rejected_size() > 0;
  }

  // Acknowledgements that no assignment carried (Dispatch) go alone.
  void SendAcks() {
    for (WorkerSessionId id : sessions_with_acks_) {
      auto it = sessions_.find(id);
      if (it == sessions_.end() || !HasUnsentAck(it->second)) continue;
      v1::SchedulerMessage message;
      message.mutable_ack()->Swap(&it->second.unsent_ack);
      Send(it->second, std::move(message));
    }
    sessions_with_acks_.clear();
  }


  absl::Status ValidateSubGraph(const v1::Graph& graph) {
    GraphLimits limits;
    limits.max_nodes = options_.limits.max_graph_nodes;
    // Signatures offered by live workers, converted once per validation.
    struct Owned {
      std::vector<std::string> names;
      std::vector<const v1::TypeDesc*> types;
    };
    absl::flat_hash_map<std::string, std::pair<const v1::FunctionSignature*, Owned>> cache;
    // A fan-out calls one function many times in a row: the last lookup answers most nodes
    // without building a key.
    std::string last_name, last_version;
    std::optional<SignatureRef> last;
    auto lookup = [&](std::string_view name,
                      std::string_view version) -> absl::StatusOr<SignatureRef> {
      if (last.has_value() && name == last_name && version == last_version) return *last;
      const std::string k = FunctionKey(name, version);
      auto it = cache.find(k);
      if (it == cache.end()) {
        absl::Status why;
        const v1::FunctionSignature* f = FindSignature(name, version, &why);
        if (f == nullptr) return why;
        Owned owned;
        for (const auto& p : f->params()) {
          owned.names.push_back(p.name());
          owned.types.push_back(&p.type());
        }
        it = cache.emplace(k, std::make_pair(f, std::move(owned))).first;
      }
      SignatureRef ref;
      ref.name = it->second.first->name();
      ref.param_names = &it->second.second.names;
      ref.param_types = &it->second.second.types;
      ref.result_type = &it->second.first->result();
      last_name = name;
      last_version = version;
      last = ref;
      return ref;
    };
    return ValidateGraph(graph, lookup, limits);
  }

  void OnLogs(const v1::LogBatch& logs) {
    for (const v1::RunLogs& entry : logs.runs()) {
      LiveRun* run = FindLive(entry.run_id());
      if (run == nullptr) continue;
      for (const auto& line : entry.entries()) {
        batch_.AppendLog(run->key, NextLogIndex(run->key)++, line);
      }
      for (const auto& point : entry.metrics()) {
        batch_.AppendMetric(run->key, next_metric_index_[run->key]++, point);
      }
      if (entry.entries_size() > 0) WakeLogWaiters(run->key);
    }
  }

  // A worker is gone: its runs go back to the queue unless `requeue` is false (it reconnected
  // and reported them itself). Those that may have started there are judged by the crash
  // triage (ChargeLoss); those sent ahead that cannot have started spend nothing.
  void DropWorker(WorkerSessionId id, const absl::Status& why, bool requeue = true) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    WorkerSession& s = it->second;
    std::vector<std::string> runs(s.runs.begin(), s.runs.end());
    const absl::flat_hash_set<RunKey> never_started = SentAheadNeverStarted(s);
    if (s.connection) s.connection->Close(why);
    std::vector<RunKey> released;
    for (const std::string& run_id : runs) {
      LiveRun* run = FindLive(run_id);
      if (run == nullptr || run->session != id) continue;
      run->session = 0;
      run->sent_ahead = false;
      run->placed_alone = false;
      ReleaseJobSlot(run->key.job);
      released.push_back(run->key);
    }
    if (requeue) RequeueLostWith(s.hello.worker_id(), why, released, never_started);
    sessions_.erase(it);
    ++sessions_generation_;
  }

  // Runs that were on a lost worker's session (now on none) run again: those sent ahead that it
  // never started at once and uncharged, the others as ChargeLoss decides.
  void RequeueLostWith(const std::string& worker, const absl::Status& why,
                       const std::vector<RunKey>& runs,
                       const absl::flat_hash_set<RunKey>& never_started) {
    std::vector<RunKey> aboard;
    for (const RunKey& key : runs) {
      auto it = runs_.find(key);
      if (it == runs_.end()) continue;
      if (never_started.contains(key)) {
        RequeueUnstarted(it->second, absl::StrCat("sent ahead to worker ", worker,
                                                  ", lost before it could start it"));
      } else {
        aboard.push_back(key);
      }
    }
    ChargeLoss(worker, why, aboard);
  }

  // Which of the runs that may have been running on a lost worker pay for it (crash_triage.h):
  // one alone there "crashed its worker" and spends an infrastructure retry; one lost with
  // others, or alone in a storm of losses, is queued again at once, to run alone, spending none.
  void ChargeLoss(const std::string& worker, const absl::Status& why,
                  const std::vector<RunKey>& aboard) {
    std::vector<LossHistory*> histories;
    histories.reserve(aboard.size());
    for (const RunKey& key : aboard) histories.push_back(&runs_.at(key).losses);
    const std::vector<LossVerdict> verdicts = triage_.WorkerLost(absl::Now(), histories);
    for (size_t i = 0; i < aboard.size(); ++i) {
      // Failing one may have cancelled others (fail-fast).
      auto it = runs_.find(aboard[i]);
      if (it == runs_.end() || it->second.session != 0 || it->second.queued) continue;
      const v1::RunState state = it->second.stored.run().state();
      if (state != v1::ASSIGNED && state != v1::RUNNING) continue;
      LiveRun& run = it->second;
      const std::string lost = absl::StrCat("worker ", worker, " was lost: ", why.message());
      switch (verdicts[i].reason) {
        case LossVerdict::Reason::kAlone:
          AttemptFailed(run.key, FailureKind::kInfrastructure,
                        absl::UnavailableError(absl::StrCat(
                            "step ", run.node->function(), " crashed its worker (", lost,
                            ", with no other run there)")));
          break;
        case LossVerdict::Reason::kTooOften:
          AttemptFailed(run.key, FailureKind::kInfrastructure,
                        absl::UnavailableError(absl::StrCat(
                            lost, " (the run was on ", run.losses.uncharged_losses +
                                                         run.losses.charged_losses,
                            " lost workers)")));
          break;
        case LossVerdict::Reason::kWithOthers:
          RequeueLost(run, absl::StrCat(lost, ", with ", aboard.size() - 1,
                                        " other runs; queued again to run alone"));
          break;
        case LossVerdict::Reason::kStorm:
          RequeueLost(run, absl::StrCat(lost, ", one of several workers lost at once; "
                                              "queued again"));
          break;
      }
    }
  }

  // A run lost with its worker through no evident fault of its own: queued again at once,
  // without spending its retry budget (the attempt number stays spent, as in RequeueUnstarted).
  void RequeueLost(LiveRun& run, const std::string& why) {
    Requeue(run, RunEvent::kWorkerLost,
            absl::StrCat("attempt ", run.stored.run().attempt(), " lost: ", why,
                         " (no retry spent)"),
            absl::Now());
  }

  // The runs sent ahead to `s` that cannot have started there. A worker starts them in the order
  // sent, as its runs end, and the scheduler hears of those ends late by at most the results a
  // worker holds back (common/worker_protocol.h) and those of one turn: only the first
  // max_concurrent_runs + kMostResultsHeld may have started.
  absl::flat_hash_set<RunKey> SentAheadNeverStarted(const WorkerSession& s) {
    absl::flat_hash_set<RunKey> never;
    const size_t may_have_started =
        static_cast<size_t>(std::max(1, s.hello.max_concurrent_runs())) + kMostResultsHeld;
    size_t seen = 0;
    for (const RunKey& key : s.sent_ahead) {
      auto run = runs_.find(key);
      if (run == runs_.end() || !run->second.sent_ahead || run->second.session != s.id) continue;
      if (++seen > may_have_started) never.insert(key);
    }
    return never;
  }

  // A run whose attempt never started (sent ahead to a worker lost or draining before it could
  // start it): queued again at once, without spending its retry budget. The attempt number
  // stays spent: the worker might still report that attempt.
  void RequeueUnstarted(LiveRun& run, const std::string& why) {
    Requeue(run, RunEvent::kWorkerLost,
            absl::StrCat("attempt ", run.stored.run().attempt(), " never started: ", why,
                         "; queued again (no retry spent)"),
            absl::Now());
  }

  void ScheduleHeartbeatCheck() {
    loop_->RunAt(absl::Now() + options_.heartbeat_timeout / 3, [this] {
      const absl::Time cutoff = absl::Now() - options_.heartbeat_timeout;
      std::vector<WorkerSessionId> dead;
      for (const auto& [id, s] : sessions_) {
        if (s.last_heard < cutoff) dead.push_back(id);
      }
      for (WorkerSessionId id : dead) {
        DropWorker(id, absl::DeadlineExceededError("missed heartbeats"));
      }
      if (!shutting_down_) ScheduleHeartbeatCheck();
    });
  }

  // ---- Recovery -----------------------------------------------------------------------------

  // Rebuilds live jobs and runs from the store. ASSIGNED/RUNNING runs become orphans: a
  // reconnecting worker may claim them during the grace period; the rest are re-queued after.
  absl::Status Recover() {
    RETURN_IF_ERROR(store_->ScanJobs(UINT64_MAX, [&](const internal::StoredJob& stored) {
      absl::StatusOr<uint64_t> id = ParseJobId(stored.job().id());
      if (!id.ok()) return true;
      last_job_id_ = std::max(last_job_id_, *id);
      const v1::JobState state = stored.job().state();
      if (state == v1::JOB_PENDING || state == v1::JOB_RUNNING) jobs_[*id].stored = stored;
      return true;
    }));
    // Outputs of the finished runs of live jobs, from the same scan: an unfinished consumer's
    // inputs resolve without a point lookup per producer (a million lookups would thrash the
    // block cache).
    absl::flat_hash_map<RunKey, std::string> finished_outputs;
    // Jobs with a record that cannot be recovered, and why (see QuarantineJob).
    std::vector<std::pair<uint64_t, std::string>> unrecoverable;
    for (auto& [job_id, job] : jobs_) {
      // Job.runs_by_state is recounted from the runs themselves: the stored counts may include
      // moves that were never written (ASSIGNED -> RUNNING, see SetState).
      std::vector<int64_t> counts(v1::RunState_MAX + 1, 0);
      std::string bad;  // why a record of this job cannot be recovered
      absl::Status scanned = store_->ScanRuns(job_id, 0, [&](internal::StoredRun& stored) {
        absl::StatusOr<RunKey> key = ParseRunId(stored.run().id());
        if (!key.ok()) return true;
        // Written by a registration whose last batch a crash lost (see CreationBatch).
        if (key->index >= job.stored.next_run_index()) return true;
        if (absl::Status ok = CheckRecoverable(stored); !ok.ok()) {
          bad = absl::StrCat("run record ", stored.run().id(), " ", ok.message());
          return false;
        }
        const v1::RunState state = stored.run().state();
        if (state >= 0 && state <= v1::RunState_MAX) ++counts[state];
        if (IsTerminal(stored.run().state())) {
          if (stored.run().state() == v1::SUCCEEDED) {
            finished_outputs.emplace(*key, stored.run().output_digest());
          }
          return true;
        }
        LiveRun& run = runs_[*key];
        run.key = *key;
        if (absl::StatusOr<RunKey> parent = ParseRunId(stored.run().parent_id()); parent.ok()) {
          run.parent_index = parent->index;
        }
        run.stored.Swap(&stored);  // take the parsed record rather than copy it
        DropIds(run.stored.mutable_run());
        run.node = std::make_shared<const v1::CallNode>(std::move(*run.stored.mutable_node()));
        run.stored.clear_node();
        run.recorded = true;
        ++job.unfinished;
        return true;
      }, /*bulk=*/true);
      // An unparsable record is the record's fault, not the store's: its job is quarantined.
      // Other errors (I/O) fail the start, as before.
      if (absl::IsDataLoss(scanned)) bad = std::string(scanned.message());
      if (!bad.empty()) {
        unrecoverable.emplace_back(job_id, std::move(bad));
        continue;
      }
      RETURN_IF_ERROR(scanned);
      auto* stored_counts = job.stored.mutable_job()->mutable_runs_by_state();
      stored_counts->Clear();
      for (int64_t count : counts) stored_counts->Add(count);
    }
    for (const auto& [job_id, why] : unrecoverable) QuarantineJob(job_id, why);
    std::vector<std::pair<int64_t, RunKey>> queued;  // (creation time, key)
    for (auto& [key, run] : runs_) {
      const v1::CallNode& node = *run.node;
      if (!AllLiterals(node)) run.input_digests.assign(node.args_size(), "");
      for (int a = 0; a < node.args_size() && !run.input_digests.empty(); ++a) {
        if (node.args(a).source_case() == v1::Arg::kArtifact) {
          run.input_digests[a] = node.args(a).artifact().digest();
        }
        // No entries at all when every argument is a literal or an artifact.
        if (a >= run.stored.input_run_ids_size()) continue;
        const std::string& input = run.stored.input_run_ids(a);
        if (input.empty()) continue;
        if (LiveRun* producer = FindLive(input)) {
          producer->dependents.emplace_back(key, a);
          ++run.pending_inputs;
          continue;
        }
        absl::StatusOr<RunKey> producer_key = ParseRunId(input);
        if (!producer_key.ok()) continue;
        auto output = finished_outputs.find(*producer_key);
        if (output != finished_outputs.end()) {
          run.input_digests[a] = output->second;
        } else if (absl::StatusOr<internal::StoredRun> producer = store_->GetRun(*producer_key);
                   producer.ok()) {  // in another job
          run.input_digests[a] = producer->run().output_digest();
        }
      }
      FreeInputRunIds(run.stored);  // used just above; the record is never written whole again
      if (!run.stored.output_child_run_id().empty()) {
        absl::StatusOr<RunKey> child = ParseRunId(run.stored.output_child_run_id());
        if (child.ok()) output_parent_[*child] = key;
      }
      if (run.parent_index != LiveRun::kNoParent) {
        auto p = runs_.find(RunKey{key.job, run.parent_index});
        if (p != runs_.end()) p->second.children.emplace_back(key.index, key.index + 1);
      }
      switch (run.stored.run().state()) {
        case v1::QUEUED:
          queued.emplace_back(run.stored.run().created_unix_micros(), key);
          break;
        case v1::CREATED:
          // Its last input may have arrived just before the crash (consumers are not
          // re-persisted per arrival): start it once recovery has rebuilt everything.
          if (run.pending_inputs == 0) ready_after_recovery_.push_back(key);
          break;
        case v1::ASSIGNED:
        case v1::RUNNING:
          orphans_.insert(key);
          break;
        default:
          break;
      }
    }
    // FIFO per function across the restart: by creation (runs_ is a hash map), registration
    // order within one registration.
    std::sort(queued.begin(), queued.end());
    for (const auto& [created, key] : queued) Enqueue(runs_.at(key));
    return absl::OkStatus();
  }

  // Whether a stored unfinished run can be rebuilt: a known state, and a call node to run.
  static absl::Status CheckRecoverable(const internal::StoredRun& stored) {
    const v1::RunState state = stored.run().state();
    if (state == v1::RUN_STATE_UNSPECIFIED || !v1::RunState_IsValid(state)) {
      return absl::DataLossError(absl::StrCat("has no valid state (", static_cast<int>(state), ")"));
    }
    if (stored.node().function().empty() || stored.node().id().empty()) {
      return absl::DataLossError("has no call node");
    }
    if (stored.input_run_ids_size() > stored.node().args_size()) {
      return absl::DataLossError(absl::StrCat("names ", stored.input_run_ids_size(),
                                              " producers for ", stored.node().args_size(),
                                              " arguments"));
    }
    return absl::OkStatus();
  }

  // A job with a record that Recover cannot rebuild (`why` names the record) ends FAILED with an
  // INTERNAL error saying so, instead of failing every start (a crash loop). Its runs' records
  // are left as they are, for inspection: a job that ended is not recovered again, so they are
  // never read by recovery again. Runs already rebuilt from its earlier records are dropped.
  void QuarantineJob(uint64_t job_id, const std::string& why) {
    std::fprintf(stderr, "sematic-scheduler: BUG: job %s cannot be recovered: %s (failing it)\n",
                 FormatJobId(job_id).c_str(), why.c_str());
    for (auto it = runs_.begin(); it != runs_.end();) {
      auto next = std::next(it);
      if (it->first.job == job_id) runs_.erase(it);
      it = next;
    }
    LiveJob& job = jobs_.at(job_id);
    v1::Job& j = *job.stored.mutable_job();
    j.set_state(v1::JOB_FAILED);
    j.set_error(absl::StrCat("INTERNAL: job ", j.id(), " could not be recovered after a restart: ",
                             why));
    j.set_ended_unix_micros(Micros(absl::Now()));
    batch_.PutJob(job.stored);  // committed with the first turn
    jobs_.erase(job_id);
  }

  void EndRecovery() {
    std::vector<RunKey> orphans(orphans_.begin(), orphans_.end());
    orphans_.clear();
    for (const RunKey& key : orphans) {
      AttemptFailed(key, FailureKind::kInfrastructure,
                    absl::UnavailableError("no worker reported the run after a scheduler restart"));
    }
  }

  const SchedulerOptions options_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<PlacementPolicy> policy_;
  ArtifactService artifacts_;
  const std::string scheduler_id_;
  const absl::Time started_;
  std::atomic<WorkerSessionId> next_session_{0};
  std::atomic<bool> shut_down_{false};

  // Loop-owned state.
  std::mt19937_64 rng_;
  Store::Batch batch_;
  Store::Batch creations_;  // see CreationBatch
  // Producers of each argument (kNoProducer: a literal or artifact) of new runs taking another
  // run's output, until their record is written: kept as keys rather than as the record's id
  // strings (a million-run gather's parts name a million producers).
  static constexpr RunKey kNoProducer{0, 0};
  absl::flat_hash_map<RunKey, std::vector<RunKey>> unrecorded_producers_;
  std::vector<std::function<void()>> outbox_;
  std::vector<std::function<void()>> reads_;  // run after the turn's commit
  absl::node_hash_map<uint64_t, LiveJob> jobs_;
  // Node-based: LiveRun references stay valid while other runs are added (AddGraph under a
  // parent) or retired.
  absl::node_hash_map<RunKey, LiveRun> runs_;
  // QUEUED runs by "function@version" (entries of runs cancelled while queued are dropped
  // lazily); queued_runs_ counts the entries.
  std::map<std::string, DispatchQueue> queues_;  // a map: Dispatch may add queues while it walks them
  size_t queued_runs_ = 0;
  DispatchQueue* last_queue_ = nullptr;  // see QueueOf
  std::map<WorkerSessionId, WorkerSession> sessions_;
  uint64_t sessions_generation_ = 1;
  std::vector<WorkerSessionId> sessions_with_acks_;  // whose unsent_ack may have entries
  absl::flat_hash_set<RunKey> orphans_;
  std::vector<std::pair<RunKey, absl::Status>> bugs_;  // see ReportBug
  std::string failing_cause_;  // while FailRun cascades: "run <id> (<function>) failed"
  CrashTriage triage_;
  // QUEUED runs that must run alone (LossHistory::run_alone), in the order queued; counted in
  // queued_runs_.
  std::deque<RunKey> alone_queue_;
  std::vector<RunKey> ready_after_recovery_;
  absl::flat_hash_map<std::string, uint64_t> pending_idempotency_;
  absl::flat_hash_map<RunKey, uint64_t> next_log_index_;
  absl::flat_hash_map<RunKey, uint64_t> next_metric_index_;
  // Log followers waiting for a line of the run, or for its end (see DoReadRunLogs).
  absl::flat_hash_map<RunKey, std::vector<std::function<void()>>> log_waiters_;
  // Output child -> the nested run it completes.
  absl::flat_hash_map<RunKey, RunKey> output_parent_;
  // Small values by digest, to inline them in assignments without reading their blob.
  // Gathers with more inputs are split (SplitLargeGathers): no run record lists more.
  static constexpr int kMaxGatherInputs = 1024;
  // Artifacts up to this size live in their record in the store; larger ones in blob files.
  static constexpr size_t kSmallValueBytes = 64 * 1024;
  // The value cache's budget, counting each entry's digest, control block and hash slot too.
  // Full, it is emptied (not evicted entry by entry) once nothing is in flight: its entries
  // may be values of turns still being written, which the store cannot answer for yet.
  static constexpr size_t kValueCacheBytes = size_t{64} << 20;
  static constexpr size_t kValueCacheEntryBytes = 224;
  static constexpr size_t kTurnBatchBytes = size_t{256} << 10;
  absl::flat_hash_map<std::string, std::shared_ptr<const v1::Value>> values_;
  // Small values that values_ could not take, until the turn that wrote them is committed.
  absl::flat_hash_map<std::string, std::shared_ptr<const v1::Value>> uncommitted_values_;
  // Digests this turn added to uncommitted_values_.
  std::vector<std::string> unreleased_this_turn_;
  std::vector<RunKey> dirty_runs_;           // see LiveRun::dirty
  std::vector<uint64_t> jobs_with_unsent_events_;  // see LiveJob::unsent_events
  absl::flat_hash_set<uint64_t> dirty_jobs_;  // written at the turn's end
  size_t cached_bytes_ = 0;
  bool value_cache_full_ = false;
  uint64_t last_job_id_ = 0;
  absl::Time recovering_until_ = absl::InfinitePast();
  bool shutting_down_ = false;

  // ListRunGroups answers by job (DoListRunGroups).
  struct CachedRunGroups {
    v1::ListRunGroupsResponse groups;
    bool ended = false;      // the job had ended: the answer cannot change
    absl::Time fresh_until;  // a live job's answer is reused until then
  };
  static constexpr size_t kRunGroupsCached = 64;
  absl::flat_hash_map<uint64_t, CachedRunGroups> run_groups_cache_;
  LatencyHistogram dispatch_latency_;  // queued (and due) to assigned, per attempt
  LatencyHistogram commit_latency_;    // every store write of turns, inline or pipelined
  std::unique_ptr<CommitPipeline> commits_;  // outlives the loop, whose last turns drain it
  std::unique_ptr<EventLoop> loop_;  // last: stopped first
};

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(SchedulerOptions options) {
  if (options.data_dir.empty()) return absl::InvalidArgumentError("data_dir: required");
  ASSIGN_OR_RETURN(std::unique_ptr<PlacementPolicy> policy,
                   MakePlacementPolicy(options.placement));
  StoreOptions store_options;
  store_options.path = options.data_dir + "/db";
  store_options.sync = options.sync;
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open(store_options));
  BlobStoreOptions blob_options;
  blob_options.dir = options.data_dir + "/blobs";
  blob_options.sync = options.sync;
  ASSIGN_OR_RETURN(std::unique_ptr<BlobStore> blobs, BlobStore::Open(blob_options));
  auto scheduler = std::make_unique<SchedulerImpl>(std::move(options), std::move(store),
                                                   std::move(blobs), std::move(policy));
  RETURN_IF_ERROR(scheduler->Start());
  return std::unique_ptr<Scheduler>(std::move(scheduler));
}

}  // namespace sematic::scheduler
