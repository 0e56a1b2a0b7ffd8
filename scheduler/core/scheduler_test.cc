// The scheduler driven directly (no gRPC) by in-test workers that run real SDK steps.
#include "scheduler/core/scheduler.h"

#include <atomic>
#include <deque>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/ids.h"
#include "common/digest.h"
#include "scheduler/store/keys.h"
#include "scheduler/store/store.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/store/keys.h"
#include "sematic/sematic.h"

namespace scheduler_test {

using ::sematic::Call;
using ::sematic::Future;
using ::sematic::testing::IsOk;
using ::sematic::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;
using internal_job_t = ::sematic::internal::StoredJob;
using internal_run_t = ::sematic::internal::StoredRun;
namespace v1 = ::sematic::v1;
namespace sch = ::sematic::scheduler;

int Square(int x) { return x * x; }
SEMATIC_FUNC(Square, "x");

int Add(int a, int b) { return a + b; }
SEMATIC_FUNC(Add, "a", "b");

int Sum(const std::vector<int>& xs) {
  int t = 0;
  for (int x : xs) t += x;
  return t;
}
SEMATIC_FUNC(Sum, "xs");

// Nested: Square each of 0..n-1 and sum them; then add n.
Future<int> Pipeline(int n) {
  std::vector<Future<int>> squares;
  for (int i = 0; i < n; ++i) squares.push_back(Call(Square, i));
  return Call(Add, Call(Sum, squares), n);
}
SEMATIC_FUNC(Pipeline, "n");

// Order-sensitive: sum of (i + 1) * xs[i].
int64_t Weighted(const std::vector<int>& xs) {
  int64_t t = 0;
  for (size_t i = 0; i < xs.size(); ++i) t += static_cast<int64_t>(i + 1) * xs[i];
  return t;
}
SEMATIC_FUNC(Weighted, "xs");

Future<int64_t> WeightedSquares(int n) {
  std::vector<Future<int>> squares;
  for (int i = 0; i < n; ++i) squares.push_back(Call(Square, i));
  return Call(Weighted, squares);
}
SEMATIC_FUNC(WeightedSquares, "n");

sematic::Blob MakeBlob(int mib) { return sematic::Blob{std::string(size_t(mib) << 20, 'm')}; }
SEMATIC_FUNC(MakeBlob, "mib");

int64_t BlobSize(const sematic::Blob& blob) { return static_cast<int64_t>(blob.data.size()); }
SEMATIC_FUNC(BlobSize, "blob");

// Nested: a sub-graph with a literal of `mib` MiB (inline as the SDK builds it; a real worker
// externalizes it before sending the graph).
Future<int64_t> SizeOfBlob(int mib) { return Call(BlobSize, MakeBlob(mib)); }
SEMATIC_FUNC(SizeOfBlob, "mib");

int NeedsGpu(int x) { return x; }
SEMATIC_FUNC(NeedsGpu, "x").Gpus(1);

int Slow(int x) { return x; }
SEMATIC_FUNC(Slow, "x").Timeout(absl::Milliseconds(200));

// Blocks on the scheduler's callback API with a deadline.
template <typename T>
absl::StatusOr<T> Wait(const std::function<void(sch::Callback<T>)>& call) {
  absl::Notification done;
  absl::StatusOr<T> out = absl::DeadlineExceededError("no reply within 30 s");
  call([&](absl::StatusOr<T> r) {
    out = std::move(r);
    done.Notify();
  });
  if (!done.WaitForNotificationWithTimeout(absl::Seconds(30))) {
    return absl::DeadlineExceededError("no reply within 30 s");
  }
  return out;
}

// A worker's stream as the scheduler sees it: messages land in a queue the test reads.
class Inbox : public sch::WorkerConnection {
 public:
  struct Shared {
    absl::Mutex mu;
    std::deque<v1::SchedulerMessage> messages ABSL_GUARDED_BY(mu);
    bool closed ABSL_GUARDED_BY(mu) = false;
  };
  explicit Inbox(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
  void Send(v1::SchedulerMessage m) override {
    absl::MutexLock lock(&shared_->mu);
    shared_->messages.push_back(std::move(m));
  }
  void Close(absl::Status) override {
    absl::MutexLock lock(&shared_->mu);
    shared_->closed = true;
  }

 private:
  std::shared_ptr<Shared> shared_;
};

// An in-test worker offering every registered step, executing them with the SDK's invokers.
class TestWorker {
 public:
  TestWorker(sch::Scheduler* scheduler, std::string id) : scheduler_(scheduler), id_(id) {
    shared_ = std::make_shared<Inbox::Shared>();
    session_ = scheduler_->ConnectWorker(std::make_unique<Inbox>(shared_));
  }

  void Hello(std::vector<v1::RunAttempt> in_flight = {}, int max_runs = 8) {
    v1::WorkerMessage m;
    v1::Hello* hello = m.mutable_hello();
    hello->set_worker_id(id_);
    for (const sematic::FuncInfo* f : sematic::ListFuncs()) {
      *hello->add_functions() = sematic::SignatureOf(*f);
    }
    hello->mutable_resources()->set_cpus(16);
    hello->mutable_resources()->set_memory_bytes(int64_t{8} << 30);
    hello->set_max_concurrent_runs(max_runs);
    for (const auto& a : in_flight) *hello->add_in_flight() = a;
    scheduler_->OnWorkerMessage(session_, std::move(m));
  }

  // The next message, or nullopt after 30 s.
  std::optional<v1::SchedulerMessage> Next() {
    absl::MutexLock lock(&shared_->mu);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu) {
      return !shared_->messages.empty();
    };
    if (!shared_->mu.AwaitWithTimeout(absl::Condition(&ready), absl::Seconds(30))) {
      return std::nullopt;
    }
    v1::SchedulerMessage m = std::move(shared_->messages.front());
    shared_->messages.pop_front();
    return m;
  }

  // The messages received and not yet taken, without waiting.
  std::vector<v1::SchedulerMessage> TakeReceived() {
    absl::MutexLock lock(&shared_->mu);
    std::vector<v1::SchedulerMessage> out(std::make_move_iterator(shared_->messages.begin()),
                                          std::make_move_iterator(shared_->messages.end()));
    shared_->messages.clear();
    return out;
  }

  // The next assignment batch, skipping other messages.
  std::vector<v1::Assignment> NextAssignments() {
    while (auto m = Next()) {
      if (m->has_assignments()) {
        return {m->assignments().assignments().begin(), m->assignments().assignments().end()};
      }
    }
    return {};
  }

  // The assignments of the next message that arrives within `timeout` (others are skipped);
  // empty when none does.
  std::vector<v1::Assignment> AssignmentsWithin(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    absl::MutexLock lock(&shared_->mu);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu) {
      return !shared_->messages.empty();
    };
    while (shared_->mu.AwaitWithDeadline(absl::Condition(&ready), deadline)) {
      v1::SchedulerMessage m = std::move(shared_->messages.front());
      shared_->messages.pop_front();
      if (m.has_assignments()) {
        return {m.assignments().assignments().begin(), m.assignments().assignments().end()};
      }
    }
    return {};
  }

  // Runs an assignment with the SDK's invoker and returns the result message.
  static v1::RunResult Execute(const v1::Assignment& a) {
    v1::RunResult result;
    result.set_run_id(a.run_id());
    result.set_attempt(a.attempt());
    const sematic::FuncInfo* info = *sematic::FindFunc(a.function());
    std::vector<const v1::Value*> args;
    for (const auto& input : a.inputs()) args.push_back(&input.value());
    sematic::StepResult r = info->invoke(args);
    if (!r.status.ok()) {
      result.mutable_error()->set_kind(v1::USER_ERROR);
      result.mutable_error()->set_message(std::string(r.status.message()));
      result.mutable_error()->set_retryable(r.retryable);
    } else if (r.graph != nullptr) {
      *result.mutable_graph() = *r.graph;
    } else {
      *result.mutable_value() = *r.value;
    }
    return result;
  }

  void SendResult(v1::RunResult result) {
    v1::WorkerMessage m;
    *m.mutable_results()->add_results() = std::move(result);
    scheduler_->OnWorkerMessage(session_, std::move(m));
  }

  // Reports the assignments as running (a worker's heartbeat once the steps start).
  void SendStarted(const std::vector<v1::Assignment>& assignments) {
    v1::WorkerMessage m;
    for (const v1::Assignment& a : assignments) {
      v1::RunAttempt* running = m.mutable_heartbeat()->add_running();
      running->set_run_id(a.run_id());
      running->set_attempt(a.attempt());
    }
    scheduler_->OnWorkerMessage(session_, std::move(m));
  }

  // Executes assignments until `job_id` ends (bounded by a deadline).
  absl::StatusOr<v1::Job> RunUntilDone(const std::string& job_id) {
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (absl::Now() < deadline) {
      absl::StatusOr<v1::Job> job = Wait<v1::Job>([&](auto cb) {
        v1::GetJobRequest r;
        r.set_job_id(job_id);
        scheduler_->GetJob(r, cb);
      });
      if (!job.ok()) return job.status();
      if (job->state() != v1::JOB_RUNNING && job->state() != v1::JOB_PENDING) return job;
      std::optional<v1::SchedulerMessage> m;
      {
        absl::MutexLock lock(&shared_->mu);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu) {
          return !shared_->messages.empty();
        };
        if (shared_->mu.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(200))) {
          m = std::move(shared_->messages.front());
          shared_->messages.pop_front();
        }
      }
      if (m && m->has_assignments()) {
        for (const auto& a : m->assignments().assignments()) SendResult(Execute(a));
      }
    }
    return absl::DeadlineExceededError("job did not finish in 60 s");
  }

  void Gone() { scheduler_->OnWorkerGone(session_, absl::UnavailableError("test dropped it")); }

  // Waits (30 s at most) until the scheduler closes this worker's stream.
  bool AwaitClosed() {
    absl::MutexLock lock(&shared_->mu);
    auto closed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu) { return shared_->closed; };
    return shared_->mu.AwaitWithTimeout(absl::Condition(&closed), absl::Seconds(30));
  }

  // Sends a heartbeat every `interval` from a thread until the worker is destroyed.
  void StartHeartbeats(absl::Duration interval) {
    heartbeats_ = std::thread([this, interval] {
      while (!stop_.WaitForNotificationWithTimeout(interval)) {
        v1::WorkerMessage m;
        m.mutable_heartbeat()->set_unix_micros(absl::ToUnixMicros(absl::Now()));
        scheduler_->OnWorkerMessage(session_, std::move(m));
      }
    });
  }

  ~TestWorker() {
    stop_.Notify();
    if (heartbeats_.joinable()) heartbeats_.join();
  }

  sch::WorkerSessionId session() const { return session_; }

 private:
  sch::Scheduler* scheduler_;
  std::string id_;
  std::shared_ptr<Inbox::Shared> shared_;
  sch::WorkerSessionId session_;
  absl::Notification stop_;
  std::thread heartbeats_;
};

// `a` executed, reported as having taken `took` on the worker.
v1::RunResult TimedResult(const v1::Assignment& a, absl::Duration took) {
  v1::RunResult r = TestWorker::Execute(a);
  r.set_started_unix_micros(1'000'000);
  r.set_ended_unix_micros(1'000'000 + absl::ToInt64Microseconds(took));
  return r;
}

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / ("scheduler-" + sematic::RandomHex64());
    Open();
  }
  void TearDown() override {
    scheduler_.reset();
    std::filesystem::remove_all(dir_);
  }
  // (Re)opens the scheduler on dir_; `adjust` may change the options first.
  void Open(const std::function<void(sch::SchedulerOptions&)>& adjust = nullptr) {
    scheduler_.reset();
    sch::SchedulerOptions options;
    options.data_dir = dir_.string();
    options.recovery_grace = absl::Milliseconds(300);
    options.heartbeat_timeout = absl::Seconds(60);
    if (adjust) adjust(options);
    ASSERT_OK_AND_ASSIGN(scheduler_, sch::Scheduler::Create(options));
  }

  absl::StatusOr<v1::SubmitJobResponse> Submit(const std::string& function, const std::string& arg,
                                               v1::Value value, std::string key = "",
                                               int max_parallelism = 0) {
    v1::SubmitJobRequest r;
    r.mutable_options()->set_max_parallelism(max_parallelism);
    r.set_function(function);
    v1::NamedArg* a = r.add_args();
    a->set_name(arg);
    *a->mutable_value() = std::move(value);
    r.set_idempotency_key(key);
    return Wait<v1::SubmitJobResponse>([&](auto cb) { scheduler_->SubmitJob(r, cb); });
  }

  // Pipeline(n) on `worker` with one slot: the root runs, and its Squares come back as the
  // first batch (one running, one sent ahead: durations are still unknown). Empty on failure.
  std::vector<v1::Assignment> PipelineOnOneSlot(TestWorker& worker, int n, std::string* job_id) {
    worker.Hello({}, /*max_runs=*/1);
    absl::StatusOr<v1::SubmitJobResponse> submitted = Submit("Pipeline", "n", sematic::Encode(n));
    if (!submitted.ok()) {
      ADD_FAILURE() << submitted.status();
      return {};
    }
    *job_id = submitted->job().id();
    std::vector<v1::Assignment> root = worker.NextAssignments();
    if (root.size() != 1) {
      ADD_FAILURE() << "expected the root alone, got " << root.size() << " assignments";
      return {};
    }
    worker.SendResult(TestWorker::Execute(root[0]));
    return worker.NextAssignments();
  }

  absl::StatusOr<v1::Run> GetRun(const std::string& run_id) {
    return Wait<v1::Run>([&](auto cb) {
      v1::GetRunRequest r;
      r.set_run_id(run_id);
      scheduler_->GetRun(r, cb);
    });
  }

  absl::StatusOr<v1::Job> GetJob(const std::string& job_id) {
    return Wait<v1::Job>([&](auto cb) {
      v1::GetJobRequest r;
      r.set_job_id(job_id);
      scheduler_->GetJob(r, cb);
    });
  }

  // Polls until `job_id` leaves PENDING/RUNNING (bounded).
  absl::StatusOr<v1::Job> AwaitJobEnd(const std::string& job_id) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      absl::StatusOr<v1::Job> job = GetJob(job_id);
      if (!job.ok() || (job->state() != v1::JOB_RUNNING && job->state() != v1::JOB_PENDING)) {
        return job;
      }
      absl::SleepFor(absl::Milliseconds(20));  // polling interval, not synchronisation
    }
    return absl::DeadlineExceededError("job did not end in 30 s");
  }

  std::filesystem::path dir_;
  std::unique_ptr<sch::Scheduler> scheduler_;
};

TEST_F(SchedulerTest, RunsAPlainJobOnAWorker) {
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(v1::SubmitJobResponse submitted,
                       Submit("Square", "x", sematic::Encode(7)));
  ASSERT_OK_AND_ASSIGN(v1::Job job, worker.RunUntilDone(submitted.job().id()));
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  EXPECT_EQ(job.output_digest(), sematic::ArtifactId(sematic::TypeOf<int>(), sematic::Encode(49)));
}

TEST_F(SchedulerTest, NestedStepsRegisterSubGraphs) {
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(v1::SubmitJobResponse submitted,
                       Submit("Pipeline", "n", sematic::Encode(20)));
  ASSERT_OK_AND_ASSIGN(v1::Job job, worker.RunUntilDone(submitted.job().id()));
  ASSERT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  int expected = 20;
  for (int i = 0; i < 20; ++i) expected += i * i;
  EXPECT_EQ(job.output_digest(),
            sematic::ArtifactId(sematic::TypeOf<int>(), sematic::Encode(expected)));
  ASSERT_OK_AND_ASSIGN(v1::ListRunsResponse runs, Wait<v1::ListRunsResponse>([&](auto cb) {
                         v1::ListRunsRequest r;
                         r.set_job_id(job.id());
                         r.set_page_size(1000);
                         scheduler_->ListRuns(r, cb);
                       }));
  // Pipeline, 20 Squares, the gather, Sum, Add.
  EXPECT_EQ(runs.runs_size(), 24);
  for (const auto& run : runs.runs()) EXPECT_EQ(run.state(), v1::SUCCEEDED) << run.id();
  // The job's counts by state followed every transition.
  ASSERT_EQ(job.runs_by_state_size(), v1::RunState_MAX + 1);
  for (int state = 0; state <= v1::RunState_MAX; ++state) {
    EXPECT_EQ(job.runs_by_state(state), state == v1::SUCCEEDED ? 24 : 0)
        << v1::RunState_Name(static_cast<v1::RunState>(state));
  }
  // And they survive a restart.
  scheduler_.reset();
  Open();
  ASSERT_OK_AND_ASSIGN(v1::Job reopened, GetJob(job.id()));
  EXPECT_EQ(reopened.runs_by_state(v1::SUCCEEDED), 24);
}

TEST_F(SchedulerTest, SubmitErrorsNameTheProblem) {
  EXPECT_THAT(Submit("Square", "x", sematic::Encode(7)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no live worker offers Square")));
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  EXPECT_THAT(Submit("Square", "x", sematic::Encode(std::string("seven"))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("args[0] (x): expected int32, got string")));
  EXPECT_THAT(Submit("Square", "y", sematic::Encode(7)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("missing \"x\"")));
}

TEST_F(SchedulerTest, IdempotentSubmitsCreateOneJob) {
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(auto first, Submit("Square", "x", sematic::Encode(3), "key-1"));
  ASSERT_OK_AND_ASSIGN(auto again, Submit("Square", "x", sematic::Encode(3), "key-1"));
  EXPECT_FALSE(first.deduplicated());
  EXPECT_TRUE(again.deduplicated());
  EXPECT_EQ(first.job().id(), again.job().id());
}

// A retry must repeat its request: the same key with other arguments is a client bug that
// silently returning the first job would hide.
TEST_F(SchedulerTest, AnIdempotencyKeyReusedForADifferentRequestIsRefused) {
  std::string first_job;
  {
    TestWorker worker(scheduler_.get(), "w1");
    worker.Hello();
    ASSERT_OK_AND_ASSIGN(auto first, Submit("Square", "x", sematic::Encode(3), "key-1"));
    first_job = first.job().id();
    EXPECT_THAT(Submit("Square", "x", sematic::Encode(4), "key-1"),
                StatusIs(absl::StatusCode::kAlreadyExists,
                         ::testing::AllOf(HasSubstr("idempotency_key: \"key-1\""),
                                          HasSubstr(first_job))));
    ASSERT_OK_AND_ASSIGN(v1::Job job, worker.RunUntilDone(first_job));
    ASSERT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  }
  // After the job ended and a restart: the request's digest is persisted with the job.
  Open();
  TestWorker again(scheduler_.get(), "w1");
  again.Hello();
  EXPECT_THAT(Submit("Square", "x", sematic::Encode(4), "key-1"),
              StatusIs(absl::StatusCode::kAlreadyExists));
  ASSERT_OK_AND_ASSIGN(auto same, Submit("Square", "x", sematic::Encode(3), "key-1"));
  EXPECT_TRUE(same.deduplicated());
  EXPECT_EQ(same.job().id(), first_job);
}

TEST_F(SchedulerTest, ListFiltersAndPageTokensAreChecked) {
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(auto a, Submit("Square", "x", sematic::Encode(3)));
  ASSERT_OK_AND_ASSIGN(auto b, Submit("Square", "x", sematic::Encode(4)));
  auto list_jobs = [&](v1::ListJobsRequest r) {
    return Wait<v1::ListJobsResponse>([&](auto cb) { scheduler_->ListJobs(r, cb); });
  };
  auto list_runs = [&](v1::ListRunsRequest r) {
    return Wait<v1::ListRunsResponse>([&](auto cb) { scheduler_->ListRuns(r, cb); });
  };
  v1::ListJobsRequest bad_state;
  bad_state.add_states(static_cast<v1::JobState>(99));
  EXPECT_THAT(list_jobs(bad_state), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("states[0]: 99 is not a JobState")));
  v1::ListJobsRequest bad_token;
  bad_token.set_page_token("nonsense");
  EXPECT_THAT(list_jobs(bad_token),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token: malformed")));

  v1::ListRunsRequest bad_run_state;
  bad_run_state.set_job_id(a.job().id());
  bad_run_state.add_states(static_cast<v1::RunState>(99));
  EXPECT_THAT(list_runs(bad_run_state), StatusIs(absl::StatusCode::kInvalidArgument,
                                                 HasSubstr("states[0]: 99 is not a RunState")));
  // A token from job a's listing, used on job b.
  v1::ListRunsRequest first_page;
  first_page.set_job_id(a.job().id());
  first_page.set_page_size(1);
  ASSERT_OK_AND_ASSIGN(auto page, list_runs(first_page));
  ASSERT_FALSE(page.runs().empty());
  v1::ListRunsRequest other_job;
  other_job.set_job_id(b.job().id());
  other_job.set_page_token(page.runs(0).id());
  EXPECT_THAT(list_runs(other_job), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("page_token: comes from the listing of "
                                                       "another job")));
  other_job.set_page_token("garbage");
  EXPECT_THAT(list_runs(other_job),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token: malformed")));
}

// A result's acknowledgement rides with the assignments its turn made ready: one message each
// way per step of a chain, not two.
TEST_F(SchedulerTest, AResultsAckRidesWithTheAssignmentsItMadeReady) {
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(auto submitted, Submit("Pipeline", "n", sematic::Encode(1)));
  std::vector<v1::Assignment> root = worker.NextAssignments();
  ASSERT_EQ(root.size(), 1u);
  worker.SendResult(TestWorker::Execute(root[0]));  // its graph: Square(0) is ready at once
  std::optional<v1::SchedulerMessage> next = worker.Next();
  ASSERT_TRUE(next.has_value());
  ASSERT_EQ(next->assignments().assignments_size(), 1) << next->DebugString();
  EXPECT_EQ(next->assignments().assignments(0).function(), "Square");
  ASSERT_EQ(next->ack().accepted_size(), 1) << next->DebugString();
  EXPECT_EQ(next->ack().accepted(0).run_id(), root[0].run_id());
  worker.SendResult(TestWorker::Execute(next->assignments().assignments(0)));
  ASSERT_OK_AND_ASSIGN(v1::Job job, worker.RunUntilDone(submitted.job().id()));
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED);
}

// A job_only watch gets the job's own changes up to its end, and none of its runs' events.
TEST_F(SchedulerTest, AJobOnlyWatchSeesTheJobsChangesButNoRunEvents) {
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(auto submitted, Submit("Pipeline", "n", sematic::Encode(3)));
  struct Seen {
    absl::Mutex mu;
    int runs ABSL_GUARDED_BY(mu) = 0;
    std::vector<v1::JobState> jobs ABSL_GUARDED_BY(mu);
    bool done ABSL_GUARDED_BY(mu) = false;
  };
  Seen job_only, everything;
  for (Seen* seen : {&job_only, &everything}) {
    v1::WatchJobRequest request;
    request.set_job_id(submitted.job().id());
    request.set_job_only(seen == &job_only);
    scheduler_->WatchJob(
        request,
        [seen](const v1::JobEvent& e) {
          absl::MutexLock lock(&seen->mu);
          if (e.has_run()) {
            ++seen->runs;
          } else {
            seen->jobs.push_back(e.job().state());
          }
          return true;
        },
        [seen](absl::Status) {
          absl::MutexLock lock(&seen->mu);
          seen->done = true;
        });
  }
  ASSERT_OK(worker.RunUntilDone(submitted.job().id()).status());
  for (Seen* seen : {&job_only, &everything}) {
    absl::MutexLock lock(&seen->mu);
    ASSERT_TRUE(seen->mu.AwaitWithTimeout(absl::Condition(&seen->done), absl::Seconds(30)));
    ASSERT_FALSE(seen->jobs.empty());
    EXPECT_EQ(seen->jobs.back(), v1::JOB_SUCCEEDED);
  }
  absl::MutexLock a(&job_only.mu), b(&everything.mu);
  EXPECT_EQ(job_only.runs, 0);
  EXPECT_GE(everything.runs, 6);  // Pipeline, 3 Squares, the gather, Sum, Add: each ended
}

// When every able worker is busy, runs are sent ahead (Assignment.queued) to wait on a worker —
// one per running run while the function's durations are unknown; a run sent ahead counts
// against the worker's capacity once a run there ends.
TEST_F(SchedulerTest, RunsAreSentAheadToBusyWorkersOnePerRunningRun) {
  TestWorker worker(scheduler_.get(), "w1");
  std::string job_id;
  std::vector<v1::Assignment> first = PipelineOnOneSlot(worker, 3, &job_id);  // 3 Squares ready
  ASSERT_EQ(first.size(), 2u);
  EXPECT_FALSE(first[0].queued());  // the worker's one slot
  EXPECT_TRUE(first[1].queued());   // sent ahead; the third waits at the scheduler
  worker.SendResult(TestWorker::Execute(first[0]));
  // The run sent ahead now holds the slot: the third is sent ahead in its turn.
  std::vector<v1::Assignment> second = worker.NextAssignments();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_TRUE(second[0].queued());
  EXPECT_EQ(second[0].function(), "Square");
  worker.SendResult(TestWorker::Execute(first[1]));
  worker.SendResult(TestWorker::Execute(second[0]));
  ASSERT_OK_AND_ASSIGN(v1::Job job, worker.RunUntilDone(job_id));
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED);
}

// Once a function's runs are known to be short, several wait per running run (enough for the
// send-ahead horizon); once they are known to be long, none is sent ahead.
TEST_F(SchedulerTest, SendAheadDepthFollowsHowLongTheFunctionsRunsTake) {
  TestWorker worker(scheduler_.get(), "w1");
  std::string job_id;
  std::vector<v1::Assignment> first = PipelineOnOneSlot(worker, 50, &job_id);
  ASSERT_EQ(first.size(), 2u);  // the duration is unknown: one waits per running run
  EXPECT_TRUE(first[1].queued());
  worker.SendResult(TimedResult(first[0], absl::Milliseconds(1)));
  // 1 ms runs: the default horizon (32 ms) holds 32 per running run.
  std::vector<v1::Assignment> second = worker.NextAssignments();
  ASSERT_EQ(second.size(), 32u);
  for (const v1::Assignment& a : second) EXPECT_TRUE(a.queued());
  // Runs of 10 s make the typical duration long (over 100 ms): nothing more is sent ahead, so
  // the next assignment comes only once the slot is free, and not as queued.
  worker.SendResult(TimedResult(first[1], absl::Seconds(10)));
  for (const v1::Assignment& a : second) worker.SendResult(TimedResult(a, absl::Seconds(10)));
  std::vector<v1::Assignment> next = worker.NextAssignments();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_FALSE(next[0].queued());
}

TEST_F(SchedulerTest, StaleAttemptsAreRejected) {
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(auto submitted, Submit("Square", "x", sematic::Encode(5)));
  std::vector<v1::Assignment> assigned = worker.NextAssignments();
  ASSERT_EQ(assigned.size(), 1u);
  v1::RunResult stale = TestWorker::Execute(assigned[0]);
  stale.set_attempt(assigned[0].attempt() + 7);
  worker.SendResult(stale);
  bool rejected = false;
  while (auto m = worker.Next()) {
    if (m->has_ack()) {
      rejected = m->ack().rejected_size() == 1;
      break;
    }
  }
  EXPECT_TRUE(rejected);
  worker.SendResult(TestWorker::Execute(assigned[0]));
  ASSERT_OK_AND_ASSIGN(v1::Job job, worker.RunUntilDone(submitted.job().id()));
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED);
}

TEST_F(SchedulerTest, RunsOfALostWorkerGoToAnother) {
  TestWorker first(scheduler_.get(), "w1");
  first.Hello();
  ASSERT_OK_AND_ASSIGN(auto submitted, Submit("Square", "x", sematic::Encode(6)));
  std::vector<v1::Assignment> assigned = first.NextAssignments();
  ASSERT_EQ(assigned.size(), 1u);
  EXPECT_EQ(assigned[0].attempt(), 1);
  TestWorker second(scheduler_.get(), "w2");
  second.Hello();
  first.Gone();
  std::vector<v1::Assignment> retried = second.NextAssignments();
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_EQ(retried[0].run_id(), assigned[0].run_id());
  EXPECT_EQ(retried[0].attempt(), 2);
  second.SendResult(TestWorker::Execute(retried[0]));
  ASSERT_OK_AND_ASSIGN(v1::Job job, second.RunUntilDone(submitted.job().id()));
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED);

  // The run keeps its first attempt and how it ended; the latest is the run's own fields. Both
  // survive a restart.
  for (bool reopened : {false, true}) {
    if (reopened) {
      second.Gone();
      Open();
    }
    ASSERT_OK_AND_ASSIGN(v1::Run run, Wait<v1::Run>([&](auto cb) {
                           v1::GetRunRequest r;
                           r.set_run_id(assigned[0].run_id());
                           scheduler_->GetRun(r, cb);
                         }));
    ASSERT_EQ(run.attempts_size(), 1) << run.DebugString();
    EXPECT_EQ(run.attempts(0).attempt(), 1);
    EXPECT_EQ(run.attempts(0).worker_id(), "w1");
    EXPECT_EQ(run.attempts(0).outcome(), v1::FAILED);
    EXPECT_THAT(run.attempts(0).error(), HasSubstr("w1"));
    EXPECT_GT(run.attempts(0).ended_unix_micros(), 0);
    EXPECT_EQ(run.attempt(), 2);
    EXPECT_EQ(run.worker_id(), "w2");
    // Its literal input, by name.
    ASSERT_EQ(run.inputs_size(), 1);
    EXPECT_EQ(run.inputs(0).name(), "x");
    EXPECT_EQ(run.inputs(0).literal().int_value(), 6);
  }
}

// A worker restarted under the same id before its old stream was noticed gone: the new process
// claims none of the old one's runs, so they are lost with it and run again (here, on it).
TEST_F(SchedulerTest, RunsOfAWorkerRestartedUnderItsIdAreRunAgain) {
  TestWorker old_process(scheduler_.get(), "w1");
  old_process.Hello();
  ASSERT_OK_AND_ASSIGN(auto submitted, Submit("Square", "x", sematic::Encode(9)));
  std::vector<v1::Assignment> assigned = old_process.NextAssignments();
  ASSERT_EQ(assigned.size(), 1u);
  TestWorker new_process(scheduler_.get(), "w1");
  new_process.Hello();  // in_flight: nothing
  std::vector<v1::Assignment> again = new_process.NextAssignments();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].run_id(), assigned[0].run_id());
  EXPECT_EQ(again[0].attempt(), 2);
  new_process.SendResult(TestWorker::Execute(again[0]));
  ASSERT_OK_AND_ASSIGN(v1::Job job, new_process.RunUntilDone(submitted.job().id()));
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED);
}

TEST_F(SchedulerTest, CancelEndsTheJob) {
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(auto submitted, Submit("Square", "x", sematic::Encode(6)));
  ASSERT_EQ(worker.NextAssignments().size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto cancelled, Wait<v1::CancelJobResponse>([&](auto cb) {
                         v1::CancelJobRequest r;
                         r.set_job_id(submitted.job().id());
                         scheduler_->CancelJob(r, cb);
                       }));
  EXPECT_EQ(cancelled.job().state(), v1::JOB_CANCELED);
  bool told = false;
  while (auto m = worker.Next()) {
    if (m->has_cancel()) {
      told = true;
      break;
    }
  }
  EXPECT_TRUE(told);
}

TEST_F(SchedulerTest, RestartKeepsCompletedResultsAndFinishesTheJob) {
  std::string job_id;
  std::map<std::string, std::string> done_before;  // run id -> output digest
  {
    TestWorker worker(scheduler_.get(), "w1");
    worker.Hello();
    ASSERT_OK_AND_ASSIGN(auto submitted, Submit("Pipeline", "n", sematic::Encode(10)));
    job_id = submitted.job().id();
    // Run the nested root and half the squares, then "crash".
    std::vector<v1::Assignment> root = worker.NextAssignments();
    ASSERT_EQ(root.size(), 1u);
    worker.SendResult(TestWorker::Execute(root[0]));
    std::vector<v1::Assignment> squares;
    while (squares.size() < 5) {
      std::vector<v1::Assignment> more = worker.NextAssignments();
      ASSERT_FALSE(more.empty());
      squares.insert(squares.end(), more.begin(), more.end());
    }
    for (size_t i = 0; i < 5; ++i) worker.SendResult(TestWorker::Execute(squares[i]));
    ASSERT_OK_AND_ASSIGN(auto runs, Wait<v1::ListRunsResponse>([&](auto cb) {
                           v1::ListRunsRequest r;
                           r.set_job_id(job_id);
                           scheduler_->ListRuns(r, cb);
                         }));
    for (const auto& run : runs.runs()) {
      if (run.state() == v1::SUCCEEDED) done_before[run.id()] = run.output_digest();
    }
    EXPECT_GE(done_before.size(), 5u);
  }
  scheduler_.reset();
  Open();
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(v1::Job job, worker.RunUntilDone(job_id));
  ASSERT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  // Recounted at the restart: every run ended, none is left counted as assigned or running.
  ASSERT_GT(job.runs_by_state_size(), v1::SUCCEEDED);
  int64_t counted = 0;
  for (int64_t n : job.runs_by_state()) counted += n;
  EXPECT_EQ(job.runs_by_state(v1::SUCCEEDED), counted);
  EXPECT_EQ(job.runs_by_state(v1::ASSIGNED), 0);
  EXPECT_EQ(job.runs_by_state(v1::RUNNING), 0);
  int expected = 10;
  for (int i = 0; i < 10; ++i) expected += i * i;
  EXPECT_EQ(job.output_digest(),
            sematic::ArtifactId(sematic::TypeOf<int>(), sematic::Encode(expected)));
  for (const auto& [id, digest] : done_before) {
    ASSERT_OK_AND_ASSIGN(v1::Run run, Wait<v1::Run>([&](auto cb) {
                           v1::GetRunRequest r;
                           r.set_run_id(id);
                           scheduler_->GetRun(r, cb);
                         }));
    EXPECT_EQ(run.output_digest(), digest) << id;
    EXPECT_EQ(run.state(), v1::SUCCEEDED);
  }
}

TEST_F(SchedulerTest, AGatherOfThousandsIsStoredInPartsAndKeepsItsOrder) {
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  const int n = 2500;  // three parts of at most 1024 inputs under one concat
  ASSERT_OK_AND_ASSIGN(auto submitted, Submit("WeightedSquares", "n", sematic::Encode(n)));
  ASSERT_OK_AND_ASSIGN(v1::Job job, worker.RunUntilDone(submitted.job().id()));
  ASSERT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  int64_t expected = 0;
  for (int i = 0; i < n; ++i) expected += static_cast<int64_t>(i + 1) * i * i;
  EXPECT_EQ(job.output_digest(),
            sematic::ArtifactId(sematic::TypeOf<int64_t>(), sematic::Encode(expected)));
  int parts = 0, concats = 0;
  std::string token;
  do {
    ASSERT_OK_AND_ASSIGN(auto page, Wait<v1::ListRunsResponse>([&](auto cb) {
                           v1::ListRunsRequest r;
                           r.set_job_id(submitted.job().id());
                           r.set_page_size(1000);
                           r.set_page_token(token);
                           scheduler_->ListRuns(r, cb);
                         }));
    for (const v1::Run& run : page.runs()) {
      if (run.function() == "sematic.gather") ++parts;
      if (run.function() == "sematic.concat") ++concats;
      EXPECT_LE(run.inputs_size(), 1024) << run.id();
    }
    token = page.next_page_token();
  } while (!token.empty());
  EXPECT_EQ(parts, 3);
  EXPECT_EQ(concats, 1);
}

TEST_F(SchedulerTest, AHundredThousandNodeSubGraphIsPersistedInSmallRecords) {
  const int n = 100'000;
  uint64_t job_index = 0;
  {
    TestWorker worker(scheduler_.get(), "w1");
    worker.Hello();
    ASSERT_OK_AND_ASSIGN(auto submitted, Submit("WeightedSquares", "n", sematic::Encode(n)));
    std::vector<v1::Assignment> root = worker.NextAssignments();
    ASSERT_EQ(root.size(), 1u);
    worker.SendResult(TestWorker::Execute(root[0]));  // registers the 100k-node sub-graph
    // Answered after the registration's turn is committed.
    ASSERT_OK_AND_ASSIGN(auto info, Wait<v1::SchedulerInfo>(
                                        [&](auto cb) { scheduler_->GetInfo(cb); }));
    EXPECT_GE(info.runs(), n);
    ASSERT_OK_AND_ASSIGN(job_index, sch::ParseJobId(submitted.job().id()));
  }
  scheduler_.reset();
  ASSERT_OK_AND_ASSIGN(auto store, sch::Store::Open({.path = (dir_ / "db").string()}));
  size_t runs = 0, largest = 0;
  ASSERT_THAT(store->ScanRuns(job_index, 0,
                              [&](const sematic::internal::StoredRun& run) {
                                ++runs;
                                largest = std::max(largest, run.ByteSizeLong());
                                return true;
                              }),
              IsOk());
  EXPECT_GE(runs, static_cast<size_t>(n) + 2);
  EXPECT_LT(largest, size_t{128} << 10) << "a run record of " << largest << " bytes";
}

// A sub-graph's run records are committed in several writes when they are large (here: every
// KiB), ahead of the write that makes them count; a restart after the registration finds all
// of it, and the job ends with the right value.
TEST_F(SchedulerTest, ASubGraphCommittedInSeveralWritesRecoversWhole) {
  Open([](sch::SchedulerOptions& o) { o.registration_chunk_bytes = 1024; });
  const int n = 2500;
  std::string job_id;
  {
    TestWorker worker(scheduler_.get(), "w1");
    worker.Hello();
    ASSERT_OK_AND_ASSIGN(auto submitted, Submit("WeightedSquares", "n", sematic::Encode(n)));
    job_id = submitted.job().id();
    std::vector<v1::Assignment> root = worker.NextAssignments();
    ASSERT_EQ(root.size(), 1u);
    worker.SendResult(TestWorker::Execute(root[0]));
    std::vector<v1::Assignment> squares = worker.NextAssignments();
    ASSERT_FALSE(squares.empty());
    worker.SendResult(TestWorker::Execute(squares[0]));
  }
  Open([](sch::SchedulerOptions& o) { o.registration_chunk_bytes = 1024; });
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(v1::Job job, worker.RunUntilDone(job_id));
  ASSERT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  int64_t expected = 0;
  for (int i = 0; i < n; ++i) expected += static_cast<int64_t>(i + 1) * i * i;
  EXPECT_EQ(job.output_digest(),
            sematic::ArtifactId(sematic::TypeOf<int64_t>(), sematic::Encode(expected)));
  int64_t counted = 0;
  for (int64_t count : job.runs_by_state()) counted += count;
  EXPECT_EQ(job.runs_by_state(v1::SUCCEEDED), counted);
  EXPECT_GE(counted, n + 2);
}

// A crash between those writes leaves records of runs at or past the stored job's next run
// index: they are not runs. Recovery does not revive them, reads do not show them, and the
// nested step that registered them runs again and registers its sub-graph anew.
TEST_F(SchedulerTest, RunsOfARegistrationCutShortAreIgnoredAfterARestart) {
  std::string job_id;
  uint64_t job_index = 0;
  {
    TestWorker worker(scheduler_.get(), "w1");
    worker.Hello();
    ASSERT_OK_AND_ASSIGN(auto submitted, Submit("Pipeline", "n", sematic::Encode(3)));
    job_id = submitted.job().id();
    ASSERT_OK_AND_ASSIGN(job_index, sch::ParseJobId(job_id));
    ASSERT_EQ(worker.NextAssignments().size(), 1u);  // the root: assigned, never answered
  }
  scheduler_.reset();
  // What the first writes of a registration would have left: queued runs under the root.
  const std::string root_id = sch::FormatRunId(sch::RunKey{job_index, 0});
  std::vector<std::string> ghosts;
  {
    ASSERT_OK_AND_ASSIGN(auto store, sch::Store::Open({.path = (dir_ / "db").string()}));
    ASSERT_OK_AND_ASSIGN(sematic::internal::StoredJob stored_job, store->GetJob(job_index));
    ASSERT_EQ(stored_job.next_run_index(), 1u);
    sch::Store::Batch batch;
    for (uint64_t index : {1, 2, 40}) {
      sematic::internal::StoredRun ghost;
      v1::Run* run = ghost.mutable_run();
      run->set_id(sch::FormatRunId(sch::RunKey{job_index, index}));
      run->set_job_id(job_id);
      run->set_parent_id(root_id);
      run->set_function("Square");
      run->set_state(v1::QUEUED);
      v1::CallNode* node = ghost.mutable_node();
      node->set_id(absl::StrCat("ghost", index));
      node->set_function("Square");
      v1::Arg* arg = node->add_args();
      arg->set_name("x");
      *arg->mutable_literal() = sematic::Encode(7);
      *node->mutable_output_type() = sematic::TypeOf<int>();
      batch.PutRun(ghost);
      ghosts.push_back(run->id());
    }
    ASSERT_THAT(store->Commit(std::move(batch)), IsOk());
  }
  Open();
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(v1::Job job, worker.RunUntilDone(job_id));
  ASSERT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  EXPECT_EQ(job.output_digest(),
            sematic::ArtifactId(sematic::TypeOf<int>(), sematic::Encode(3 + 0 + 1 + 4)));
  // Index 40 is past the re-registered sub-graph: still not a run.
  EXPECT_THAT(GetRun(ghosts.back()).status(), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(auto runs, Wait<v1::ListRunsResponse>([&](auto cb) {
                         v1::ListRunsRequest r;
                         r.set_job_id(job_id);
                         r.set_page_size(1000);
                         scheduler_->ListRuns(r, cb);
                       }));
  int64_t counted = 0;
  for (int64_t count : job.runs_by_state()) counted += count;
  EXPECT_EQ(runs.runs_size(), counted);
  for (const v1::Run& run : runs.runs()) {
    EXPECT_NE(run.id(), ghosts.back());
    EXPECT_EQ(run.state(), v1::SUCCEEDED) << run.id();
    EXPECT_NE(run.node_id(), "ghost1") << run.id();
  }
}

TEST_F(SchedulerTest, AQueuedRunShowsWhyNoWorkerTakesIt) {
  TestWorker worker(scheduler_.get(), "w1");  // offers NeedsGpu but has no GPU
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(auto submitted, Submit("NeedsGpu", "x", sematic::Encode(1)));
  std::string reason;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (reason.empty() && absl::Now() < deadline) {
    ASSERT_OK_AND_ASSIGN(v1::Run run, GetRun(submitted.job().root_run_id()));
    EXPECT_EQ(run.state(), v1::QUEUED);
    reason = run.queued_reason();
    if (reason.empty()) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_THAT(reason, HasSubstr("gpus>=1"));
  EXPECT_THAT(reason, HasSubstr("worker w1 has 0 gpus"));
}

TEST_F(SchedulerTest, MaxParallelismBoundsTheRunsInFlight) {
  TestWorker worker(scheduler_.get(), "w1");  // 8 slots
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(auto submitted,
                       Submit("Pipeline", "n", sematic::Encode(12), "", /*max_parallelism=*/2));
  // Answer batch by batch; if parking failed, one batch would hold all 12 squares at once.
  size_t most_in_flight = 0;
  absl::StatusOr<v1::Job> job = GetJob(submitted.job().id());
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (job.ok() && job->state() == v1::JOB_RUNNING && absl::Now() < deadline) {
    std::vector<v1::Assignment> batch = worker.NextAssignments();
    most_in_flight = std::max(most_in_flight, batch.size());
    for (const auto& a : batch) worker.SendResult(TestWorker::Execute(a));
    job = GetJob(submitted.job().id());  // answered after the results are processed
  }
  ASSERT_THAT(job.status(), IsOk());
  EXPECT_EQ(job->state(), v1::JOB_SUCCEEDED);
  EXPECT_LE(most_in_flight, 2u);
  EXPECT_GE(most_in_flight, 1u);
}

TEST_F(SchedulerTest, AHungRunTimesOutAndTheWorkerIsToldToCancel) {
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(auto submitted, Submit("Slow", "x", sematic::Encode(1)));
  ASSERT_EQ(worker.NextAssignments().size(), 1u);  // and never answered
  bool told = false;
  while (auto m = worker.Next()) {
    if (m->has_cancel()) {
      told = true;
      break;
    }
  }
  EXPECT_TRUE(told);
  ASSERT_OK_AND_ASSIGN(v1::Job job, AwaitJobEnd(submitted.job().id()));
  EXPECT_EQ(job.state(), v1::JOB_FAILED);
  ASSERT_OK_AND_ASSIGN(v1::Run run, GetRun(submitted.job().root_run_id()));
  EXPECT_EQ(run.state(), v1::TIMED_OUT);
  EXPECT_THAT(run.error(), HasSubstr("timed out after 200 ms"));
}

// Malformed results of every kind from a worker: each fails its run or is rejected with a reason,
// and the scheduler keeps serving (the daemon must never crash on input).
TEST_F(SchedulerTest, MalformedResultsFailTheirRunsAndTheSchedulerKeepsServing) {
  auto bad_result = [&](std::function<void(v1::RunResult&, const v1::Assignment&)> spoil) {
    TestWorker worker(scheduler_.get(), "bad-" + sematic::RandomHex64());
    worker.Hello();
    absl::StatusOr<v1::SubmitJobResponse> submitted = Submit("Square", "x", sematic::Encode(3));
    EXPECT_THAT(submitted.status(), IsOk());
    if (!submitted.ok()) return v1::Job();
    std::vector<v1::Assignment> assigned = worker.NextAssignments();
    EXPECT_EQ(assigned.size(), 1u);
    if (assigned.empty()) return v1::Job();
    v1::RunResult result = TestWorker::Execute(assigned[0]);
    spoil(result, assigned[0]);
    worker.SendResult(result);
    absl::StatusOr<v1::Job> job = AwaitJobEnd(submitted->job().id());
    worker.Gone();
    return job.ok() ? *job : v1::Job();
  };
  // A value of the wrong type.
  v1::Job wrong_type = bad_result([](v1::RunResult& r, const v1::Assignment&) {
    *r.mutable_value() = sematic::Encode(std::string("nine"));
  });
  EXPECT_EQ(wrong_type.state(), v1::JOB_FAILED);
  EXPECT_THAT(wrong_type.error(), HasSubstr("expected int32"));
  // A "sub-graph" from a step that is not nested, naming an unknown function.
  v1::Job bad_graph = bad_result([](v1::RunResult& r, const v1::Assignment&) {
    v1::Graph* g = r.mutable_graph();
    v1::CallNode* n = g->add_nodes();
    n->set_id("n1");
    n->set_function("NoSuchStep");
    g->set_output_node("n1");
  });
  EXPECT_EQ(bad_graph.state(), v1::JOB_FAILED);
  EXPECT_FALSE(bad_graph.error().empty());
  // A graph whose output names no node.
  v1::Job dangling = bad_result([](v1::RunResult& r, const v1::Assignment&) {
    r.mutable_graph()->set_output_node("nowhere");
  });
  EXPECT_EQ(dangling.state(), v1::JOB_FAILED);
  // An error without a kind or message.
  v1::Job empty_error = bad_result([](v1::RunResult& r, const v1::Assignment&) {
    r.mutable_error();
  });
  EXPECT_EQ(empty_error.state(), v1::JOB_FAILED);
  EXPECT_THAT(empty_error.error(), HasSubstr("without a message"));
  // A result with no outcome at all is a protocol error: the stream is closed (its runs go to
  // other workers as infrastructure failures).
  {
    TestWorker worker(scheduler_.get(), "no-outcome");
    worker.Hello();
    ASSERT_OK_AND_ASSIGN(auto submitted, Submit("Square", "x", sematic::Encode(5)));
    std::vector<v1::Assignment> assigned = worker.NextAssignments();
    ASSERT_EQ(assigned.size(), 1u);
    v1::RunResult result;
    result.set_run_id(assigned[0].run_id());
    result.set_attempt(assigned[0].attempt());
    worker.SendResult(result);
    EXPECT_TRUE(worker.AwaitClosed());
    worker.Gone();
    TestWorker next(scheduler_.get(), "next");
    next.Hello();
    ASSERT_OK_AND_ASSIGN(v1::Job job, next.RunUntilDone(submitted.job().id()));
    EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED);
  }

  // Still serving: a good job succeeds.
  TestWorker good(scheduler_.get(), "good");
  good.Hello();
  ASSERT_OK_AND_ASSIGN(auto submitted, Submit("Square", "x", sematic::Encode(4)));
  ASSERT_OK_AND_ASSIGN(v1::Job job, good.RunUntilDone(submitted.job().id()));
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED);
}

TEST_F(SchedulerTest, ASubGraphOverTheNodeLimitFailsItsRunNamingTheLimit) {
  Open([](sch::SchedulerOptions& o) { o.limits.max_graph_nodes = 50; });
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  // A sub-graph of 102 nodes.
  ASSERT_OK_AND_ASSIGN(auto submitted, Submit("WeightedSquares", "n", sematic::Encode(100)));
  ASSERT_OK_AND_ASSIGN(v1::Job job, worker.RunUntilDone(submitted.job().id()));
  EXPECT_EQ(job.state(), v1::JOB_FAILED);
  EXPECT_THAT(job.error(), HasSubstr("50"));
  // The scheduler is unharmed: a small job still runs.
  ASSERT_OK_AND_ASSIGN(auto small, Submit("WeightedSquares", "n", sematic::Encode(10)));
  ASSERT_OK_AND_ASSIGN(v1::Job done, worker.RunUntilDone(small.job().id()));
  EXPECT_EQ(done.state(), v1::JOB_SUCCEEDED) << done.error();
}

TEST_F(SchedulerTest, ASilentWorkerIsDroppedAndItsRunsGoElsewhere) {
  Open([](sch::SchedulerOptions& o) {
    o.recovery_grace = absl::ZeroDuration();
    o.heartbeat_timeout = absl::Milliseconds(300);
  });
  {
    TestWorker silent(scheduler_.get(), "silent");
    silent.Hello();
    ASSERT_OK_AND_ASSIGN(auto submitted, Submit("Square", "x", sematic::Encode(9)));
    std::vector<v1::Assignment> first = silent.NextAssignments();
    ASSERT_EQ(first.size(), 1u);
    // The silent worker sends no heartbeat; a live one joins and gets the run's next attempt.
    TestWorker live(scheduler_.get(), "live");
    live.Hello();
    live.StartHeartbeats(absl::Milliseconds(50));
    std::vector<v1::Assignment> retried = live.NextAssignments();
    ASSERT_EQ(retried.size(), 1u);
    EXPECT_EQ(retried[0].run_id(), first[0].run_id());
    EXPECT_EQ(retried[0].attempt(), 2);
    live.SendResult(TestWorker::Execute(retried[0]));
    ASSERT_OK_AND_ASSIGN(v1::Job job, live.RunUntilDone(submitted.job().id()));
    EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED);
  }
}

// ---- Run history and artifacts ------------------------------------------------------------------

// Uploads `value` through the scheduler's ArtifactService; returns its digest.
absl::StatusOr<std::string> UploadValue(sch::Scheduler& scheduler, const v1::TypeDesc& type,
                                        const v1::Value& value) {
  const std::string bytes = *sematic::CanonicalBytes(type, value);
  std::unique_ptr<sch::ArtifactService::Upload> upload = scheduler.artifacts().StartUpload();
  v1::UploadChunk chunk;
  chunk.set_digest(sematic::ArtifactId(type, value));
  chunk.set_total_size(bytes.size());
  chunk.set_data(bytes);
  if (absl::Status s = upload->Append(chunk); !s.ok()) return s;
  absl::StatusOr<v1::UploadResponse> done = upload->Finish();
  if (!done.ok()) return done.status();
  return done->digest();
}

// One ReadRunLogs reply, waited for with a deadline.
class LogRead {
 public:
  LogRead(sch::Scheduler& scheduler, const std::string& run_id, uint64_t from, bool follow) {
    v1::GetRunLogsRequest r;
    r.set_run_id(run_id);
    r.set_from_index(from);
    r.set_follow(follow);
    scheduler.ReadRunLogs(r, 100, [this](absl::StatusOr<sch::RunLogPage> page) {
      page_ = std::move(page);
      done_.Notify();
    });
  }
  bool HasReplied() const { return done_.HasBeenNotified(); }
  absl::StatusOr<sch::RunLogPage> Get() {
    if (!done_.WaitForNotificationWithTimeout(absl::Seconds(30))) {
      return absl::DeadlineExceededError("no log page within 30 s");
    }
    return page_;
  }

 private:
  absl::Notification done_;
  absl::StatusOr<sch::RunLogPage> page_ = absl::UnknownError("unset");
};

std::vector<std::string> Texts(const v1::LogLines& lines) {
  std::vector<std::string> out;
  for (const auto& e : lines.entries()) out.push_back(e.text());
  return out;
}

v1::WorkerMessage Logs(const std::string& run_id, std::vector<std::string> lines,
                       std::vector<std::pair<std::string, double>> metrics = {}) {
  v1::WorkerMessage m;
  v1::RunLogs* logs = m.mutable_logs()->add_runs();
  logs->set_run_id(run_id);
  for (const auto& text : lines) logs->add_entries()->set_text(text);
  int64_t step = 0;
  for (const auto& [name, value] : metrics) {
    v1::MetricPoint* p = logs->add_metrics();
    p->set_name(name);
    p->set_value(value);
    p->set_step(++step);
  }
  return m;
}

TEST_F(SchedulerTest, LogsReadFromAnIndexAndAFollowerEndsWithTheRun) {
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(auto submitted, Submit("Square", "x", sematic::Encode(4)));
  std::vector<v1::Assignment> a = worker.NextAssignments();
  ASSERT_EQ(a.size(), 1u);
  const std::string run_id = a[0].run_id();
  scheduler_->OnWorkerMessage(worker.session(), Logs(run_id, {"a", "b", "c"}));

  LogRead resumed(*scheduler_, run_id, 1, /*follow=*/false);
  ASSERT_OK_AND_ASSIGN(sch::RunLogPage page, resumed.Get());
  EXPECT_EQ(page.lines.first_index(), 1u);
  EXPECT_THAT(Texts(page.lines), ::testing::ElementsAre("b", "c"));
  EXPECT_FALSE(page.lines.run_ended());

  // A follower past the last line waits for the next committed line ...
  LogRead next(*scheduler_, run_id, 3, /*follow=*/true);
  LogRead sync(*scheduler_, run_id, 0, /*follow=*/false);  // a later read has been answered:
  ASSERT_THAT(sync.Get().status(), IsOk());                 // the follower is parked by now
  EXPECT_FALSE(next.HasReplied());
  scheduler_->OnWorkerMessage(worker.session(), Logs(run_id, {"d"}));
  ASSERT_OK_AND_ASSIGN(page, next.Get());
  EXPECT_THAT(Texts(page.lines), ::testing::ElementsAre("d"));

  // ... and for the run's end, which answers with an empty page.
  LogRead end(*scheduler_, run_id, 4, /*follow=*/true);
  worker.SendResult(TestWorker::Execute(a[0]));
  ASSERT_OK_AND_ASSIGN(page, end.Get());
  EXPECT_TRUE(page.lines.entries().empty());
  EXPECT_TRUE(page.lines.run_ended());
  // Once ended, a follower gets what is there at once.
  LogRead all(*scheduler_, run_id, 0, /*follow=*/true);
  ASSERT_OK_AND_ASSIGN(page, all.Get());
  EXPECT_THAT(Texts(page.lines), ::testing::ElementsAre("a", "b", "c", "d"));
  EXPECT_TRUE(page.lines.run_ended());

  LogRead unknown(*scheduler_, sch::FormatRunId({999, 0}), 0, true);
  EXPECT_THAT(unknown.Get(), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(v1::Job job, AwaitJobEnd(submitted.job().id()));
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED);
}

TEST_F(SchedulerTest, MetricsAreListedAllOrByName) {
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(auto submitted, Submit("Square", "x", sematic::Encode(4)));
  std::vector<v1::Assignment> a = worker.NextAssignments();
  ASSERT_EQ(a.size(), 1u);
  scheduler_->OnWorkerMessage(worker.session(),
                              Logs(a[0].run_id(), {}, {{"loss", 0.9}, {"acc", 0.5}, {"loss", 0.4}}));
  worker.SendResult(TestWorker::Execute(a[0]));
  auto metrics = [&](const std::string& run_id, const std::string& name) {
    return Wait<v1::GetRunMetricsResponse>([&](auto cb) {
      v1::GetRunMetricsRequest r;
      r.set_run_id(run_id);
      r.set_name(name);
      scheduler_->GetRunMetrics(r, cb);
    });
  };
  ASSERT_OK_AND_ASSIGN(v1::GetRunMetricsResponse all, metrics(a[0].run_id(), ""));
  EXPECT_EQ(all.points_size(), 3);
  ASSERT_OK_AND_ASSIGN(v1::GetRunMetricsResponse loss, metrics(a[0].run_id(), "loss"));
  ASSERT_EQ(loss.points_size(), 2);
  EXPECT_EQ(loss.points(0).value(), 0.9);
  EXPECT_EQ(loss.points(1).value(), 0.4);
  EXPECT_THAT(metrics(sch::FormatRunId({999, 0}), ""), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(SchedulerTest, LineageOfASmallJobsArtifacts) {
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(auto submitted, Submit("Pipeline", "n", sematic::Encode(3)));
  ASSERT_OK_AND_ASSIGN(v1::Job job, worker.RunUntilDone(submitted.job().id()));
  ASSERT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  ASSERT_OK_AND_ASSIGN(v1::ListRunsResponse listed, Wait<v1::ListRunsResponse>([&](auto cb) {
                         v1::ListRunsRequest r;
                         r.set_job_id(job.id());
                         scheduler_->ListRuns(r, cb);
                       }));
  std::map<std::string, v1::Run> by_id;
  std::multimap<std::string, std::string> ids_of;  // function -> run ids
  for (const auto& run : listed.runs()) {
    by_id[run.id()] = run;
    ids_of.emplace(run.function(), run.id());
  }
  ASSERT_EQ(ids_of.count("Add"), 1u);
  const std::string add = ids_of.find("Add")->second;
  const std::string sum = ids_of.find("Sum")->second;
  const std::string gather = ids_of.find("sematic.gather")->second;

  // The job's output was produced by Add (the nested Pipeline only passes it on).
  v1::GetArtifactRequest get;
  get.set_digest(job.output_digest());
  ASSERT_OK_AND_ASSIGN(v1::GetArtifactResponse meta, scheduler_->artifacts().GetArtifact(get));
  EXPECT_EQ(meta.meta().producer_run_id(), add);

  auto lineage = [&](auto set, int max_depth) {
    return Wait<v1::GetLineageResponse>([&](auto cb) {
      v1::GetLineageRequest r;
      set(r);
      r.set_max_depth(max_depth);
      scheduler_->GetLineage(r, cb);
    });
  };
  auto functions = [&](const v1::GetLineageResponse& l) {
    std::multiset<std::string> out;
    for (const auto& run : l.runs()) out.insert(run.function());
    return out;
  };
  auto has_edge = [](const v1::GetLineageResponse& l, const std::string& producer,
                     const std::string& consumer, const std::string& digest) {
    for (const auto& e : l.edges()) {
      if (e.producer_run_id() == producer && e.consumer_run_id() == consumer &&
          e.artifact_digest() == digest) {
        return true;
      }
    }
    return false;
  };

  ASSERT_OK_AND_ASSIGN(v1::GetLineageResponse full,
                       lineage([&](auto& r) { r.set_artifact_digest(job.output_digest()); }, 0));
  EXPECT_EQ(functions(full), (std::multiset<std::string>{"Add", "Sum", "sematic.gather",
                                                         "Square", "Square", "Square"}));
  EXPECT_TRUE(has_edge(full, add, "", job.output_digest()));
  EXPECT_TRUE(has_edge(full, sum, add, by_id[sum].output_digest()));
  EXPECT_TRUE(has_edge(full, gather, sum, by_id[gather].output_digest()));
  for (const auto& [f, id] : ids_of) {
    if (f == "Square") {
      EXPECT_TRUE(has_edge(full, id, gather, by_id[id].output_digest())) << id;
    }
  }
  // Add's literal "b" (n) was given inline: an edge with no producer and no digest.
  bool literal = false;
  for (const auto& e : full.edges()) {
    literal |= e.consumer_run_id() == add && e.input_name() == "b" && e.producer_run_id().empty();
  }
  EXPECT_TRUE(literal);

  ASSERT_OK_AND_ASSIGN(v1::GetLineageResponse shallow,
                       lineage([&](auto& r) { r.set_artifact_digest(job.output_digest()); }, 1));
  EXPECT_EQ(functions(shallow), (std::multiset<std::string>{"Add", "Sum"}));

  // By run: a Square's consumers, transitively.
  const std::string square = ids_of.find("Square")->second;
  ASSERT_OK_AND_ASSIGN(v1::GetLineageResponse down,
                       lineage([&](auto& r) { r.set_run_id(square); }, 0));
  EXPECT_EQ(functions(down), (std::multiset<std::string>{"Square", "sematic.gather", "Sum", "Add"}));
  EXPECT_TRUE(has_edge(down, square, gather, by_id[square].output_digest()));
  EXPECT_TRUE(has_edge(down, sum, add, by_id[sum].output_digest()));

  EXPECT_THAT(lineage([](auto& r) { r.set_artifact_digest(sematic::Sha256Hex("no")); }, 0),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(lineage([](auto&) {}, 0), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(SchedulerTest, ArtifactsByDigestMustHaveTheExpectedType) {
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(std::string text, UploadValue(*scheduler_, sematic::TypeOf<std::string>(),
                                                     sematic::Encode(std::string("seven"))));
  ASSERT_OK_AND_ASSIGN(std::string seven,
                       UploadValue(*scheduler_, sematic::TypeOf<int>(), sematic::Encode(7)));
  // Submitting by artifact id: the artifact's type must be the parameter's.
  v1::SubmitJobRequest r;
  r.set_function("Square");
  r.add_args()->set_name("x");
  r.mutable_args(0)->set_artifact_digest(text);
  EXPECT_THAT(
      Wait<v1::SubmitJobResponse>([&](auto cb) { scheduler_->SubmitJob(r, cb); }),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("args[0] (x).artifact_digest")));
  r.mutable_args(0)->set_artifact_digest(seven);
  ASSERT_OK_AND_ASSIGN(auto submitted,
                       Wait<v1::SubmitJobResponse>([&](auto cb) { scheduler_->SubmitJob(r, cb); }));
  std::vector<v1::Assignment> a = worker.NextAssignments();
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(a[0].inputs_size(), 1);
  EXPECT_EQ(a[0].inputs(0).value().int_value(), 7);

  // A result reported by digest must be of the run's output type: a string fails the run.
  v1::RunResult wrong;
  wrong.set_run_id(a[0].run_id());
  wrong.set_attempt(a[0].attempt());
  wrong.set_artifact_digest(text);
  worker.SendResult(wrong);
  ASSERT_OK_AND_ASSIGN(v1::Job failed, AwaitJobEnd(submitted.job().id()));
  EXPECT_EQ(failed.state(), v1::JOB_FAILED);
  EXPECT_THAT(failed.error(), HasSubstr("results.artifact_digest"));

  // The right type succeeds, and the run becomes the uploaded artifact's producer.
  ASSERT_OK_AND_ASSIGN(std::string fortynine,
                       UploadValue(*scheduler_, sematic::TypeOf<int>(), sematic::Encode(49)));
  ASSERT_OK_AND_ASSIGN(auto again,
                       Wait<v1::SubmitJobResponse>([&](auto cb) { scheduler_->SubmitJob(r, cb); }));
  a = worker.NextAssignments();
  ASSERT_EQ(a.size(), 1u);
  v1::RunResult right;
  right.set_run_id(a[0].run_id());
  right.set_attempt(a[0].attempt());
  right.set_artifact_digest(fortynine);
  worker.SendResult(right);
  ASSERT_OK_AND_ASSIGN(v1::Job job, AwaitJobEnd(again.job().id()));
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  EXPECT_EQ(job.output_digest(), fortynine);
  v1::GetArtifactRequest get;
  get.set_digest(fortynine);
  ASSERT_OK_AND_ASSIGN(v1::GetArtifactResponse meta, scheduler_->artifacts().GetArtifact(get));
  EXPECT_EQ(meta.meta().producer_run_id(), a[0].run_id());
}

TEST_F(SchedulerTest, ARunTakingAnArtifactIsAssignedItsValueAfterARestart) {
  // No worker before the restart: the run waits QUEUED with its artifact argument, whose record
  // lists no producing runs.
  ASSERT_OK_AND_ASSIGN(std::string seven,
                       UploadValue(*scheduler_, sematic::TypeOf<int>(), sematic::Encode(7)));
  v1::SubmitJobRequest r;
  r.set_function("Square");
  r.add_args()->set_name("x");
  r.mutable_args(0)->set_artifact_digest(seven);
  {
    TestWorker announcer(scheduler_.get(), "w0");  // offers Square for the submit, then leaves
    announcer.Hello();
    ASSERT_OK_AND_ASSIGN(auto submitted,
                         Wait<v1::SubmitJobResponse>([&](auto cb) { scheduler_->SubmitJob(r, cb); }));
    std::vector<v1::Assignment> a = announcer.NextAssignments();
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].inputs(0).value().int_value(), 7);
  }
  scheduler_.reset();
  Open();
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  std::vector<v1::Assignment> a = worker.NextAssignments();
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(a[0].inputs_size(), 1);
  EXPECT_EQ(a[0].inputs(0).value().int_value(), 7);
}

TEST_F(SchedulerTest, RunningIsNotWrittenAndARestartRecountsTheJobsRuns) {
  std::string job_id;
  {
    TestWorker worker(scheduler_.get(), "w1");
    worker.Hello();
    ASSERT_OK_AND_ASSIGN(auto submitted, Submit("Pipeline", "n", sematic::Encode(4)));
    job_id = submitted.job().id();
    std::vector<v1::Assignment> root = worker.NextAssignments();
    ASSERT_EQ(root.size(), 1u);
    worker.SendResult(TestWorker::Execute(root[0]));
    std::vector<v1::Assignment> squares;
    while (squares.size() < 4) {
      std::vector<v1::Assignment> more = worker.NextAssignments();
      ASSERT_FALSE(more.empty());
      squares.insert(squares.end(), more.begin(), more.end());
    }
    worker.SendStarted(squares);  // RUNNING in memory (and for watchers) only
    ASSERT_OK_AND_ASSIGN(v1::Run running, Wait<v1::Run>([&](auto cb) {
                           v1::GetRunRequest r;
                           r.set_run_id(squares[0].run_id());
                           scheduler_->GetRun(r, cb);
                         }));
    EXPECT_EQ(running.state(), v1::RUNNING);
    // Another change writes the job record, with counts that include the unwritten RUNNING.
    worker.SendResult(TestWorker::Execute(squares[0]));
    ASSERT_OK_AND_ASSIGN(v1::Run done, Wait<v1::Run>([&](auto cb) {
                           v1::GetRunRequest r;
                           r.set_run_id(squares[0].run_id());
                           scheduler_->GetRun(r, cb);
                         }));
    EXPECT_EQ(done.state(), v1::SUCCEEDED);
  }
  scheduler_.reset();
  Open();
  TestWorker worker(scheduler_.get(), "w2");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(v1::Job job, worker.RunUntilDone(job_id));
  ASSERT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  int64_t counted = 0;
  for (int64_t n : job.runs_by_state()) counted += n;
  EXPECT_EQ(job.runs_by_state(v1::SUCCEEDED), counted);
  EXPECT_EQ(job.runs_by_state(v1::RUNNING), 0);
  EXPECT_EQ(job.runs_by_state(v1::ASSIGNED), 0);
}

TEST_F(SchedulerTest, ARecoveredRunsLogIsAppendedToNotOverwritten) {
  std::string run_id;
  int attempt = 0;
  {
    TestWorker worker(scheduler_.get(), "w1");
    worker.Hello();
    ASSERT_OK_AND_ASSIGN(auto submitted, Submit("Square", "x", sematic::Encode(5)));
    std::vector<v1::Assignment> a = worker.NextAssignments();
    ASSERT_EQ(a.size(), 1u);
    run_id = a[0].run_id();
    attempt = a[0].attempt();
    scheduler_->OnWorkerMessage(worker.session(), Logs(run_id, {"before-1", "before-2"}));
    LogRead committed(*scheduler_, run_id, 0, false);
    ASSERT_THAT(committed.Get().status(), IsOk());
  }
  scheduler_.reset();
  Open();
  TestWorker worker(scheduler_.get(), "w1");
  v1::RunAttempt still_running;
  still_running.set_run_id(run_id);
  still_running.set_attempt(attempt);
  worker.Hello({still_running});
  scheduler_->OnWorkerMessage(worker.session(), Logs(run_id, {"after"}));
  LogRead all(*scheduler_, run_id, 0, false);
  ASSERT_OK_AND_ASSIGN(sch::RunLogPage page, all.Get());
  EXPECT_THAT(Texts(page.lines), ::testing::ElementsAre("before-1", "before-2", "after"));
}

// A lost worker's runs are retried elsewhere. Those sent ahead beyond what it can have started
// (its slots + the results a worker may hold back) were never there; the others may have been
// running together, so none of them is blamed (crash_triage.h): they run alone next, and no
// retry is spent either way.
TEST_F(SchedulerTest, RunsSentAheadToALostWorkerBeyondWhatItCanHaveStartedSpendNoRetry) {
  TestWorker first(scheduler_.get(), "w1");
  std::string job_id;
  std::vector<v1::Assignment> initial = PipelineOnOneSlot(first, 40, &job_id);
  ASSERT_EQ(initial.size(), 2u);  // one running, one ahead
  first.SendResult(TimedResult(initial[0], absl::Milliseconds(1)));  // 32 more are sent ahead
  std::vector<v1::Assignment> ahead = first.NextAssignments();
  ASSERT_EQ(ahead.size(), 32u);
  first.Gone();  // initial[1] runs there now; ahead[0..16] may have started, ahead[17..] not
  auto log_of = [&](const std::string& run_id) -> std::string {
    LogRead read(*scheduler_, run_id, 0, false);
    absl::StatusOr<sch::RunLogPage> page = read.Get();
    if (!page.ok() || page->lines.entries().empty()) return "";
    return page->lines.entries(0).text();
  };
  TestWorker second(scheduler_.get(), "w2");
  second.Hello({}, /*max_runs=*/8);
  ASSERT_OK_AND_ASSIGN(v1::Job job, second.RunUntilDone(job_id));
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED);
  EXPECT_THAT(log_of(initial[1].run_id()),
              HasSubstr("attempt 1 lost: worker w1 was lost: test dropped it, with 17 other runs; "
                        "queued again to run alone (no retry spent)"));
  EXPECT_THAT(log_of(ahead[0].run_id()), HasSubstr("with 17 other runs"));
  EXPECT_THAT(log_of(ahead[16].run_id()), HasSubstr("with 17 other runs"));
  EXPECT_THAT(log_of(ahead[17].run_id()), HasSubstr("lost before it could start it"));
  EXPECT_THAT(log_of(ahead[31].run_id()), HasSubstr("no retry spent"));
}

// A worker that says it drains gets nothing more; the runs it refuses without starting them
// (sent ahead, or arriving while it drains) go elsewhere without spending a retry.
TEST_F(SchedulerTest, ADrainingWorkerGetsNothingMoreAndItsUnstartedRefusalsSpendNoRetry) {
  TestWorker first(scheduler_.get(), "w1");
  std::string job_id;
  std::vector<v1::Assignment> initial = PipelineOnOneSlot(first, 3, &job_id);
  ASSERT_EQ(initial.size(), 2u);  // one running, one ahead
  ASSERT_TRUE(initial[1].queued());
  v1::WorkerMessage draining;
  draining.mutable_heartbeat()->set_draining(true);
  draining.mutable_heartbeat()->add_running()->set_run_id(initial[0].run_id());
  draining.mutable_heartbeat()->mutable_running(0)->set_attempt(initial[0].attempt());
  scheduler_->OnWorkerMessage(first.session(), draining);
  v1::RunResult refused;
  refused.set_run_id(initial[1].run_id());
  refused.set_attempt(initial[1].attempt());
  refused.mutable_error()->set_kind(v1::INFRASTRUCTURE);
  refused.mutable_error()->set_retryable(true);
  refused.mutable_error()->set_never_started(true);
  refused.mutable_error()->set_message("worker w1: draining; takes no new runs");
  first.SendResult(refused);
  first.SendResult(TestWorker::Execute(initial[0]));  // what it ran, it finishes
  TestWorker second(scheduler_.get(), "w2");
  second.Hello({}, /*max_runs=*/8);
  ASSERT_OK_AND_ASSIGN(v1::Job job, second.RunUntilDone(job_id));
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED);
  for (const v1::SchedulerMessage& m : first.TakeReceived()) {
    EXPECT_EQ(m.assignments().assignments_size(), 0) << "assigned to a draining worker";
  }
  LogRead read(*scheduler_, initial[1].run_id(), 0, false);
  ASSERT_OK_AND_ASSIGN(sch::RunLogPage page, read.Get());
  ASSERT_FALSE(page.lines.entries().empty());
  EXPECT_THAT(page.lines.entries(0).text(),
              HasSubstr("attempt 1 never started: worker w1: draining; takes no new runs; "
                        "queued again (no retry spent)"));
}

// ---- Never crash, never mislabel -----------------------------------------------------------

// Nested: the sum of 2i for i < n, as one call over a gather — of nothing when n is 0.
int Double(int x) { return 2 * x; }
SEMATIC_FUNC(Double, "x");

int Total(const std::vector<int>& xs) {
  int t = 0;
  for (int x : xs) t += x;
  return t;
}
SEMATIC_FUNC(Total, "xs");

Future<int> DoubleAll(int n) {
  std::vector<Future<int>> doubled;
  for (int i = 0; i < n; ++i) doubled.push_back(Call(Double, i));
  return Call(Total, doubled);
}
SEMATIC_FUNC(DoubleAll, "n");

absl::StatusOr<int> Boom(int) { return absl::InternalError("boom: the step broke"); }
SEMATIC_FUNC(Boom, "x");

// Nested: n Doubles and a Boom, all gathered into one Total.
Future<int> FanWithBoom(int n) {
  std::vector<Future<int>> parts;
  for (int i = 0; i < n; ++i) parts.push_back(Call(Double, i));
  parts.push_back(Call(Boom, 0));
  return Call(Total, parts);
}
SEMATIC_FUNC(FanWithBoom, "n");

int Retried(int x) { return x; }
SEMATIC_FUNC(Retried, "x").Retry(1);

Future<int> RetriedFan(int n) {
  std::vector<Future<int>> parts;
  for (int i = 0; i < n; ++i) parts.push_back(Call(Retried, i));
  return Call(Total, parts);
}
SEMATIC_FUNC(RetriedFan, "n");

v1::Value IntValue(int v) { return sematic::Encode(v); }

std::string IntDigest(int v) { return sematic::ArtifactId(sematic::TypeOf<int>(), IntValue(v)); }

// A gather of no inputs is ready at once: DoubleAll(0) is Total of nothing. It used to ready
// Total twice (once when the empty gather was evaluated, once more in the registration loop),
// an illegal transition that aborted the scheduler — and again after every restart.
TEST_F(SchedulerTest, AnEmptyGatherIsReadyAtOnce) {
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(auto empty, Submit("DoubleAll", "n", IntValue(0)));
  ASSERT_OK_AND_ASSIGN(v1::Job job, worker.RunUntilDone(empty.job().id()));
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  EXPECT_EQ(job.output_digest(), IntDigest(0));
  // And a gather of some still works alongside.
  ASSERT_OK_AND_ASSIGN(auto some, Submit("DoubleAll", "n", IntValue(4)));
  ASSERT_OK_AND_ASSIGN(job, worker.RunUntilDone(some.job().id()));
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  EXPECT_EQ(job.output_digest(), IntDigest(12));
}

// The same job across a restart: its nested root was out on a worker when the scheduler went
// down, runs again after it, and its empty gather then completes.
TEST_F(SchedulerTest, AJobWithAnEmptyGatherRecoversAfterARestart) {
  std::string job_id;
  {
    TestWorker worker(scheduler_.get(), "w1");
    worker.Hello();
    ASSERT_OK_AND_ASSIGN(auto submitted, Submit("DoubleAll", "n", IntValue(0)));
    job_id = submitted.job().id();
    ASSERT_EQ(worker.NextAssignments().size(), 1u);  // the root, never answered
  }
  Open();
  TestWorker worker(scheduler_.get(), "w2");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(v1::Job job, worker.RunUntilDone(job_id));
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  EXPECT_EQ(job.output_digest(), IntDigest(0));
}

// Stored records written by hand, as a damaged or inconsistent store would hold them.
class CraftedRecords {
 public:
  explicit CraftedRecords(uint64_t job) : job_(job) {}

  // A RUNNING job of `runs` runs whose root is run 0.
  internal_job_t Job(uint64_t runs) const {
    internal_job_t stored;
    v1::Job& j = *stored.mutable_job();
    j.set_id(sch::FormatJobId(job_));
    j.set_function("Square");
    j.set_state(v1::JOB_RUNNING);
    j.set_root_run_id(Run(0));
    stored.set_next_run_index(runs);
    return stored;
  }
  std::string Run(uint64_t index) const { return sch::FormatRunId(sch::RunKey{job_, index}); }
  // Run `index` in `state`, calling `function` on the literal 3.
  internal_run_t StoredRun(uint64_t index, v1::RunState state, const std::string& function) const {
    internal_run_t stored;
    v1::Run& r = *stored.mutable_run();
    r.set_id(Run(index));
    r.set_job_id(sch::FormatJobId(job_));
    r.set_state(state);
    r.set_function(function);
    r.set_builtin(function.starts_with("sematic."));
    v1::CallNode& node = *stored.mutable_node();
    node.set_id(absl::StrCat("n", index));
    node.set_function(function);
    *node.mutable_output_type() = sematic::TypeOf<int>();
    v1::Arg* arg = node.add_args();
    arg->set_name("x");
    *arg->mutable_literal() = IntValue(3);
    return stored;
  }

 private:
  uint64_t job_;
};

// Writes records into the (closed) scheduler's store.
void WriteRecords(const std::filesystem::path& dir,
                  const std::function<void(sch::Store::Batch&)>& fill) {
  sch::StoreOptions options;
  options.path = (dir / "db").string();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<sch::Store> store, sch::Store::Open(options));
  sch::Store::Batch batch;
  fill(batch);
  ASSERT_OK(store->Commit(std::move(batch)));
}

// A bug found while handling one job — here an inconsistent stored record: a QUEUED run that
// claims an output child, so that the child's value "completes" a run that never ran (an
// illegal QUEUED -> SUCCEEDED) — fails that job with INTERNAL naming the run, and the scheduler
// goes on serving the others. It used to abort, at every start.
TEST_F(SchedulerTest, ABugInOneJobFailsThatJobAndOthersComplete) {
  std::string healthy;
  {
    TestWorker worker(scheduler_.get(), "w1");
    worker.Hello();
    ASSERT_OK_AND_ASSIGN(auto submitted, Submit("Square", "x", IntValue(3)));
    healthy = submitted.job().id();
  }
  scheduler_.reset();
  CraftedRecords bad(1000);
  WriteRecords(dir_, [&](sch::Store::Batch& batch) {
    batch.PutJob(bad.Job(2));
    internal_run_t root = bad.StoredRun(0, v1::QUEUED, "Square");
    root.set_output_child_run_id(bad.Run(1));
    batch.PutRun(root);
    internal_run_t child = bad.StoredRun(1, v1::CREATED, "sematic.literal");
    child.mutable_node()->mutable_args(0)->set_name("value");
    child.mutable_run()->set_parent_id(bad.Run(0));
    batch.PutRun(child);
  });
  for (int start = 0; start < 2; ++start) {  // and no crash loop: a second start is fine too
    Open();
    ASSERT_OK_AND_ASSIGN(v1::Job failed, AwaitJobEnd(sch::FormatJobId(1000)));
    EXPECT_EQ(failed.state(), v1::JOB_FAILED);
    EXPECT_THAT(failed.error(), HasSubstr("INTERNAL"));
    EXPECT_THAT(failed.error(), HasSubstr(bad.Run(0)));
    ASSERT_OK_AND_ASSIGN(v1::Run culprit, GetRun(bad.Run(0)));
    EXPECT_EQ(culprit.state(), v1::FAILED);
  }
  TestWorker worker(scheduler_.get(), "w2");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(v1::Job job, worker.RunUntilDone(healthy));
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  EXPECT_EQ(job.output_digest(), IntDigest(9));
  ASSERT_OK_AND_ASSIGN(auto later, Submit("Square", "x", IntValue(5)));
  ASSERT_OK_AND_ASSIGN(job, worker.RunUntilDone(later.job().id()));
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
}

// A record recovery cannot rebuild (a run in no known state) quarantines its job at startup:
// FAILED with INTERNAL naming the record, never touched again. It used to sit RUNNING, and a
// cancel of it aborted the scheduler.
TEST_F(SchedulerTest, AnUnrecoverableRecordQuarantinesItsJob) {
  scheduler_.reset();
  CraftedRecords bad(7);
  WriteRecords(dir_, [&](sch::Store::Batch& batch) {
    batch.PutJob(bad.Job(1));
    batch.PutRun(bad.StoredRun(0, static_cast<v1::RunState>(99), "Square"));
  });
  Open();
  absl::StatusOr<v1::CancelJobResponse> cancel = Wait<v1::CancelJobResponse>([&](auto cb) {
    v1::CancelJobRequest r;
    r.set_job_id(sch::FormatJobId(7));
    scheduler_->CancelJob(r, cb);
  });
  EXPECT_THAT(cancel.status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(v1::Job job, GetJob(sch::FormatJobId(7)));
  EXPECT_EQ(job.state(), v1::JOB_FAILED);
  EXPECT_THAT(job.error(), HasSubstr("INTERNAL"));
  EXPECT_THAT(job.error(), HasSubstr(bad.Run(0)));
  // The scheduler serves: a new job (id after the quarantined one) runs.
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(auto submitted, Submit("Square", "x", IntValue(4)));
  ASSERT_OK_AND_ASSIGN(v1::Job done, worker.RunUntilDone(submitted.job().id()));
  EXPECT_EQ(done.state(), v1::JOB_SUCCEEDED);
  Open();  // and it stays quarantined
  ASSERT_OK_AND_ASSIGN(job, GetJob(sch::FormatJobId(7)));
  EXPECT_EQ(job.state(), v1::JOB_FAILED);
}

// The runs of `job_id`, all of them.
std::vector<v1::Run> AllRuns(sch::Scheduler& scheduler, const std::string& job_id) {
  absl::StatusOr<v1::ListRunsResponse> runs = Wait<v1::ListRunsResponse>([&](auto cb) {
    v1::ListRunsRequest r;
    r.set_job_id(job_id);
    r.set_page_size(1000);
    scheduler.ListRuns(r, cb);
  });
  EXPECT_THAT(runs.status(), IsOk());
  if (!runs.ok()) return {};
  return {runs->runs().begin(), runs->runs().end()};
}

// A failed step ends its job FAILED with the step's error (not CANCELED by the cascade through
// the gather and Total that needed it), and `jobs --state failed` finds it; the siblings that
// fail-fast cancels say which run failed.
TEST_F(SchedulerTest, AFailedStepFailsItsJobAndCancelledSiblingsNameIt) {
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  ASSERT_OK_AND_ASSIGN(auto submitted, Submit("FanWithBoom", "n", IntValue(3)));
  const std::string job_id = submitted.job().id();
  std::vector<v1::Assignment> root = worker.NextAssignments();
  ASSERT_EQ(root.size(), 1u);
  worker.SendResult(TestWorker::Execute(root[0]));
  std::vector<v1::Assignment> children;
  while (children.size() < 4) {
    std::vector<v1::Assignment> more = worker.NextAssignments();
    ASSERT_FALSE(more.empty());
    children.insert(children.end(), more.begin(), more.end());
  }
  std::string boom_id;
  for (const v1::Assignment& a : children) {
    if (a.function() == "Boom") {
      boom_id = a.run_id();
      worker.SendResult(TestWorker::Execute(a));  // the Doubles stay out on the worker
    }
  }
  ASSERT_FALSE(boom_id.empty());
  ASSERT_OK_AND_ASSIGN(v1::Job job, AwaitJobEnd(job_id));
  EXPECT_EQ(job.state(), v1::JOB_FAILED);
  EXPECT_THAT(job.error(), HasSubstr("boom: the step broke"));
  EXPECT_THAT(job.error(), HasSubstr(boom_id));
  EXPECT_THAT(job.error(), Not(HasSubstr("cancelled")));
  const std::string cause = absl::StrCat("cancelled: run ", boom_id, " (Boom) failed");
  int doubles = 0;
  for (const v1::Run& run : AllRuns(*scheduler_, job_id)) {
    if (run.function() == "Double") {
      ++doubles;
      EXPECT_EQ(run.state(), v1::CANCELED) << run.id();
      EXPECT_EQ(run.error(), cause) << run.id();
    } else if (run.function() == "Boom" || run.function() == "FanWithBoom") {
      EXPECT_EQ(run.state(), v1::FAILED) << run.function();
      EXPECT_THAT(run.error(), HasSubstr("boom: the step broke")) << run.function();
    } else {  // the gather and Total: they needed Boom's value
      EXPECT_EQ(run.state(), v1::CANCELED) << run.function();
      EXPECT_THAT(run.error(), HasSubstr(boom_id)) << run.function();
    }
  }
  EXPECT_EQ(doubles, 3);
  ASSERT_OK_AND_ASSIGN(v1::ListJobsResponse failed, Wait<v1::ListJobsResponse>([&](auto cb) {
                         v1::ListJobsRequest r;
                         r.add_states(v1::JOB_FAILED);
                         scheduler_->ListJobs(r, cb);
                       }));
  ASSERT_EQ(failed.jobs_size(), 1);
  EXPECT_EQ(failed.jobs(0).id(), job_id);
}

// Under CONTINUE_INDEPENDENT too: the job's output needed the failed step, so the job FAILED.
TEST_F(SchedulerTest, AFailedStepFailsItsJobWhenIndependentBranchesContinue) {
  TestWorker worker(scheduler_.get(), "w1");
  worker.Hello();
  v1::SubmitJobRequest request;
  request.set_function("FanWithBoom");
  request.mutable_options()->set_failure_policy(v1::CONTINUE_INDEPENDENT);
  v1::NamedArg* arg = request.add_args();
  arg->set_name("n");
  *arg->mutable_value() = IntValue(3);
  ASSERT_OK_AND_ASSIGN(auto submitted, Wait<v1::SubmitJobResponse>([&](auto cb) {
                         scheduler_->SubmitJob(request, cb);
                       }));
  ASSERT_OK_AND_ASSIGN(v1::Job job, worker.RunUntilDone(submitted.job().id()));
  EXPECT_EQ(job.state(), v1::JOB_FAILED);
  EXPECT_THAT(job.error(), HasSubstr("boom: the step broke"));
  ASSERT_OK_AND_ASSIGN(v1::Run root, GetRun(job.root_run_id()));
  EXPECT_EQ(root.state(), v1::FAILED);
  EXPECT_THAT(root.error(), HasSubstr("boom: the step broke"));
}

// A worker's result must fit the function's signature. Each bad result fails its run with
// INVALID_ARGUMENT naming the function and both types, the worker's ack says so, and the job
// FAILS — never SUCCEEDS with a wrong value.
TEST_F(SchedulerTest, ResultsNotFittingTheSignatureAreRefused) {
  auto refused = [&](const std::string& function, const std::string& param, int n,
                     std::function<void(v1::RunResult&)> spoil) -> std::pair<v1::Job, std::string> {
    TestWorker worker(scheduler_.get(), "w-" + sematic::RandomHex64());
    worker.Hello();
    absl::StatusOr<v1::SubmitJobResponse> submitted = Submit(function, param, IntValue(n));
    EXPECT_THAT(submitted.status(), IsOk());
    if (!submitted.ok()) return {};
    std::vector<v1::Assignment> assigned = worker.NextAssignments();
    EXPECT_EQ(assigned.size(), 1u);
    if (assigned.empty()) return {};
    v1::RunResult result = TestWorker::Execute(assigned[0]);
    spoil(result);
    worker.SendResult(result);
    absl::StatusOr<v1::Job> job = AwaitJobEnd(submitted->job().id());
    std::string told;
    while (auto m = worker.Next()) {
      if (m->ack().refused_size() == 0) continue;
      EXPECT_EQ(m->ack().refused(0).attempt().run_id(), assigned[0].run_id());
      EXPECT_EQ(m->ack().refused(0).code(),
                static_cast<int32_t>(absl::StatusCode::kInvalidArgument));
      EXPECT_EQ(m->ack().rejected_size(), 1);
      told = m->ack().refused(0).message();
      break;
    }
    worker.Gone();
    return {job.ok() ? *job : v1::Job(), told};
  };
  // A LIST for an int32 function.
  auto [list, list_told] = refused("Double", "x", 2, [](v1::RunResult& r) {
    *r.mutable_value() = sematic::Encode(std::vector<int>{1, 2});
  });
  EXPECT_EQ(list.state(), v1::JOB_FAILED);
  EXPECT_THAT(list.error(), HasSubstr("Double"));
  EXPECT_THAT(list.error(), HasSubstr("expected int32, got list"));
  EXPECT_THAT(list_told, HasSubstr("expected int32, got list"));
  // A well-formed graph from a step that is not nested (it would yield 4, an int32 even).
  auto [graph, graph_told] = refused("Double", "x", 2, [](v1::RunResult& r) {
    v1::Graph* g = r.mutable_graph();
    v1::CallNode* n = g->add_nodes();
    n->set_id("n1");
    n->set_function("Double");
    *n->mutable_output_type() = sematic::TypeOf<int>();
    v1::Arg* a = n->add_args();
    a->set_name("x");
    *a->mutable_literal() = IntValue(2);
    g->set_output_node("n1");
  });
  EXPECT_EQ(graph.state(), v1::JOB_FAILED);
  EXPECT_THAT(graph.error(), HasSubstr("Double is not a nested step"));
  EXPECT_THAT(graph_told, HasSubstr("not a nested step"));
  // A nested step's graph whose output is not of the step's result type (a list, not an int).
  auto [output, output_told] = refused("DoubleAll", "n", 2, [](v1::RunResult& r) {
    v1::Graph* g = r.mutable_graph();
    for (int i = 0; i < g->nodes_size(); ++i) {
      if (g->nodes(i).function() == "sematic.gather") g->set_output_node(g->nodes(i).id());
    }
  });
  EXPECT_EQ(output.state(), v1::JOB_FAILED);
  EXPECT_THAT(output.error(), HasSubstr("but DoubleAll returns int32"));
  EXPECT_FALSE(output_told.empty());
}

// Values a worker sends (results and the literals of its sub-graphs) enter the store in
// canonical form or not at all: a payload of 1 MiB or more inline, or a ref to a payload that was
// never uploaded, fails the run at once with the place named, and the worker is told why.
TEST_F(SchedulerTest, ValuesFromWorkersMustBeCanonicalWithTheirPayloadsUploaded) {
  struct Outcome {
    v1::Job job;
    int32_t code = 0;  // of the refusal the worker was told
    std::string told;
  };
  auto run = [&](const std::string& function, std::function<void(v1::RunResult&)> change) {
    Outcome out;
    TestWorker worker(scheduler_.get(), "w-" + sematic::RandomHex64());
    worker.Hello();
    absl::StatusOr<v1::SubmitJobResponse> submitted = Submit(function, "mib", sematic::Encode(2));
    EXPECT_THAT(submitted.status(), IsOk());
    if (!submitted.ok()) return out;
    std::vector<v1::Assignment> assigned = worker.NextAssignments();
    EXPECT_EQ(assigned.size(), 1u);
    if (assigned.empty()) return out;
    v1::RunResult result = TestWorker::Execute(assigned[0]);
    change(result);
    worker.SendResult(result);
    std::vector<v1::Assignment> child;  // an accepted sub-graph's, riding with the ack
    while (auto m = worker.Next()) {
      if (!m->has_ack()) continue;
      child.assign(m->assignments().assignments().begin(), m->assignments().assignments().end());
      if (m->ack().refused_size() > 0) {
        out.code = m->ack().refused(0).code();
        out.told = m->ack().refused(0).message();
      }
      break;
    }
    if (!out.told.empty() || function == "MakeBlob") {
      absl::StatusOr<v1::Job> job = AwaitJobEnd(submitted->job().id());
      if (job.ok()) out.job = *job;
    } else {
      // An accepted sub-graph: its BlobSize is assigned the literal as it was sent (this
      // worker cannot fetch payloads, so the job is cancelled there).
      if (child.empty()) child = worker.NextAssignments();
      EXPECT_EQ(child.size(), 1u);
      if (!child.empty()) {
        EXPECT_EQ(child[0].function(), "BlobSize");
        EXPECT_TRUE(child[0].inputs(0).value().blob_value().has_data_ref());
      }
      v1::CancelJobRequest cancel;
      cancel.set_job_id(submitted->job().id());
      absl::StatusOr<v1::CancelJobResponse> cancelled =
          Wait<v1::CancelJobResponse>([&](auto cb) { scheduler_->CancelJob(cancel, cb); });
      if (cancelled.ok()) out.job = cancelled->job();
    }
    worker.Gone();
    return out;
  };
  auto upload = [&](const sematic::Payload& payload) {
    std::unique_ptr<sch::ArtifactService::Upload> up = scheduler_->artifacts().StartUpload();
    v1::UploadChunk chunk;
    chunk.set_digest(payload.digest);
    chunk.set_total_size(payload.bytes.size());
    chunk.set_payload(true);
    chunk.set_data(payload.bytes);
    EXPECT_OK(up->Append(chunk));
    EXPECT_OK(up->Finish().status());
  };
  const auto invalid = static_cast<int32_t>(absl::StatusCode::kInvalidArgument);
  const auto precondition = static_cast<int32_t>(absl::StatusCode::kFailedPrecondition);

  Outcome inline_result = run("MakeBlob", [](v1::RunResult&) {});
  EXPECT_EQ(inline_result.job.state(), v1::JOB_FAILED);
  EXPECT_EQ(inline_result.code, invalid);
  EXPECT_THAT(inline_result.told, HasSubstr("a BLOB of 2097152 bytes inline"));

  std::vector<sematic::Payload> payloads;
  auto externalize = [&](v1::RunResult& r) {
    payloads = sematic::ExternalizePayloads(r.mutable_value());
  };
  Outcome dangling_result = run("MakeBlob", externalize);
  ASSERT_EQ(payloads.size(), 1u);
  EXPECT_EQ(dangling_result.job.state(), v1::JOB_FAILED);
  EXPECT_EQ(dangling_result.code, precondition);
  EXPECT_THAT(dangling_result.told,
              HasSubstr("results.value: payload " + payloads[0].digest + " (2097152 bytes) "
                        "was never uploaded"));
  EXPECT_THAT(dangling_result.job.error(), HasSubstr(payloads[0].digest));

  Outcome inline_literal = run("SizeOfBlob", [](v1::RunResult&) {});
  EXPECT_EQ(inline_literal.job.state(), v1::JOB_FAILED);
  EXPECT_EQ(inline_literal.code, invalid);
  EXPECT_THAT(inline_literal.told,
              HasSubstr(".args[0].literal: a BLOB of 2097152 bytes inline"));

  auto externalize_literals = [&](v1::RunResult& r) {
    for (v1::CallNode& node : *r.mutable_graph()->mutable_nodes()) {
      for (v1::Arg& arg : *node.mutable_args()) {
        if (!arg.has_literal()) continue;
        for (sematic::Payload& p : sematic::ExternalizePayloads(arg.mutable_literal())) {
          payloads.push_back(std::move(p));
        }
      }
    }
  };
  payloads.clear();
  Outcome dangling_literal = run("SizeOfBlob", externalize_literals);
  ASSERT_EQ(payloads.size(), 1u);
  EXPECT_EQ(dangling_literal.job.state(), v1::JOB_FAILED);
  EXPECT_EQ(dangling_literal.code, precondition);
  EXPECT_THAT(dangling_literal.told, HasSubstr(".args[0].literal: payload " + payloads[0].digest));

  // Uploaded first, as a worker does, both are accepted.
  upload(payloads[0]);
  Outcome uploaded_literal = run("SizeOfBlob", externalize_literals);
  EXPECT_EQ(uploaded_literal.told, "");
  EXPECT_EQ(uploaded_literal.job.state(), v1::JOB_CANCELED) << uploaded_literal.job.error();
  Outcome uploaded_result = run("MakeBlob", externalize);
  EXPECT_EQ(uploaded_result.told, "");
  EXPECT_EQ(uploaded_result.job.state(), v1::JOB_SUCCEEDED) << uploaded_result.job.error();
}

// Queued runs recovered after a restart are dispatched in creation order (they were
// re-queued in hash-map order).
TEST_F(SchedulerTest, QueuedRunsAreDispatchedInCreationOrderAfterARestart) {
  constexpr int kRuns = 40;
  std::string job_id;
  {
    TestWorker worker(scheduler_.get(), "w1");
    worker.Hello({}, /*max_runs=*/1);
    ASSERT_OK_AND_ASSIGN(auto submitted, Submit("DoubleAll", "n", IntValue(kRuns)));
    job_id = submitted.job().id();
    std::vector<v1::Assignment> root = worker.NextAssignments();
    ASSERT_EQ(root.size(), 1u);
    worker.SendResult(TestWorker::Execute(root[0]));
    ASSERT_FALSE(worker.NextAssignments().empty());  // the rest stay QUEUED
  }
  Open();
  TestWorker worker(scheduler_.get(), "w2");
  worker.Hello({}, /*max_runs=*/1);
  std::vector<uint64_t> first_attempts;  // run indexes, in the order assigned
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (first_attempts.size() < kRuns - 2 && absl::Now() < deadline) {
    std::vector<v1::Assignment> batch = worker.NextAssignments();
    ASSERT_FALSE(batch.empty());
    for (const v1::Assignment& a : batch) {
      // The two runs out on the lost worker come back as retries once the grace period ends.
      if (a.attempt() == 1) first_attempts.push_back(sch::ParseRunId(a.run_id())->index);
      worker.SendResult(TestWorker::Execute(a));
    }
  }
  ASSERT_EQ(first_attempts.size(), kRuns - 2u);
  EXPECT_TRUE(std::is_sorted(first_attempts.begin(), first_attempts.end()))
      << ::testing::PrintToString(first_attempts);
  ASSERT_OK_AND_ASSIGN(v1::Job job, worker.RunUntilDone(job_id));
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  EXPECT_EQ(job.output_digest(), IntDigest(kRuns * (kRuns - 1)));
}

// A retried run goes before the runs queued behind it, rather than to the back of the queue.
TEST_F(SchedulerTest, ARetriedRunIsNotQueuedBehindLaterRuns) {
  TestWorker busy(scheduler_.get(), "w1");
  busy.Hello({}, /*max_runs=*/1);
  ASSERT_OK_AND_ASSIGN(auto submitted, Submit("RetriedFan", "n", IntValue(10)));
  std::vector<v1::Assignment> root = busy.NextAssignments();
  ASSERT_EQ(root.size(), 1u);
  busy.SendResult(TestWorker::Execute(root[0]));
  std::vector<v1::Assignment> first = busy.NextAssignments();  // r0 running, r1 sent ahead
  ASSERT_EQ(first.size(), 2u);
  v1::RunResult failed;
  failed.set_run_id(first[0].run_id());
  failed.set_attempt(first[0].attempt());
  failed.mutable_error()->set_kind(v1::USER_ERROR);
  failed.mutable_error()->set_retryable(true);
  failed.mutable_error()->set_message("flaky");
  busy.SendResult(failed);  // r0 retries after its backoff; r1 starts, r2 is sent ahead
  ASSERT_EQ(busy.NextAssignments().size(), 1u);  // r2: 7 first attempts are left queued
  // Wait until the retry is queued again: 7 first attempts and r0 (the worker is full).
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  int64_t queued = 0;
  while (queued < 8 && absl::Now() < deadline) {
    ASSERT_OK_AND_ASSIGN(v1::SchedulerInfo info, Wait<v1::SchedulerInfo>([&](auto cb) {
                           scheduler_->GetInfo(cb);
                         }));
    queued = info.queued_runs();
    if (queued < 8) absl::SleepFor(absl::Milliseconds(20));  // polling interval
  }
  ASSERT_EQ(queued, 8);
  TestWorker idle(scheduler_.get(), "w2");
  idle.Hello({}, /*max_runs=*/1);
  std::vector<v1::Assignment> next = idle.NextAssignments();
  ASSERT_FALSE(next.empty());
  EXPECT_EQ(next[0].run_id(), first[0].run_id());
  EXPECT_EQ(next[0].attempt(), 2);
}


// ---- Lost workers: who pays (crash_triage.h) ---------------------------------------------------

bool IsSquareOf(const v1::Assignment& a, int x) {
  if (a.function() != "Square" || a.inputs_size() != 1) return false;
  absl::StatusOr<int> value = sematic::Decode<int>(a.inputs(0).value());
  return value.ok() && *value == x;
}

absl::StatusOr<v1::Job> GetJobOf(sch::Scheduler& scheduler, const std::string& job_id) {
  return Wait<v1::Job>([&](auto cb) {
    v1::GetJobRequest r;
    r.set_job_id(job_id);
    scheduler.GetJob(r, cb);
  });
}

bool Ended(const v1::Job& job) {
  return job.state() != v1::JOB_RUNNING && job.state() != v1::JOB_PENDING;
}

// The runs of `job_id` by id.
std::map<std::string, v1::Run> RunsOf(sch::Scheduler& scheduler, const std::string& job_id) {
  std::map<std::string, v1::Run> out;
  absl::StatusOr<v1::ListRunsResponse> runs = Wait<v1::ListRunsResponse>([&](auto cb) {
    v1::ListRunsRequest r;
    r.set_job_id(job_id);
    r.set_page_size(1000);
    scheduler.ListRuns(r, cb);
  });
  if (!runs.ok()) {
    ADD_FAILURE() << runs.status();
    return out;
  }
  for (const v1::Run& run : runs->runs()) out[run.id()] = run;
  return out;
}

std::string LogOf(sch::Scheduler& scheduler, const std::string& run_id) {
  LogRead read(scheduler, run_id, 0, false);
  absl::StatusOr<sch::RunLogPage> page = read.Get();
  if (!page.ok()) return page.status().ToString();
  std::string text;
  for (const auto& e : page->lines.entries()) absl::StrAppend(&text, e.text(), "\n");
  return text;
}

// Pipeline(3) runs Square(0), Square(1) and Square(2) together on one worker; Square(1) takes
// down every worker it is on (a segfault in a thread-mode worker). The lost runs are re-run
// alone until the culprit is alone when it kills again: it fails as having crashed its worker,
// and the other two succeed without spending a retry.
TEST_F(SchedulerTest, TheRunThatKillsItsWorkersIsFoundAndFailsAndItsNeighboursSpendNothing) {
  int generation = 0;
  auto worker = std::make_unique<TestWorker>(scheduler_.get(), "w0");
  worker->Hello();
  ASSERT_OK_AND_ASSIGN(auto submitted, Submit("Pipeline", "n", sematic::Encode(3)));
  const std::string job_id = submitted.job().id();
  std::string culprit;
  int kills = 0;
  size_t largest_batch_after_a_kill = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  absl::StatusOr<v1::Job> job = GetJobOf(*scheduler_, job_id);
  while (job.ok() && !Ended(*job) && absl::Now() < deadline) {
    std::vector<v1::Assignment> batch = worker->AssignmentsWithin(absl::Milliseconds(200));
    if (kills > 0) largest_batch_after_a_kill = std::max(largest_batch_after_a_kill, batch.size());
    bool crash = false;
    for (const v1::Assignment& a : batch) {
      if (!IsSquareOf(a, 1)) continue;
      crash = true;
      culprit = a.run_id();
    }
    if (crash) {
      ++kills;
      worker->Gone();
      worker = std::make_unique<TestWorker>(scheduler_.get(), absl::StrCat("w", ++generation));
      worker->Hello();
    } else {
      for (const v1::Assignment& a : batch) worker->SendResult(TestWorker::Execute(a));
    }
    job = GetJobOf(*scheduler_, job_id);
  }
  ASSERT_OK(job.status());
  ASSERT_TRUE(Ended(*job)) << "the job did not end in 60 s";
  EXPECT_EQ(job->state(), v1::JOB_FAILED);
  EXPECT_THAT(job->error(), HasSubstr("step Square crashed its worker"));
  ASSERT_FALSE(culprit.empty());
  // Once lost with its neighbours (no retry spent), then alone 1 + max_infra_retries (3) times.
  EXPECT_EQ(kills, 5);
  EXPECT_EQ(largest_batch_after_a_kill, 1u) << "runs of a lost worker run alone";
  std::map<std::string, v1::Run> runs = RunsOf(*scheduler_, job_id);
  ASSERT_TRUE(runs.contains(culprit));
  EXPECT_EQ(runs[culprit].state(), v1::FAILED);
  EXPECT_THAT(runs[culprit].error(), HasSubstr("step Square crashed its worker"));
  int innocents = 0;
  for (const auto& [id, run] : runs) {
    if (id == culprit || run.function() != "Square") continue;
    ++innocents;
    EXPECT_EQ(run.state(), v1::SUCCEEDED) << id << ": " << run.error();
    EXPECT_EQ(run.attempt(), 2) << id;
    const std::string log = LogOf(*scheduler_, id);
    EXPECT_THAT(log, HasSubstr("with 2 other runs; queued again to run alone (no retry spent)"));
    EXPECT_THAT(log, ::testing::Not(HasSubstr("retrying"))) << id;
  }
  EXPECT_EQ(innocents, 2);
}

// Dozens of workers killed from outside within moments, each while it held innocent runs: no
// run's budget runs out, and the job succeeds on the workers that remain.
TEST_F(SchedulerTest, AStormOfWorkerLossesFailsNoJobWhileWorkersRemain) {
  constexpr int kWorkers = 4;
  constexpr int kKills = 30;
  int generation = 0;
  std::vector<std::unique_ptr<TestWorker>> workers;
  std::vector<std::vector<v1::Assignment>> held(kWorkers);
  auto join = [&](int i) {
    workers[i] = std::make_unique<TestWorker>(scheduler_.get(), absl::StrCat("s", generation++));
    workers[i]->Hello({}, /*max_runs=*/2);
    held[i].clear();
  };
  workers.resize(kWorkers);
  for (int i = 0; i < kWorkers; ++i) join(i);
  auto collect = [&] {
    for (int i = 0; i < kWorkers; ++i) {
      for (const v1::SchedulerMessage& m : workers[i]->TakeReceived()) {
        for (const v1::Assignment& a : m.assignments().assignments()) held[i].push_back(a);
      }
    }
  };
  ASSERT_OK_AND_ASSIGN(auto submitted, Submit("Pipeline", "n", sematic::Encode(8)));
  const std::string job_id = submitted.job().id();
  // The root runs and registers its Squares.
  bool root_done = false;
  for (absl::Time deadline = absl::Now() + absl::Seconds(30); !root_done && absl::Now() < deadline;) {
    collect();
    for (int i = 0; i < kWorkers && !root_done; ++i) {
      for (const v1::Assignment& a : held[i]) {
        workers[i]->SendResult(TestWorker::Execute(a));
        root_done = true;
      }
      if (root_done) held[i].clear();
    }
    if (!root_done) {
      ASSERT_OK(GetJobOf(*scheduler_, job_id).status());  // the round trip paces the polling
    }
  }
  ASSERT_TRUE(root_done);
  // The storm: each kill takes a worker holding runs it never finishes. (Before crash triage,
  // the job failed here: its runs' infrastructure budgets ran out.)
  bool ended = false;
  for (int k = 0; k < kKills && !ended; ++k) {
    int victim = -1;
    for (absl::Time deadline = absl::Now() + absl::Seconds(30);
         victim < 0 && !ended && absl::Now() < deadline;) {
      collect();
      for (int j = 0; j < kWorkers && victim < 0; ++j) {
        const int i = (k + j) % kWorkers;
        if (!held[i].empty()) victim = i;
      }
      // The round trip paces the polling.
      absl::StatusOr<v1::Job> job = GetJobOf(*scheduler_, job_id);
      ended = !job.ok() || Ended(*job);
    }
    if (ended) break;
    ASSERT_GE(victim, 0) << "no worker was given a run after kill " << k;
    workers[victim]->Gone();
    join(victim);
  }
  // The storm is over: the workers left run everything.
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  absl::StatusOr<v1::Job> job = GetJobOf(*scheduler_, job_id);
  while (job.ok() && !Ended(*job) && absl::Now() < deadline) {
    collect();
    for (int i = 0; i < kWorkers; ++i) {
      for (const v1::Assignment& a : held[i]) workers[i]->SendResult(TestWorker::Execute(a));
      held[i].clear();
    }
    job = GetJobOf(*scheduler_, job_id);
  }
  ASSERT_OK(job.status());
  EXPECT_EQ(job->state(), v1::JOB_SUCCEEDED) << job->error();
  // It was a storm: some run was lost more often than its infrastructure budget (3) allows.
  int max_attempt = 0;
  for (const auto& [id, run] : RunsOf(*scheduler_, job_id)) {
    max_attempt = std::max(max_attempt, run.attempt());
  }
  EXPECT_GT(max_attempt, 4);
}

}  // namespace scheduler_test
