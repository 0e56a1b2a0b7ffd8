// The worker core. All state is owned by one EventLoop (`loop_`); step bodies run on a
// ThreadPool and post their outcome back to the loop. Logs from step threads go to a LogBuffer
// (its own mutex) that the loop drains. At the end of every loop turn the turn's finished
// results go out as one ResultBatch, after the logs that precede them.
#include "worker/worker.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/digest.h"
#include "common/event_loop.h"
#include "common/ids.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "common/thread_pool.h"
#include "common/worker_protocol.h"
#include "google/protobuf/util/message_differencer.h"
#include "sematic/codec.h"
#include "sematic/context.h"
#include "sematic/func.h"
#include "sematic/payload.h"
#include "worker/artifact_cache.h"
#include "worker/output_lines.h"
#include "worker/payload_files.h"
#include "worker/resource_ledger.h"
#include "worker/result_book.h"
#include "worker/step_process.h"

namespace sematic::worker {
namespace {

// True on a step thread while it reports its step's end: a run launched meanwhile (by that
// report, in a loop turn lent by this thread) starts on this thread next.
thread_local bool finishing_step_thread = false;

int64_t NowMicros() { return absl::ToUnixMicros(absl::Now()); }

using AttemptKey = std::pair<std::string, int>;

AttemptKey KeyOf(const std::string& run_id, int attempt) { return {run_id, attempt}; }

v1::RunAttempt AttemptOf(const AttemptKey& key) {
  v1::RunAttempt a;
  a.set_run_id(key.first);
  a.set_attempt(key.second);
  return a;
}

v1::RunResult ErrorResult(const std::string& run_id, int attempt, v1::ErrorKind kind,
                          std::string message, bool retryable) {
  v1::RunResult r;
  r.set_run_id(run_id);
  r.set_attempt(attempt);
  v1::RunError* error = r.mutable_error();
  error->set_kind(kind);
  error->set_message(std::move(message));
  error->set_retryable(retryable);
  const int64_t now = NowMicros();
  r.set_started_unix_micros(now);
  r.set_ended_unix_micros(now);
  return r;
}

// Protobuf serializes and parses messages of at most 2 GiB - 1 bytes.
constexpr size_t kMaxMessageBytes = INT_MAX;

// What a RunResult adds to its WorkerMessage beyond its own size (field tags and lengths).
constexpr size_t kResultFramingBytes = 16;

std::string TooLargeForOneMessage(size_t bytes) {
  return absl::StrCat("the output is ", bytes,
                      " bytes encoded with its large payloads stored apart: protobuf's 2 GiB "
                      "message limit holds for the rest (strings, Bytes, lists; see "
                      "docs/architecture.md, \"Values of 2 GiB and more\")");
}

// The distinct refs of every literal argument in `graph`.
std::vector<v1::PayloadRef> GraphPayloadRefs(const v1::Graph& graph) {
  std::vector<v1::PayloadRef> refs;
  absl::flat_hash_set<std::string> seen;
  for (const v1::CallNode& node : graph.nodes()) {
    for (const v1::Arg& arg : node.args()) {
      if (!arg.has_literal()) continue;
      for (v1::PayloadRef& ref : PayloadRefs(arg.literal())) {
        if (seen.insert(ref.digest()).second) refs.push_back(std::move(ref));
      }
    }
  }
  return refs;
}

// ExternalizePayloads over every literal argument of `graph`.
std::vector<Payload> ExternalizeGraphPayloads(v1::Graph* graph) {
  std::vector<Payload> payloads;
  for (v1::CallNode& node : *graph->mutable_nodes()) {
    for (v1::Arg& arg : *node.mutable_args()) {
      if (!arg.has_literal()) continue;
      for (Payload& p : ExternalizePayloads(arg.mutable_literal())) {
        payloads.push_back(std::move(p));
      }
    }
  }
  return payloads;
}

std::string DefaultWorkerId() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return absl::StrCat(host[0] != '\0' ? host : "worker", "-", getpid(), "-",
                      RandomHex64().substr(0, 8));
}

// Logs and metrics of running steps, written by their threads, drained by the loop.
class LogBuffer : public ContextSink {
 public:
  // `on_first_entry` runs (on the logging thread, without the lock) whenever an entry lands
  // in an empty buffer: the owner schedules a flush then.
  LogBuffer(size_t max_entries, std::function<void()> on_first_entry)
      : max_entries_(max_entries), on_first_entry_(std::move(on_first_entry)) {}

  void OnLog(const Context& context, std::string_view line) override {
    bool first;
    {
      absl::MutexLock lock(&mu_);
      first = count_ == 0;
      v1::LogEntry* entry = RunLocked(context)->add_entries();
      entry->set_unix_micros(NowMicros());
      entry->set_text(ValidUtf8(line));  // proto3 strings must be UTF-8, step output need not be
      ++count_;
      TrimLocked();
    }
    if (first) on_first_entry_();
  }

  void OnMetric(const Context& context, std::string_view name, double value,
                int64_t step) override {
    bool first;
    {
      absl::MutexLock lock(&mu_);
      first = count_ == 0;
      v1::MetricPoint* point = RunLocked(context)->add_metrics();
      point->set_name(std::string(name));
      point->set_value(value);
      point->set_step(step);
      point->set_unix_micros(NowMicros());
      ++count_;
      TrimLocked();
    }
    if (first) on_first_entry_();
  }

  // Everything buffered, in one batch; empty when there is nothing.
  std::optional<v1::LogBatch> Take() {
    absl::MutexLock lock(&mu_);
    if (runs_.empty()) return std::nullopt;
    v1::LogBatch batch;
    for (auto& [key, logs] : runs_) *batch.add_runs() = std::move(logs);
    runs_.clear();
    count_ = 0;
    return batch;
  }

 private:
  v1::RunLogs* RunLocked(const Context& context) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto [it, inserted] = runs_.try_emplace(KeyOf(context.run_id(), context.attempt()));
    if (inserted) {
      it->second.set_run_id(context.run_id());
      it->second.set_attempt(context.attempt());
    }
    return &it->second;
  }

  // Without a stream the buffer would grow without bound: drop the oldest run's lines.
  void TrimLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    while (count_ > max_entries_ && !runs_.empty()) {
      auto it = runs_.begin();
      count_ -= it->second.entries_size() + it->second.metrics_size();
      runs_.erase(it);
    }
  }

  const size_t max_entries_;
  const std::function<void()> on_first_entry_;
  absl::Mutex mu_;
  std::map<AttemptKey, v1::RunLogs> runs_ ABSL_GUARDED_BY(mu_);
  size_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

class WorkerImpl : public Worker {
 public:
  WorkerImpl(WorkerOptions options, std::unique_ptr<Connector> connector,
             std::unique_ptr<ArtifactClient> artifacts, std::unique_ptr<ArtifactCache> cache)
      : options_(std::move(options)),
        connector_(std::move(connector)),
        artifacts_(std::move(artifacts)),
        cache_(std::move(cache)),
        logs_(options_.max_buffered_log_entries,
              [this] {
                loop_.RunAt(absl::Now() + options_.log_flush_interval, [this] { FlushLogs(); });
              }),
        ledger_(options_.resources, options_.max_concurrent_runs),
        rng_(std::random_device{}()),
        loop_([this] { EndOfTurn(); }),
        pool_(options_.max_concurrent_runs) {
    for (const FuncInfo* f : ListFuncs()) functions_.push_back(SignatureOf(*f));
  }

  ~WorkerImpl() override {
    loop_.RunSync([this] {
      stopping_ = true;
      ++generation_;  // callbacks of the current stream are now ignored
      stream_.reset();
      for (auto& [key, run] : runs_) run.cancelled->store(true);
    });
    // Members are destroyed in reverse order: the pool first (waiting for running steps,
    // whose completions are posted to the loop), then the loop (running what was posted).
  }

  void Start() override {
    loop_.Post([this] {
      if (!started_) {
        started_ = true;
        Connect();
      }
    });
  }

  void Drain() override {
    loop_.Post([this] { BeginDrain("drain requested"); });
  }

  absl::Status WaitUntilDrained(absl::Duration timeout) override {
    if (drained_.WaitForNotificationWithTimeout(timeout)) return absl::OkStatus();
    return absl::DeadlineExceededError(
        absl::StrCat("the worker did not drain within ", absl::FormatDuration(timeout)));
  }

  const std::string& id() const override { return options_.worker_id; }
  bool connected() const override { return connected_.load(); }

 private:
  // An assignment sent ahead (Assignment.queued) that waits for room.
  struct Waiting {
    v1::Assignment assignment;
    const FuncInfo* func = nullptr;
    Demand demand;
    AttemptKey key() const { return KeyOf(assignment.run_id(), assignment.attempt()); }
  };

  struct Run {
    v1::Assignment assignment;
    const FuncInfo* func = nullptr;
    Demand demand;
    std::vector<int> gpu_ids;
    std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);
    v1::ErrorKind stop_kind = v1::ERROR_KIND_UNSPECIFIED;  // CANCELLED or TIMEOUT once stopped
    std::string stop_reason;
    // True once the attempt's outcome is settled without the step (grace expired, abandoned):
    // its slot is free and whatever the step returns later is discarded.
    bool settled = false;
    absl::Time launched;
    bool announced = false;  // listed in a heartbeat sent since it started
  };

  // "sematic-worker ID: <what>" to options_.notice, or stderr.
  void Notice(const std::string& what) const {
    const std::string line = absl::StrCat("sematic-worker ", options_.worker_id, ": ", what);
    if (options_.notice) {
      options_.notice(line);
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
  }

  // ---- Stream --------------------------------------------------------------------------------

  void Connect() {
    if (stopping_) return;
    const uint64_t generation = ++generation_;
    welcomed_ = false;
    stream_ = connector_->Connect(
        [this, generation](v1::SchedulerMessage m) {
          loop_.Post([this, generation, m = std::move(m)]() mutable {
            if (generation == generation_) OnMessage(std::move(m));
          });
        },
        [this, generation](absl::Status why) {
          loop_.Post([this, generation, why] {
            if (generation == generation_) OnStreamClosed(why);
          });
        });
    v1::WorkerMessage hello;
    v1::Hello* h = hello.mutable_hello();
    h->set_worker_id(options_.worker_id);
    for (const v1::FunctionSignature& f : functions_) *h->add_functions() = f;
    *h->mutable_resources() = options_.resources;
    for (const auto& [k, v] : options_.labels) (*h->mutable_labels())[k] = v;
    h->set_max_concurrent_runs(options_.max_concurrent_runs);
    // Still running, or finished but not acknowledged: a restarted scheduler keeps these
    // attempts for us instead of running them again.
    for (const auto& [key, run] : runs_) {
      if (!run.settled) *h->add_in_flight() = AttemptOf(key);
    }
    for (const v1::RunAttempt& a : results_.Held()) {
      if (!runs_.contains(KeyOf(a.run_id(), a.attempt()))) *h->add_in_flight() = a;
    }
    // Sent ahead and still waiting: ours too (a restarted scheduler keeps them here rather than
    // running them again elsewhere; one that re-queued them abandons them in its Welcome).
    for (const Waiting& w : waiting_) {
      *h->add_in_flight() = AttemptOf(w.key());
    }
    stream_->Send(std::move(hello));
  }

  void OnStreamClosed(const absl::Status& why) {
    const bool was_welcomed = welcomed_;
    stream_.reset();
    welcomed_ = false;
    connected_ = false;
    results_.MarkAllUnsent();
    if (stopping_) return;
    ++generation_;  // the heartbeat timer of the old stream stops
    absl::Duration delay = options_.reconnect_initial_backoff *
                           std::pow(2.0, std::min(reconnect_attempts_, 30));
    delay = std::min(delay, options_.reconnect_max_backoff);
    std::uniform_real_distribution<double> jitter(0.5, 1.0);  // spreads a fleet's reconnects
    delay *= jitter(rng_);
    ++reconnect_attempts_;
    // A stream never welcomed means no scheduler is there (yet: started after this worker, or
    // the wrong address): say what we wait for. A welcomed one was lost.
    const std::string cause =
        absl::IsUnavailable(why) ? std::string(why.message()) : why.ToString();
    const std::string when = absl::FormatDuration(absl::Trunc(
        delay, delay >= absl::Seconds(1) ? absl::Milliseconds(100) : absl::Milliseconds(1)));
    Notice(was_welcomed ? absl::StrCat("lost ", connector_->Describe(), " (", cause,
                                       "); reconnecting in ", when)
                        : absl::StrCat("waiting for ", connector_->Describe(), " (", cause,
                                       "); retrying in ", when));
    loop_.RunAt(absl::Now() + delay, [this] { Connect(); });
  }

  void OnMessage(v1::SchedulerMessage message) {
    switch (message.message_case()) {
      case v1::SchedulerMessage::kWelcome:
        OnWelcome(message.welcome());
        break;
      case v1::SchedulerMessage::kAssignments:
        for (v1::Assignment& a : *message.mutable_assignments()->mutable_assignments()) {
          StartRun(std::move(a));
        }
        break;
      case v1::SchedulerMessage::kCancel:
        for (const v1::RunAttempt& a : message.cancel().runs()) {
          const AttemptKey key = KeyOf(a.run_id(), a.attempt());
          const std::string why = absl::StrCat("cancelled: ", message.cancel().reason());
          auto it = runs_.find(key);
          if (it != runs_.end()) {
            Stop(it->first, it->second, v1::CANCELLED, why);
          } else {
            RefuseWaiting(
                [&](const Waiting& w) {
                  return w.key() == key;
                },
                v1::CANCELLED, why, false);
          }
        }
        break;
      case v1::SchedulerMessage::kDrain:
        BeginDrain(absl::StrCat("the scheduler asked: ", message.drain().reason()));
        break;
      case v1::SchedulerMessage::MESSAGE_NOT_SET:
        break;
    }
    if (message.has_ack()) {  // alone, or with the assignments of the same scheduler turn
      results_.Acknowledge(message.ack());
      MaybeDrained();
    }
  }

  void OnWelcome(const v1::Welcome& welcome) {
    welcomed_ = true;
    connected_ = true;
    reconnect_attempts_ = 0;
    for (const v1::RunAttempt& a : welcome.abandon()) {  // before Settle starts waiting ones
      const AttemptKey key = KeyOf(a.run_id(), a.attempt());
      std::erase_if(waiting_, [&](const Waiting& w) {
        return w.key() == key;
      });
    }
    for (const v1::RunAttempt& a : welcome.abandon()) {
      results_.Forget(a);
      auto it = runs_.find(KeyOf(a.run_id(), a.attempt()));
      if (it == runs_.end() || it->second.settled) continue;
      it->second.cancelled->store(true);
      Settle(it->second);  // the scheduler no longer counts it against us
    }
    heartbeat_interval_ = absl::Milliseconds(
        welcome.heartbeat_interval_millis() > 0 ? welcome.heartbeat_interval_millis() : 5000);
    scheduler_max_message_bytes_.store(welcome.max_message_bytes());
    ScheduleHeartbeat(generation_);
    if (draining_) SendHeartbeat();  // a scheduler met anew learns it at once
    FlushLogs();
    // Unacknowledged results go out again at the end of this turn.
    MaybeDrained();
  }

  void ScheduleHeartbeat(uint64_t generation) {
    loop_.RunAt(absl::Now() + heartbeat_interval_, [this, generation] {
      if (generation != generation_ || !welcomed_ || stream_ == nullptr) return;
      SendHeartbeat();
      ScheduleHeartbeat(generation);
    });
  }

  // Lists every running attempt (the scheduler shows them RUNNING from then on).
  void SendHeartbeat() {
    v1::WorkerMessage m;
    v1::Heartbeat* hb = m.mutable_heartbeat();
    hb->set_unix_micros(NowMicros());
    hb->set_draining(draining_);
    for (auto& [key, run] : runs_) {
      if (run.settled) continue;
      *hb->add_running() = AttemptOf(key);
      run.announced = true;
    }
    stream_->Send(std::move(m));
  }

  // After every loop turn: the turn's results in one batch (unless they wait for company, see
  // HoldResults), then news of started runs.
  void EndOfTurn() {
    if (stream_ == nullptr || !welcomed_) return;
    if (results_.HasUnsent() && !HoldResults()) SendResults();
    if (runs_started_ && !started_notice_due_) ArmStartedNotice();
  }

  // News of a started run waits until it has run for started_notice_delay (see WorkerOptions):
  // the timer is set for the earliest run not yet announced, and when it fires a heartbeat goes
  // out only if some run has run that long. Back-to-back short steps are never announced: their
  // results say it all.
  void ArmStartedNotice() {
    std::optional<absl::Time> earliest;
    for (const auto& [key, run] : runs_) {
      if (run.settled || run.announced) continue;
      if (!earliest.has_value() || run.launched < *earliest) earliest = run.launched;
    }
    runs_started_ = false;
    if (!earliest.has_value()) return;
    started_notice_due_ = true;
    loop_.RunAt(*earliest + options_.started_notice_delay, [this, generation = generation_] {
      started_notice_due_ = false;
      runs_started_ = true;  // the end of this turn arms the timer for the next one
      if (generation != generation_ || stream_ == nullptr || !welcomed_) return;
      const absl::Time due = absl::Now() - options_.started_notice_delay;
      if (std::any_of(runs_.begin(), runs_.end(), [&](const auto& entry) {
            const Run& run = entry.second;
            return !run.settled && !run.announced && run.launched <= due;
          })) {
        SendHeartbeat();
      }
    });
  }

  // Whether the unsent results wait for company (WorkerOptions::result_hold): while more runs
  // sent ahead wait here than results are unsent (the scheduler needs none of them to keep us
  // busy), fewer than kMostResultsHeld (common/worker_protocol.h: a batch that size spreads a
  // message's cost thin, and the scheduler relies on the bound), not past the hold, not while
  // draining. Held ones go up at the end of the turn in which one of those stops being true.
  bool HoldResults() {
    const size_t unsent = results_.UnsentCount();
    if (options_.result_hold <= absl::ZeroDuration() || draining_ || unsent >= waiting_.size() ||
        unsent >= kMostResultsHeld) {
      results_held_until_.reset();
      return false;
    }
    const absl::Time now = absl::Now();
    if (!results_held_until_.has_value()) {
      results_held_until_ = now + options_.result_hold;
      loop_.RunAt(*results_held_until_, [] {});  // a turn, whose end sends them
      return true;
    }
    if (now < *results_held_until_) return true;
    results_held_until_.reset();
    return false;
  }

  // The unsent results, in as few messages as the scheduler's limit allows, after the logs
  // that precede them (the scheduler drops logs of runs it has retired).
  void SendResults() {
    results_held_until_.reset();
    std::vector<v1::RunResult> results = results_.TakeUnsent();
    if (!results.empty()) {
      FlushLogs();
      // Several messages when one would pass the scheduler's limit (each result alone fits:
      // Execute fails the runs whose result does not).
      const int64_t limit = scheduler_max_message_bytes_.load();
      v1::WorkerMessage m;
      size_t bytes = 0;
      for (v1::RunResult& r : results) {
        const size_t size = r.ByteSizeLong() + kResultFramingBytes;
        if (limit > 0 && bytes > 0 && bytes + size > static_cast<size_t>(limit)) {
          stream_->Send(std::exchange(m, v1::WorkerMessage()));
          bytes = 0;
        }
        *m.mutable_results()->add_results() = std::move(r);
        bytes += size;
      }
      stream_->Send(std::move(m));
    }
  }

  // Logs wait in the buffer while no scheduler has welcomed us (up to its cap).
  void FlushLogs() {
    if (stream_ == nullptr || !welcomed_) return;
    std::optional<v1::LogBatch> batch = logs_.Take();
    if (!batch.has_value()) return;
    v1::WorkerMessage m;
    *m.mutable_logs() = *std::move(batch);
    stream_->Send(std::move(m));
  }

  // ---- Runs ----------------------------------------------------------------------------------

  void Reject(const v1::Assignment& a, v1::ErrorKind kind, std::string why, bool retryable,
              bool never_started = false) {
    v1::RunResult r = ErrorResult(a.run_id(), a.attempt(), kind,
                                  absl::StrCat("worker ", options_.worker_id, ": ", why),
                                  retryable);
    r.mutable_error()->set_never_started(never_started);
    results_.Add(std::move(r));
  }

  void StartRun(v1::Assignment a) {
    const AttemptKey key = KeyOf(a.run_id(), a.attempt());
    if (runs_.contains(key) || results_.Contains(AttemptOf(key)) || IsWaiting(key)) {
      return;  // a duplicate
    }
    if (draining_) {
      Reject(a, v1::INFRASTRUCTURE, "draining; takes no new runs", true, /*never_started=*/true);
      return;
    }
    absl::StatusOr<const FuncInfo*> func = FindFunc(a.function(), a.version());
    if (!func.ok()) {
      Reject(a, v1::INFRASTRUCTURE, std::string(func.status().message()), true);
      return;
    }
    Demand demand = DemandOf((*func)->options);
    if (a.queued() && !waiting_.empty()) {  // in arrival order, behind those waiting already
      waiting_.push_back({std::move(a), *func, std::move(demand)});
      return;
    }
    absl::StatusOr<std::vector<int>> gpus = ledger_.Reserve(demand);
    if (!gpus.ok()) {
      if (a.queued()) {
        waiting_.push_back({std::move(a), *func, std::move(demand)});
        return;
      }
      Reject(a, v1::INFRASTRUCTURE,
             absl::StrCat("over the announced capacity: ", gpus.status().message()), true);
      return;
    }
    Launch(key, std::move(a), *func, std::move(demand), *std::move(gpus));
  }

  bool IsWaiting(const AttemptKey& key) const {
    return std::any_of(waiting_.begin(), waiting_.end(), [&](const Waiting& w) {
      return w.key() == key;
    });
  }

  // Answers the waiting assignments that will not start here (cancelled, or the worker drains).
  void RefuseWaiting(const std::function<bool(const Waiting&)>& which, v1::ErrorKind kind,
                     const std::string& why, bool retryable) {
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (!which(*it)) {
        ++it;
        continue;
      }
      v1::RunResult r = ErrorResult(it->assignment.run_id(), it->assignment.attempt(), kind,
                                    absl::StrCat("worker ", options_.worker_id, ": ", why),
                                    retryable);
      r.mutable_error()->set_never_started(true);
      results_.Add(std::move(r));
      it = waiting_.erase(it);
    }
  }

  // Starts waiting (queued) assignments, in arrival order, while the head fits.
  void StartWaiting() {
    while (!waiting_.empty() && !draining_ && !stopping_) {
      Waiting& head = waiting_.front();
      absl::StatusOr<std::vector<int>> gpus = ledger_.Reserve(head.demand);
      if (!gpus.ok()) return;
      const AttemptKey key = head.key();
      Waiting next = std::move(head);
      waiting_.pop_front();
      Launch(key, std::move(next.assignment), next.func, std::move(next.demand),
             *std::move(gpus));
    }
  }

  // Runs an assignment whose resources are reserved.
  void Launch(const AttemptKey& key, v1::Assignment a, const FuncInfo* func, Demand demand,
              std::vector<int> gpu_ids) {
    Run& run = runs_[key];
    run.func = func;
    run.demand = std::move(demand);
    run.gpu_ids = std::move(gpu_ids);
    run.assignment = std::move(a);
    run.launched = absl::Now();
    runs_started_ = true;
    if (run.assignment.deadline_unix_micros() > 0) {
      loop_.RunAt(absl::FromUnixMicros(run.assignment.deadline_unix_micros()), [this, key] {
        auto it = runs_.find(key);
        if (it != runs_.end()) Stop(key, it->second, v1::TIMEOUT, "the deadline passed");
      });
    }
    auto step = [this, key, assignment = run.assignment, func = run.func,
                 gpu_ids = run.gpu_ids, cancelled = run.cancelled] {
      v1::RunResult result = Execute(assignment, *func, gpu_ids, cancelled);
      // Reported on this thread when the loop is idle: the run it starts next (a waiting one
      // now fits) then starts here too, without waking another thread (see Launch).
      finishing_step_thread = true;
      loop_.PostOrRunHere([this, key, result = std::move(result)]() mutable {
        OnFinished(key, std::move(result));
      });
      finishing_step_thread = false;
    };
    if (finishing_step_thread) {
      finishing_step_thread = false;  // one successor per finished step
      pool_.ScheduleHere(std::move(step));
    } else {
      pool_.Schedule(std::move(step));
    }
  }

  // Tells the step to stop; if it has not returned within the grace period, its attempt is
  // reported as `kind` and its slot freed (its thread stays busy until it returns; under
  // process isolation its process gets SIGTERM now and SIGKILL at the same deadline).
  void Stop(const AttemptKey& key, Run& run, v1::ErrorKind kind, std::string reason) {
    if (run.settled || run.stop_kind != v1::ERROR_KIND_UNSPECIFIED) return;
    run.stop_kind = kind;
    run.stop_reason = std::move(reason);
    run.cancelled->store(true);
    loop_.RunAt(absl::Now() + options_.cancel_grace, [this, key] {
      auto it = runs_.find(key);
      if (it == runs_.end() || it->second.settled) return;
      Run& late = it->second;
      Notice(absl::StrCat(
          "step ", late.func->name, " (run ", key.first, ") ignored cancellation for ",
          absl::FormatDuration(options_.cancel_grace), "; ",
          options_.isolation == Isolation::kProcess ? "its process is killed"
                                                    : "its thread stays busy until it returns"));
      results_.Add(StoppedResult(key, late));
      Settle(late);
    });
  }

  v1::RunResult StoppedResult(const AttemptKey& key, const Run& run) {
    // A timeout may succeed on another attempt; a cancellation is final.
    return ErrorResult(key.first, key.second, run.stop_kind, run.stop_reason,
                       /*retryable=*/run.stop_kind == v1::TIMEOUT);
  }

  // Frees the run's resources; whatever its step returns later is dropped.
  void Settle(Run& run) {
    if (run.settled) return;
    run.settled = true;
    ledger_.Release(run.demand, run.gpu_ids);
    StartWaiting();
    MaybeDrained();
  }

  void OnFinished(const AttemptKey& key, v1::RunResult result) {
    auto it = runs_.find(key);
    if (it == runs_.end()) return;
    Run& run = it->second;
    if (!run.settled) {
      results_.Add(run.stop_kind != v1::ERROR_KIND_UNSPECIFIED ? StoppedResult(key, run)
                                                               : std::move(result));
      Settle(run);
    }
    runs_.erase(it);
    MaybeDrained();
  }

  // ---- Draining ------------------------------------------------------------------------------

  void BeginDrain(const std::string& why) {
    if (!draining_) {
      Notice(absl::StrCat("draining (", why, ")"));
    }
    const bool began = !draining_;
    draining_ = true;
    RefuseWaiting([](const Waiting&) { return true; }, v1::INFRASTRUCTURE,
                  "draining; takes no new runs", true);
    // The scheduler stops placing runs here once it hears (every heartbeat says so from now on).
    if (began && stream_ != nullptr && welcomed_) SendHeartbeat();
    MaybeDrained();
  }

  void MaybeDrained() {
    if (!draining_ || drained_.HasBeenNotified() || !results_.empty()) return;
    for (const auto& [key, run] : runs_) {
      if (!run.settled) return;
    }
    drained_.Notify();
  }

  // ---- Execution (on a pool thread) ----------------------------------------------------------

  // An artifact's or payload's bytes: a cache hit, or downloaded, verified and cached.
  absl::StatusOr<std::string> FetchVerified(const std::string& digest) {
    if (cache_ != nullptr) {
      if (std::optional<std::string> hit = cache_->Get(digest); hit.has_value()) return *hit;
    }
    if (artifacts_ == nullptr) {
      return absl::FailedPreconditionError("no artifact service to download inputs from");
    }
    ASSIGN_OR_RETURN(std::string bytes, artifacts_->Download(digest));
    if (Sha256Hex(bytes) != digest) {
      return absl::DataLossError(absl::StrCat("artifact ", digest, ": corrupt download"));
    }
    if (cache_ != nullptr) cache_->Insert(digest, bytes).IgnoreError();  // best effort
    return bytes;
  }

  // The input's value (its payloads still refs).
  absl::StatusOr<v1::TypedValue> FetchInput(const std::string& digest) {
    ASSIGN_OR_RETURN(const std::string bytes, FetchVerified(digest));
    v1::TypedValue value;
    if (!value.ParseFromString(bytes)) {
      return absl::DataLossError(absl::StrCat("artifact ", digest, " is not a TypedValue"));
    }
    return value;
  }

  absl::StatusOr<std::string> FetchPayload(const v1::PayloadRef& ref) {
    return FetchVerified(ref.digest());
  }

  // Uploads the payloads the service lacks (one FindMissing for all), and caches them.
  absl::Status UploadPayloads(const std::vector<Payload>& payloads, Context& context) {
    if (payloads.empty()) return absl::OkStatus();
    if (artifacts_ == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the output holds ", payloads.size(), " payloads of ", kPayloadThresholdBytes,
          " bytes or more, and this worker has no artifact service to store them"));
    }
    std::vector<std::string> digests;
    for (const Payload& p : payloads) digests.push_back(p.digest);
    ASSIGN_OR_RETURN(std::vector<std::string> missing, artifacts_->FindMissing(digests));
    absl::flat_hash_set<std::string> lacking(missing.begin(), missing.end());
    for (const Payload& p : payloads) {
      if (lacking.erase(p.digest) == 0) {  // stored before, or an equal payload was just sent
        context.Log("payload ", p.digest, " is already stored: not uploaded again");
        continue;
      }
      RETURN_IF_ERROR(artifacts_->UploadPayload(p.digest, p.bytes));
      context.Log("payload ", p.digest, " uploaded (", p.bytes.size(), " bytes)");
      if (cache_ != nullptr) cache_->Insert(p.digest, p.bytes).IgnoreError();
    }
    return absl::OkStatus();
  }

  // Sends a large output through the artifact service, unless it already has it. Says which
  // in the run's log.
  absl::StatusOr<std::string> UploadOutput(const v1::TypeDesc& type, const v1::Value& value,
                                           Context& context) {
    ASSIGN_OR_RETURN(const std::string bytes, CanonicalBytes(type, value));
    const std::string digest = Sha256Hex(bytes);
    ASSIGN_OR_RETURN(std::vector<std::string> missing, artifacts_->FindMissing({digest}));
    if (missing.empty()) {
      context.Log("output artifact ", digest, " is already stored: not uploaded again");
    } else {
      RETURN_IF_ERROR(artifacts_->Upload(digest, bytes));
      context.Log("output artifact ", digest, " uploaded (", bytes.size(), " bytes)");
    }
    if (cache_ != nullptr) cache_->Insert(digest, bytes).IgnoreError();
    return digest;
  }

  // Runs the step in a child process (worker/step_process.h). `fetched` holds the inputs given
  // by digest (moved into the request). Payloads cross as files of a directory that lives for
  // the attempt: the inputs' are written there, the output's are read back into `payloads` (the
  // outcome holds their refs). An error means the child crashed or never reported, or a payload
  // could not be fetched or read.
  absl::StatusOr<StepResult> InvokeInChildProcess(const v1::Assignment& a,
                                                  std::vector<v1::TypedValue>& fetched,
                                                  const Context& context,
                                                  const std::atomic<bool>& cancelled,
                                                  std::vector<Payload>& payloads) {
    internal::StepProcessRequest request;
    v1::Assignment& inline_assignment = *request.mutable_assignment();
    inline_assignment = a;
    ASSIGN_OR_RETURN(std::unique_ptr<PayloadDir> dir, PayloadDir::Create());
    request.set_payload_dir(dir->path());
    for (int i = 0; i < inline_assignment.inputs_size(); ++i) {
      v1::AssignedInput& input = *inline_assignment.mutable_inputs(i);
      if (input.has_artifact_digest()) {
        *input.mutable_value() = std::move(*fetched[i].mutable_value());
      }
      for (const v1::PayloadRef& ref : PayloadRefs(input.value())) {
        absl::StatusOr<std::string> bytes = FetchPayload(ref);
        if (!bytes.ok()) {
          return absl::Status(bytes.status().code(),
                              absl::StrCat("input ", input.name(), ": payload ", ref.digest(), ": ",
                                           bytes.status().message()));
        }
        RETURN_IF_ERROR(dir->Write(ref.digest(), *bytes));
      }
    }
    for (int id : context.gpu_ids()) request.add_gpu_ids(id);
    ASSIGN_OR_RETURN(internal::StepProcessOutcome outcome,
                     RunStepProcess(request, options_.step_process_libraries, context, logs_,
                                    cancelled, options_.cancel_grace));
    StepResult step;
    std::vector<v1::PayloadRef> refs;
    switch (outcome.result_case()) {
      case internal::StepProcessOutcome::kValue:
        refs = PayloadRefs(outcome.value());
        step.value = std::move(*outcome.mutable_value());
        break;
      case internal::StepProcessOutcome::kGraph:
        refs = GraphPayloadRefs(outcome.graph());
        step.graph = std::make_shared<const v1::Graph>(std::move(*outcome.mutable_graph()));
        break;
      case internal::StepProcessOutcome::kError:
        step = StepResult::Failed(
            absl::Status(static_cast<absl::StatusCode>(outcome.error_code()), outcome.error()),
            outcome.retryable());
        break;
      case internal::StepProcessOutcome::RESULT_NOT_SET:
        return absl::InternalError("the step process reported an empty outcome");
    }
    for (const v1::PayloadRef& ref : refs) {
      ASSIGN_OR_RETURN(std::string bytes, ReadPayloadFile(dir->path(), ref));
      payloads.push_back({ref.digest(), std::move(bytes)});
    }
    return step;
  }

  v1::RunResult Execute(const v1::Assignment& a, const FuncInfo& func,
                        const std::vector<int>& gpu_ids,
                        const std::shared_ptr<std::atomic<bool>>& cancelled) {
    const int64_t started = NowMicros();
    auto fail = [&](v1::ErrorKind kind, std::string why, bool retryable) {
      v1::RunResult r = ErrorResult(a.run_id(), a.attempt(), kind, std::move(why), retryable);
      r.set_started_unix_micros(started);
      return r;
    };
    if (static_cast<size_t>(a.inputs_size()) != func.param_types.size()) {
      return fail(v1::USER_ERROR,
                  absl::StrCat("step ", func.name, " takes ", func.param_types.size(),
                               " arguments, the assignment has ", a.inputs_size()),
                  false);
    }
    std::vector<v1::TypedValue> fetched(a.inputs_size());
    std::vector<const v1::Value*> args;
    for (int i = 0; i < a.inputs_size(); ++i) {
      const v1::AssignedInput& input = a.inputs(i);
      switch (input.source_case()) {
        case v1::AssignedInput::kValue:
          args.push_back(&input.value());
          break;
        case v1::AssignedInput::kArtifactDigest: {
          absl::StatusOr<v1::TypedValue> value = FetchInput(input.artifact_digest());
          if (!value.ok()) {
            return fail(v1::INFRASTRUCTURE,
                        absl::StrCat("input ", input.name(), ": ", value.status().ToString()),
                        true);
          }
          if (!google::protobuf::util::MessageDifferencer::Equals(value->type(),
                                                                  *func.param_types[i])) {
            return fail(v1::USER_ERROR,
                        absl::StrCat("input ", input.name(), ": artifact ",
                                     input.artifact_digest(), " is a ", TypeName(value->type()),
                                     ", the step takes a ", TypeName(*func.param_types[i])),
                        false);
          }
          fetched[i] = *std::move(value);
          args.push_back(&fetched[i].value());
          break;
        }
        case v1::AssignedInput::SOURCE_NOT_SET:
          return fail(v1::INFRASTRUCTURE, absl::StrCat("input ", input.name(), ": no value"),
                      false);
      }
    }
    // A step in this process gets its payloads inline (a step process fetches them from files).
    if (options_.isolation != Isolation::kProcess) {
      for (int i = 0; i < a.inputs_size(); ++i) {
        if (PayloadRefs(*args[i]).empty()) continue;
        if (args[i] != &fetched[i].value()) *fetched[i].mutable_value() = *args[i];
        args[i] = &fetched[i].value();
        absl::Status fetched_in = InternalizePayloads(
            fetched[i].mutable_value(),
            [this](const v1::PayloadRef& ref) { return FetchPayload(ref); },
            absl::StrCat("input ", a.inputs(i).name()));
        if (!fetched_in.ok()) {
          // A malformed ref will not mend; a missing or corrupt payload may, elsewhere.
          const bool malformed = absl::IsInvalidArgument(fetched_in);
          return fail(malformed ? v1::USER_ERROR : v1::INFRASTRUCTURE, fetched_in.ToString(),
                      !malformed);
        }
      }
    }

    Context::Info info;
    info.run_id = a.run_id();
    info.parent_id = a.parent_id();
    info.job_id = a.job_id();
    info.function = a.function();
    info.attempt = a.attempt();
    info.gpu_ids = gpu_ids;
    info.gpus_assigned = true;
    Context context(std::move(info), &logs_, cancelled);
    StepResult step;
    std::vector<Payload> payloads;  // moved out of the output, to upload
    if (options_.isolation == Isolation::kProcess) {
      absl::StatusOr<StepResult> isolated =
          InvokeInChildProcess(a, fetched, context, *cancelled, payloads);
      if (!isolated.ok()) {
        return fail(v1::INFRASTRUCTURE, std::string(isolated.status().message()), true);
      }
      step = *std::move(isolated);
    } else {
      {
        internal::ScopedContext scoped(&context);
        step = func.invoke(args);
      }
      fetched.clear();  // the inputs' memory, before the output's payloads travel
      if (step.status.ok() && step.graph == nullptr) {
        payloads = ExternalizePayloads(&*step.value);
      }
    }

    v1::RunResult result;
    result.set_run_id(a.run_id());
    result.set_attempt(a.attempt());
    result.set_started_unix_micros(started);
    if (step.status.ok() && step.graph != nullptr) {
      *result.mutable_graph() = *step.graph;
      if (options_.isolation != Isolation::kProcess) {
        payloads = ExternalizeGraphPayloads(result.mutable_graph());
      }
    }
    if (absl::Status uploaded = UploadPayloads(payloads, context); !uploaded.ok()) {
      const bool no_service = absl::IsFailedPrecondition(uploaded);
      return fail(no_service ? v1::USER_ERROR : v1::INFRASTRUCTURE,
                  absl::StrCat("uploading the output's payloads: ", uploaded.ToString()),
                  !no_service);
    }
    payloads.clear();
    if (!step.status.ok()) {
      return fail(v1::USER_ERROR, step.status.ToString(), step.retryable);
    } else if (step.graph != nullptr) {
      // In the result already.
    } else if (step.value->ByteSizeLong() > kMaxMessageBytes) {
      // CanonicalBytes would overrun its buffer and no parser takes it: say so instead.
      return fail(v1::USER_ERROR, TooLargeForOneMessage(step.value->ByteSizeLong()), false);
    } else if (artifacts_ != nullptr && static_cast<int64_t>(step.value->ByteSizeLong()) >
                                            options_.max_inline_output_bytes) {
      absl::StatusOr<std::string> digest = UploadOutput(*func.result_type, *step.value, context);
      if (!digest.ok()) {
        return fail(v1::INFRASTRUCTURE,
                    absl::StrCat("uploading the output: ", digest.status().ToString()), true);
      }
      result.set_artifact_digest(*std::move(digest));
    } else {
      *result.mutable_value() = *std::move(step.value);
    }
    result.set_ended_unix_micros(NowMicros());
    const int64_t limit = scheduler_max_message_bytes_.load();
    if (limit > 0 && result.ByteSizeLong() + kResultFramingBytes > static_cast<size_t>(limit)) {
      // Sent, it would end the stream (and every run on it) and come back on the next stream.
      return fail(v1::USER_ERROR,
                  absl::StrCat("the step's result is ", result.ByteSizeLong(), " bytes",
                               result.has_graph()
                                   ? absl::StrCat(" (a graph of ", result.graph().nodes_size(),
                                                  " calls)")
                                   : "",
                               ", more than the scheduler accepts in one message (",
                               limit, " bytes, its --max-message-bytes); return fewer calls "
                               "per nested step (nest the fan-out) or raise the limit"),
                  false);
    }
    return result;
  }

  const WorkerOptions options_;
  const std::unique_ptr<Connector> connector_;
  const std::unique_ptr<ArtifactClient> artifacts_;  // may be null
  const std::unique_ptr<ArtifactCache> cache_;       // may be null
  std::vector<v1::FunctionSignature> functions_;
  LogBuffer logs_;
  absl::Notification drained_;
  std::atomic<bool> connected_{false};
  // The scheduler's limit on one WorkerMessage, from its Welcome (0: not known). Read by pool
  // threads in Execute.
  std::atomic<int64_t> scheduler_max_message_bytes_{0};

  // Owned by the loop thread.
  ResourceLedger ledger_;
  ResultBook results_;
  std::map<AttemptKey, Run> runs_;
  std::deque<Waiting> waiting_;  // sent ahead, in arrival order (see StartWaiting)
  std::unique_ptr<WorkerStream> stream_;
  uint64_t generation_ = 0;  // of the current stream; stale callbacks and timers check it
  bool started_ = false;
  bool welcomed_ = false;
  bool draining_ = false;
  bool stopping_ = false;
  bool runs_started_ = false;       // since the started-notice timer was last set
  bool started_notice_due_ = false;  // one is scheduled
  std::optional<absl::Time> results_held_until_;  // unsent results wait until then (HoldResults)
  int reconnect_attempts_ = 0;
  absl::Duration heartbeat_interval_ = absl::Seconds(5);
  std::mt19937_64 rng_;

  // Declared last: the pool is destroyed first (its threads post to the loop), then the loop.
  EventLoop loop_;
  ThreadPool pool_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Worker>> Worker::Create(WorkerOptions options,
                                                       std::unique_ptr<Connector> connector,
                                                       std::unique_ptr<ArtifactClient> artifacts) {
  if (connector == nullptr) return absl::InvalidArgumentError("connector: null");
  if (options.max_concurrent_runs < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_concurrent_runs: expected >= 1, got ", options.max_concurrent_runs));
  }
  if (options.resources.cpus() < 0 || options.resources.memory_bytes() < 0 ||
      options.resources.gpus() < 0) {
    return absl::InvalidArgumentError("resources: counts must not be negative");
  }
  if (options.started_notice_delay < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("started_notice_delay: must not be negative");
  }
  if (options.worker_id.empty()) options.worker_id = DefaultWorkerId();
  std::unique_ptr<ArtifactCache> cache;
  if (!options.cache_dir.empty()) {
    ASSIGN_OR_RETURN(cache, ArtifactCache::Open(options.cache_dir, options.cache_max_bytes));
  }
  return std::make_unique<WorkerImpl>(std::move(options), std::move(connector),
                                      std::move(artifacts), std::move(cache));
}

}  // namespace sematic::worker
