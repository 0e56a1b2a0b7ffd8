// The in-process runner. All run state is guarded by one mutex (`mu_`); step bodies run on the
// pool's threads without it. A run's value, once set, is immutable, so threads read inputs
// through raw pointers after releasing the lock.
#include <algorithm>
#include <cmath>
#include <deque>
#include <random>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/strings.h"
#include "common/thread_pool.h"
#include "common/timer_queue.h"
#include "sematic/context.h"
#include "sematic/graph.h"
#include "sematic/runner.h"

namespace sematic {
namespace {

int64_t NowMicros() { return absl::ToUnixMicros(absl::Now()); }

bool IsTerminal(v1::RunState s) {
  return s == v1::SUCCEEDED || s == v1::FAILED || s == v1::CANCELED || s == v1::TIMED_OUT;
}

// One run: a node of some graph, executing under some parent.
struct Exec {
  v1::Run* rec;  // on the runner's arena
  const v1::CallNode* node = nullptr;
  std::shared_ptr<const v1::Graph> graph;  // owns `node`
  const FuncInfo* func = nullptr;  // nullptr for built-ins
  Exec* parent = nullptr;
  std::vector<Exec*> inputs;  // per arg: the producing run, or nullptr for a literal
  int pending = 0;            // inputs not yet produced
  std::vector<Exec*> dependents;
  std::vector<Exec*> children;  // nested: the runs of its graph
  Exec* output_child = nullptr;
  std::shared_ptr<const v1::Value> value;
  std::shared_ptr<std::atomic<bool>> cancelled;
  int retries = 0;
  int running_attempt = 0;  // the attempt whose result is awaited; 0 when none is

  const v1::TypeDesc& type() const { return node->output_type(); }
  bool terminal() const { return IsTerminal(rec->state()); }
};

struct StoredArtifact {
  std::shared_ptr<const v1::Value> value;
  const v1::TypeDesc* type;
};

absl::Duration RetryDelay(const RetryPolicy& policy, int retry, std::mt19937_64& rng) {
  double seconds = absl::ToDoubleSeconds(policy.backoff) *
                   std::pow(policy.multiplier, std::max(0, retry - 1));
  seconds = std::min(seconds, absl::ToDoubleSeconds(policy.max_backoff));
  if (policy.jitter > 0) {
    std::uniform_real_distribution<double> jitter(1 - policy.jitter, 1 + policy.jitter);
    seconds *= jitter(rng);
  }
  return absl::Seconds(std::max(0.0, seconds));
}

}  // namespace

class SilentRunner::Impl : public ContextSink {
 public:
  explicit Impl(RunnerOptions options)
      : options_(options), rng_(std::random_device{}()), pool_(options.parallelism) {}

  ~Impl() override {
    Cancel();
    absl::MutexLock lock(&mu_);
    stopped_ = true;  // queued work and timers now do nothing; see the members' order below
  }

  absl::StatusOr<v1::TypedValue> Run(std::shared_ptr<const v1::Graph> graph, bool trusted) {
    if (!trusted) RETURN_IF_ERROR(ValidateGraph(*graph));
    absl::MutexLock resolve_lock(&resolve_mu_);
    absl::MutexLock lock(&mu_);
    job_id_ = job_ids_.Next();
    failure_ = absl::OkStatus();
    unfinished_ = 0;
    stopped_ = false;
    root_ = Start(std::move(graph), nullptr);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return root_->terminal() && (options_.fail_fast || unfinished_ == 0);
    };
    mu_.Await(absl::Condition(&done));
    Exec* root = root_;
    root_ = nullptr;
    if (root->rec->state() != v1::SUCCEEDED) {
      if (!failure_.ok()) return failure_;
      return absl::InternalError(absl::StrCat("run ", root->rec->id(), " ended ",
                                              v1::RunState_Name(root->rec->state())));
    }
    v1::TypedValue out;
    *out.mutable_type() = root->type();
    *out.mutable_value() = *root->value;
    return out;
  }

  void Cancel() {
    absl::MutexLock lock(&mu_);
    if (root_ != nullptr && !root_->terminal()) {
      Stop(absl::CancelledError("the resolution was cancelled"));
    }
  }

  std::vector<v1::Run> Runs() const {
    absl::MutexLock lock(&mu_);
    std::vector<v1::Run> out;
    out.reserve(execs_.size());
    for (const Exec& e : execs_) out.push_back(*e.rec);
    return out;
  }

  absl::StatusOr<v1::Run> GetRun(std::string_view id) const {
    absl::MutexLock lock(&mu_);
    auto it = by_id_.find(AsAbsl(id));
    if (it == by_id_.end()) return absl::NotFoundError(absl::StrCat("no run ", AsAbsl(id)));
    return *it->second->rec;
  }

  absl::StatusOr<v1::TypedValue> GetArtifact(std::string_view digest) const {
    absl::MutexLock lock(&mu_);
    auto it = artifacts_.find(AsAbsl(digest));
    if (it == artifacts_.end()) {
      return absl::NotFoundError(absl::StrCat("no artifact ", AsAbsl(digest)));
    }
    v1::TypedValue out;
    *out.mutable_type() = *it->second.type;
    *out.mutable_value() = *it->second.value;
    return out;
  }

  std::string last_job_id() const {
    absl::MutexLock lock(&mu_);
    return job_id_;
  }

  // ContextSink: logs and metrics of running steps.
  void OnLog(const Context& context, std::string_view line) override {
    absl::MutexLock lock(&mu_);
    auto it = by_id_.find(absl::string_view(context.run_id()));
    if (it == by_id_.end()) return;
    v1::LogEntry* entry = it->second->rec->add_logs();
    entry->set_unix_micros(NowMicros());
    entry->set_text(std::string(line));
  }

  void OnMetric(const Context& context, std::string_view name, double value,
                int64_t step) override {
    absl::MutexLock lock(&mu_);
    auto it = by_id_.find(absl::string_view(context.run_id()));
    if (it == by_id_.end()) return;
    v1::MetricPoint* point = it->second->rec->add_metrics();
    point->set_name(std::string(name));
    point->set_value(value);
    point->set_step(step);
    point->set_unix_micros(NowMicros());
  }

 private:
  // Creates the runs of `graph` under `parent` (nullptr: the root) and starts those whose inputs
  // are ready. Returns the run of the graph's output node.
  Exec* Start(std::shared_ptr<const v1::Graph> graph, Exec* parent)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const int64_t now = NowMicros();
    absl::flat_hash_map<absl::string_view, Exec*> local;
    local.reserve(graph->nodes_size());
    std::vector<Exec*> ready;
    for (const v1::CallNode& node : graph->nodes()) {
      Exec* e = &execs_.emplace_back();
      e->rec = google::protobuf::Arena::CreateMessage<v1::Run>(&arena_);
      e->node = &node;
      e->graph = graph;
      e->parent = parent;
      if (!node.function().starts_with("sematic.")) {
        // Validated (untrusted graphs) or built from registered steps (trusted ones).
        e->func = *FindFunc(node.function());
      }
      e->rec->set_id(run_ids_.Next());
      if (parent != nullptr) e->rec->set_parent_id(parent->rec->id());
      e->rec->set_job_id(job_id_);
      e->rec->set_function(node.function());
      e->rec->set_version(node.version());
      e->rec->set_node_id(node.id());
      e->rec->set_label(node.created_at());
      e->rec->set_builtin(e->func == nullptr);
      e->rec->set_state(v1::CREATED);
      e->rec->set_created_unix_micros(now);
      e->inputs.reserve(node.args_size());
      for (const v1::Arg& arg : node.args()) {
        Exec* producer = nullptr;
        if (arg.source_case() == v1::Arg::kNode) {
          producer = local.at(arg.node());
          ++e->pending;
          producer->dependents.push_back(e);
        }
        e->inputs.push_back(producer);
      }
      local.emplace(node.id(), e);
      by_id_.emplace(e->rec->id(), e);
      if (parent != nullptr) parent->children.push_back(e);
      if (e->pending == 0) ready.push_back(e);
      ++unfinished_;
    }
    Exec* output = local.at(graph->output_node());
    if (parent != nullptr) parent->output_child = output;
    for (Exec* e : ready) Ready(e);
    return output;
  }

  void Ready(Exec* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (e->terminal()) return;
    if (e->func == nullptr) {
      RunBuiltin(e);
      return;
    }
    e->rec->set_state(v1::QUEUED);
    pool_.Schedule([this, e] { Execute(e); });
  }

  // The value of argument `i` of `e` (valid while the runner lives).
  const v1::Value* ArgValue(const Exec* e, int i) const {
    const Exec* producer = e->inputs[i];
    return producer != nullptr ? producer->value.get() : &e->node->args(i).literal();
  }

  void Execute(Exec* e) ABSL_LOCKS_EXCLUDED(mu_) {
    std::vector<const v1::Value*> args;
    int attempt;
    std::shared_ptr<std::atomic<bool>> cancelled;
    Context::Info info;
    {
      absl::MutexLock lock(&mu_);
      if (e->terminal() || stopped_) return;
      attempt = e->rec->attempt() + 1;
      e->rec->set_attempt(attempt);
      e->running_attempt = attempt;
      e->rec->set_state(v1::RUNNING);
      e->rec->set_started_unix_micros(NowMicros());
      e->cancelled = cancelled = std::make_shared<std::atomic<bool>>(false);
      args.reserve(e->inputs.size());
      for (size_t i = 0; i < e->inputs.size(); ++i) args.push_back(ArgValue(e, i));
      if (e->func->options.timeout != absl::InfiniteDuration()) {
        timers_.RunAt(absl::Now() + e->func->options.timeout,
                      [this, e, attempt] { OnTimeout(e, attempt); });
      }
      info.run_id = e->rec->id();
      info.parent_id = e->rec->parent_id();
      info.job_id = e->rec->job_id();
      info.function = e->rec->function();
      info.attempt = attempt;
    }
    // Artifact ids of the inputs, computed off the lock (the values are immutable).
    std::vector<std::string> input_digests;
    if (attempt == 1) {
      input_digests.reserve(args.size());
      for (size_t i = 0; i < args.size(); ++i) {
        input_digests.push_back(e->inputs[i] != nullptr
                                    ? std::string()  // the producer's output digest
                                    : ArtifactId(*e->func->param_types[i], *args[i]));
      }
    }

    Context context(std::move(info), this, cancelled);
    StepResult result;
    {
      internal::ScopedContext scoped(&context);
      result = e->func->invoke(args);
    }
    std::string digest;
    if (result.status.ok() && result.value.has_value()) {
      digest = ArtifactId(e->type(), *result.value);
    }

    absl::MutexLock lock(&mu_);
    if (attempt == 1) RecordInputs(e, input_digests);
    // Fencing: a result counts only for the awaited attempt (not after a timeout or cancel).
    if (e->terminal() || e->running_attempt != attempt) return;
    e->running_attempt = 0;
    if (!result.status.ok()) {
      AttemptFailed(e, result.status, result.retryable, v1::FAILED);
    } else if (result.graph != nullptr) {
      e->rec->set_nested(true);
      e->rec->set_state(v1::WAITING);
      Start(std::move(result.graph), e);
    } else {
      Succeed(e, std::make_shared<const v1::Value>(*std::move(result.value)), std::move(digest));
    }
  }

  void RecordInputs(Exec* e, const std::vector<std::string>& literal_digests)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (size_t i = 0; i < e->inputs.size(); ++i) {
      v1::RunInput* input = e->rec->add_inputs();
      input->set_name(e->node->args(i).name());
      if (e->inputs[i] != nullptr) {
        input->set_digest(e->inputs[i]->rec->output_digest());
      } else {
        input->set_digest(literal_digests[i]);
        StoreArtifact(input->digest(), std::shared_ptr<const v1::Value>(
                                              e->graph, &e->node->args(i).literal()),
                      e->func->param_types[i]);
      }
    }
  }

  // `digest` must be a string on the arena (a run record's), which outlives the map.
  void StoreArtifact(absl::string_view digest, std::shared_ptr<const v1::Value> value,
                     const v1::TypeDesc* type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    artifacts_.try_emplace(digest, StoredArtifact{std::move(value), type});
  }

  void RunBuiltin(Exec* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const v1::CallNode& node = *e->node;
    e->rec->set_attempt(1);
    e->rec->set_started_unix_micros(NowMicros());
    std::shared_ptr<const v1::Value> value;
    if (node.function() == internal::kLiteralFunction) {
      value = std::shared_ptr<const v1::Value>(e->graph, &node.args(0).literal());
    } else if (node.function() == internal::kGatherFunction) {
      auto list = std::make_shared<v1::Value>();
      auto* items = list->mutable_list_value()->mutable_items();
      items->Reserve(node.args_size());
      for (int i = 0; i < node.args_size(); ++i) *items->Add() = *ArgValue(e, i);
      value = std::move(list);
    } else {  // field or element: item `index` of the input's list
      const v1::Value* input = ArgValue(e, 0);
      const uint64_t index = node.args(1).literal().uint_value();
      if (input->kind_case() != v1::Value::kListValue ||
          index >= static_cast<uint64_t>(input->list_value().items_size())) {
        Fail(e, absl::InvalidArgumentError(
                    absl::StrCat(node.function(), ": input has no item ", index)),
             v1::FAILED);
        return;
      }
      value = std::make_shared<const v1::Value>(
          input->list_value().items(static_cast<int>(index)));
    }
    for (int i = 0; i < node.args_size(); ++i) {
      if (e->inputs[i] == nullptr) continue;
      v1::RunInput* input = e->rec->add_inputs();
      input->set_name(node.args(i).name());
      input->set_digest(e->inputs[i]->rec->output_digest());
    }
    std::string digest = ArtifactId(e->type(), *value);
    Succeed(e, std::move(value), std::move(digest));
  }

  void Succeed(Exec* e, std::shared_ptr<const v1::Value> value, std::string digest)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    e->rec->set_output_digest(std::move(digest));
    StoreArtifact(e->rec->output_digest(), value, &e->type());
    e->value = std::move(value);
    Finish(e, v1::SUCCEEDED);
    for (Exec* d : e->dependents) {
      if (--d->pending == 0 && !stopped_) Ready(d);
    }
    Exec* parent = e->parent;
    if (parent != nullptr && parent->output_child == e && !parent->terminal()) {
      Succeed(parent, e->value, e->rec->output_digest());
    }
  }

  void Finish(Exec* e, v1::RunState state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    e->rec->set_state(state);
    e->rec->set_ended_unix_micros(NowMicros());
    --unfinished_;
  }

  void OnTimeout(Exec* e, int attempt) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (e->terminal() || e->running_attempt != attempt) return;
    e->running_attempt = 0;
    e->cancelled->store(true);
    AttemptFailed(e,
                  absl::DeadlineExceededError(
                      absl::StrCat("timed out after ", absl::FormatDuration(
                                                           e->func->options.timeout))),
                  /*retryable=*/true, v1::TIMED_OUT);
  }

  // An attempt of `e` failed: retry it per its policy, or fail the run for good.
  void AttemptFailed(Exec* e, const absl::Status& status, bool retryable, v1::RunState state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const RetryPolicy& policy = e->func->options.retry;
    if (retryable && !stopped_ && e->retries < policy.max_retries) {
      ++e->retries;
      const absl::Duration delay = RetryDelay(policy, e->retries, rng_);
      v1::LogEntry* entry = e->rec->add_logs();
      entry->set_unix_micros(NowMicros());
      entry->set_text(absl::StrCat("attempt ", e->rec->attempt(), " failed: ", status.ToString(),
                                   "; retry ", e->retries, " of ", policy.max_retries, " in ",
                                   absl::FormatDuration(delay)));
      e->rec->set_state(v1::QUEUED);
      timers_.RunAt(absl::Now() + delay, [this, e] {
        absl::MutexLock lock(&mu_);
        if (!e->terminal() && !stopped_) pool_.Schedule([this, e] { Execute(e); });
      });
      return;
    }
    Fail(e, status, state);
  }

  // Fails `e` for good and propagates: to the resolution (fail-fast), to runs that needed its
  // value, and to the nested run whose output it was.
  void Fail(Exec* e, const absl::Status& status, v1::RunState state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (e->terminal()) return;
    const bool root_cause = failure_.ok();
    std::string attempts =
        e->rec->attempt() > 1 ? absl::StrCat(" after ", e->rec->attempt(), " attempts") : "";
    absl::Status described(
        status.code(), absl::StrCat("step ", e->rec->function(), " (run ", e->rec->id(), ") ",
                                    state == v1::TIMED_OUT ? "timed out" : "failed", attempts,
                                    ": ", status.message()));
    e->rec->set_error(std::string(described.message()));
    if (e->cancelled != nullptr) e->cancelled->store(true);
    Finish(e, state);
    if (root_cause) failure_ = described;
    if (options_.fail_fast) {
      Stop(failure_);
      return;
    }
    const absl::Status upstream = absl::CancelledError(
        absl::StrCat("upstream run ", e->rec->id(), " (", e->rec->function(), ") did not succeed"));
    for (Exec* d : e->dependents) Cancel(d, upstream);
    if (e->parent != nullptr && e->parent->output_child == e) {
      Fail(e->parent, absl::Status(status.code(), absl::StrCat("child run ", e->rec->id(),
                                                               " failed: ", status.message())),
           v1::FAILED);
    }
  }

  // Cancels `e` (not a root cause) and everything that needs it.
  void Cancel(Exec* e, const absl::Status& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (e->terminal()) return;
    e->rec->set_error(std::string(why.message()));
    if (e->cancelled != nullptr) e->cancelled->store(true);
    Finish(e, v1::CANCELED);
    for (Exec* d : e->dependents) Cancel(d, why);
    for (Exec* c : e->children) Cancel(c, why);
    if (e->parent != nullptr && e->parent->output_child == e) Cancel(e->parent, why);
  }

  // Ends the resolution: records `why` (unless a failure is already recorded) and cancels every
  // run not yet finished; their threads see Context::Cancelled() and their results are dropped.
  void Stop(const absl::Status& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (failure_.ok()) failure_ = why;
    stopped_ = true;
    for (Exec& e : execs_) {
      if (e.terminal()) continue;
      e.rec->set_error(absl::StrCat("cancelled: ", why.message()));
      if (e.cancelled != nullptr) e.cancelled->store(true);
      Finish(&e, v1::CANCELED);
    }
  }

  const RunnerOptions options_;
  absl::Mutex resolve_mu_;  // one resolution at a time
  mutable absl::Mutex mu_;
  IdGenerator run_ids_{"r"};
  IdGenerator job_ids_{"j"};
  std::string job_id_ ABSL_GUARDED_BY(mu_);
  // Run records live on an arena and runs in a deque: 100k-run graphs are built and freed in
  // large blocks instead of millions of small allocations.
  google::protobuf::Arena arena_{internal::LargeArenaOptions()};
  std::deque<Exec> execs_ ABSL_GUARDED_BY(mu_);
  // Keyed by strings of the run records on the arena.
  absl::flat_hash_map<absl::string_view, Exec*> by_id_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<absl::string_view, StoredArtifact> artifacts_ ABSL_GUARDED_BY(mu_);
  Exec* root_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  int64_t unfinished_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  // Destroyed first (declared last), joining their threads while the state above is alive:
  // timers before the pool, since timer closures schedule onto the pool.
  ThreadPool pool_;
  TimerQueue timers_;
};

SilentRunner::SilentRunner(RunnerOptions options) : impl_(std::make_unique<Impl>(options)) {}
SilentRunner::~SilentRunner() = default;

absl::StatusOr<v1::TypedValue> SilentRunner::RunGraph(std::shared_ptr<const v1::Graph> graph,
                                                      bool trusted) {
  return impl_->Run(std::move(graph), trusted);
}
void SilentRunner::Cancel() { impl_->Cancel(); }
std::vector<v1::Run> SilentRunner::Runs() const { return impl_->Runs(); }
absl::StatusOr<v1::Run> SilentRunner::GetRun(std::string_view id) const {
  return impl_->GetRun(id);
}
absl::StatusOr<v1::TypedValue> SilentRunner::GetArtifact(std::string_view digest) const {
  return impl_->GetArtifact(digest);
}
std::string SilentRunner::last_job_id() const { return impl_->last_job_id(); }

size_t SilentRunner::last_job_run_count() const {
  const std::string job = last_job_id();
  size_t count = 0;
  for (const v1::Run& run : Runs()) count += run.job_id() == job;
  return count;
}

}  // namespace sematic
