// The worker core against (1) the real Scheduler library in-process and (2) a scripted
// scheduler (a fake Connector) for cancellation, deadlines, capacity, acks and reconnects.
#include "worker/worker.h"

#include <deque>
#include <filesystem>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/digest.h"
#include "common/ids.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sematic/sematic.h"
#include "worker/in_process.h"

namespace sematic::worker {
namespace {

namespace fs = std::filesystem;
namespace sch = ::sematic::scheduler;
using ::sematic::testing::IsOk;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(30);

// ---- In-process, with the real scheduler ----------------------------------------------------

template <typename T>
absl::StatusOr<T> Call(const std::function<void(sch::Callback<T>)>& call) {
  absl::Notification done;
  absl::StatusOr<T> out = absl::DeadlineExceededError("no reply");
  call([&](absl::StatusOr<T> r) {
    out = std::move(r);
    done.Notify();
  });
  if (!done.WaitForNotificationWithTimeout(kWait)) return absl::DeadlineExceededError("no reply");
  return out;
}

class InProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("worker-" + RandomHex64());
    sch::SchedulerOptions options;
    options.data_dir = dir_.string();
    options.recovery_grace = absl::ZeroDuration();
    absl::StatusOr<std::unique_ptr<sch::Scheduler>> s = sch::Scheduler::Create(options);
    ASSERT_TRUE(s.ok()) << s.status();
    scheduler_ = *std::move(s);
    WorkerOptions w;
    w.worker_id = "in-process";
    w.resources.set_cpus(4);
    w.resources.set_gpus(2);
    w.max_concurrent_runs = 4;
    absl::StatusOr<std::unique_ptr<Worker>> worker =
        Worker::Create(w, MakeInProcessConnector(scheduler_.get()), nullptr);
    ASSERT_TRUE(worker.ok()) << worker.status();
    worker_ = *std::move(worker);
    worker_->Start();
  }

  void TearDown() override {
    worker_.reset();
    scheduler_.reset();
    fs::remove_all(dir_);
  }

  // Submits `function(args)` (retrying while the worker's hello is not in yet) and waits for
  // the job to end.
  v1::Job RunJob(const std::string& function, std::vector<v1::NamedArg> args) {
    v1::SubmitJobRequest submit;
    submit.set_function(function);
    for (auto& a : args) *submit.add_args() = a;
    absl::StatusOr<v1::SubmitJobResponse> submitted = absl::UnknownError("not submitted");
    for (absl::Time end = absl::Now() + kWait; absl::Now() < end;) {
      submitted = Call<v1::SubmitJobResponse>(
          [&](sch::Callback<v1::SubmitJobResponse> cb) { scheduler_->SubmitJob(submit, cb); });
      if (!absl::IsNotFound(submitted.status())) break;
      absl::SleepFor(absl::Milliseconds(5));
    }
    EXPECT_TRUE(submitted.ok()) << submitted.status();
    if (!submitted.ok()) return v1::Job();
    v1::GetJobRequest get;
    get.set_job_id(submitted->job().id());
    v1::Job job;
    for (absl::Time end = absl::Now() + kWait; absl::Now() < end;) {
      absl::StatusOr<v1::Job> j =
          Call<v1::Job>([&](sch::Callback<v1::Job> cb) { scheduler_->GetJob(get, cb); });
      if (j.ok()) job = *j;
      if (job.state() == v1::JOB_SUCCEEDED || job.state() == v1::JOB_FAILED ||
          job.state() == v1::JOB_CANCELED) {
        break;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    return job;
  }

  static v1::NamedArg Arg(const std::string& name, const v1::Value& value) {
    v1::NamedArg a;
    a.set_name(name);
    *a.mutable_value() = value;
    return a;
  }

  fs::path dir_;
  std::unique_ptr<sch::Scheduler> scheduler_;
  std::unique_ptr<Worker> worker_;
};

TEST_F(InProcessTest, PlainJobSucceedsWithTheStepsValue) {
  v1::Job job = RunJob("Double", {Arg("x", Encode(21))});
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  EXPECT_EQ(job.output_digest(), ArtifactId(TypeOf<int>(), Encode(42)));
  EXPECT_TRUE(worker_->connected());
}

TEST_F(InProcessTest, NestedJobSucceedsThroughItsChildren) {
  v1::Job job = RunJob("DoubleAll", {Arg("n", Encode(10))});
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  EXPECT_EQ(job.output_digest(), ArtifactId(TypeOf<int>(), Encode(90)));  // 2 * (0 + ... + 9)
  v1::ListRunsRequest list;
  list.set_job_id(job.id());
  list.set_page_size(100);
  absl::StatusOr<v1::ListRunsResponse> runs = Call<v1::ListRunsResponse>(
      [&](sch::Callback<v1::ListRunsResponse> cb) { scheduler_->ListRuns(list, cb); });
  ASSERT_TRUE(runs.ok());
  int doubles = 0;
  for (const v1::Run& r : runs->runs()) {
    if (r.function() == "Double") {
      ++doubles;
      EXPECT_EQ(r.state(), v1::SUCCEEDED);
    }
  }
  EXPECT_EQ(doubles, 10);
}

// ---- A scripted scheduler ------------------------------------------------------------------

// The scheduler's side of the streams a worker opens: what the worker sent, and hooks to
// answer or break the stream.
class FakeScheduler {
 public:
  struct Stream {
    Connector::MessageCallback to_worker;
    Connector::ClosedCallback close_worker;
    std::vector<v1::WorkerMessage> received;
    bool closed_by_worker = false;
  };

  class Handle : public WorkerStream {
   public:
    Handle(FakeScheduler* fake, int index) : fake_(fake), index_(index) {}
    ~Handle() override { Close(); }
    void Send(v1::WorkerMessage m) override {
      absl::MutexLock lock(&fake_->mu_);
      fake_->streams_[index_].received.push_back(std::move(m));
    }
    void Close() override {
      absl::MutexLock lock(&fake_->mu_);
      fake_->streams_[index_].closed_by_worker = true;
    }

   private:
    FakeScheduler* fake_;
    int index_;
  };

  class FakeConnector : public Connector {
   public:
    explicit FakeConnector(FakeScheduler* fake) : fake_(fake) {}
    std::unique_ptr<WorkerStream> Connect(MessageCallback on_message,
                                          ClosedCallback on_closed) override {
      absl::MutexLock lock(&fake_->mu_);
      fake_->streams_.push_back(Stream{std::move(on_message), std::move(on_closed), {}, false});
      return std::make_unique<Handle>(fake_, static_cast<int>(fake_->streams_.size()) - 1);
    }
    std::string Describe() const override { return "scheduler at fake:1"; }

   private:
    FakeScheduler* fake_;
  };

  std::unique_ptr<Connector> MakeConnector() { return std::make_unique<FakeConnector>(this); }

  // Waits for stream `index` to exist; its hello.
  std::optional<v1::Hello> AwaitHello(int index) {
    std::optional<v1::WorkerMessage> m =
        AwaitMessage(index, [](const v1::WorkerMessage& m) { return m.has_hello(); });
    if (!m) return std::nullopt;
    return m->hello();
  }

  // The first message on stream `index` after the ones already consumed that satisfies `pred`.
  std::optional<v1::WorkerMessage> AwaitMessage(
      int index, const std::function<bool(const v1::WorkerMessage&)>& pred) {
    absl::MutexLock lock(&mu_);
    // Conditions must be pure (absl may evaluate them more than once): find, then consume.
    auto first_match = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> std::optional<size_t> {
      if (static_cast<int>(streams_.size()) <= index) return std::nullopt;
      const auto& received = streams_[index].received;
      for (size_t i = consumed_[index]; i < received.size(); ++i) {
        if (pred(received[i])) return i;
      }
      return std::nullopt;
    };
    auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return first_match().has_value(); };
    if (!mu_.AwaitWithTimeout(absl::Condition(&ready), kWait)) return std::nullopt;
    const size_t i = *first_match();
    consumed_[index] = i + 1;
    return streams_[index].received[i];
  }

  // The first result for `run_id` on stream `index` (whichever message carried it).
  std::optional<v1::RunResult> AwaitResult(int index, const std::string& run_id,
                                           absl::Duration timeout = kWait) {
    absl::MutexLock lock(&mu_);
    auto find = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> std::optional<v1::RunResult> {
      if (static_cast<int>(streams_.size()) <= index) return std::nullopt;
      for (const v1::WorkerMessage& m : streams_[index].received) {
        for (const auto& r : m.results().results()) {
          if (r.run_id() == run_id) return r;
        }
      }
      return std::nullopt;
    };
    auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return find().has_value(); };
    if (!mu_.AwaitWithTimeout(absl::Condition(&ready), timeout)) return std::nullopt;
    return find();
  }

  // Every message received on stream `index` so far.
  std::vector<v1::WorkerMessage> Received(int index) {
    absl::MutexLock lock(&mu_);
    return streams_[index].received;
  }

  void ToWorker(int index, v1::SchedulerMessage m) {
    Connector::MessageCallback cb;
    {
      absl::MutexLock lock(&mu_);
      cb = streams_[index].to_worker;
    }
    cb(std::move(m));
  }

  void Break(int index, absl::Status why = absl::UnavailableError("the scheduler went away")) {
    Connector::ClosedCallback cb;
    {
      absl::MutexLock lock(&mu_);
      cb = streams_[index].close_worker;
    }
    cb(std::move(why));
  }

  void Welcome(int index, std::vector<v1::RunAttempt> abandon = {}, int64_t max_message_bytes = 0,
               int64_t heartbeat_millis = 50) {
    v1::SchedulerMessage m;
    m.mutable_welcome()->set_scheduler_id("fake");
    m.mutable_welcome()->set_heartbeat_interval_millis(heartbeat_millis);
    m.mutable_welcome()->set_max_message_bytes(max_message_bytes);
    for (auto& a : abandon) *m.mutable_welcome()->add_abandon() = a;
    ToWorker(index, std::move(m));
  }

  void Assign(int index, std::vector<v1::Assignment> assignments) {
    v1::SchedulerMessage m;
    for (auto& a : assignments) *m.mutable_assignments()->add_assignments() = a;
    ToWorker(index, std::move(m));
  }

  void Ack(int index, const std::string& run_id, int attempt) {
    v1::SchedulerMessage m;
    v1::RunAttempt* a = m.mutable_ack()->add_accepted();
    a->set_run_id(run_id);
    a->set_attempt(attempt);
    ToWorker(index, std::move(m));
  }

  int streams() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(streams_.size());
  }

 private:
  absl::Mutex mu_;
  std::deque<Stream> streams_ ABSL_GUARDED_BY(mu_);
  std::map<int, size_t> consumed_ ABSL_GUARDED_BY(mu_);
};

v1::Assignment Assignment(const std::string& run_id, const std::string& function,
                          std::vector<std::pair<std::string, v1::Value>> inputs) {
  v1::Assignment a;
  a.set_run_id(run_id);
  a.set_attempt(1);
  a.set_job_id("j1");
  a.set_function(function);
  for (auto& [name, value] : inputs) {
    v1::AssignedInput* in = a.add_inputs();
    in->set_name(name);
    *in->mutable_value() = value;
  }
  return a;
}

bool HasResults(const v1::WorkerMessage& m) { return m.has_results(); }

// SlowDouble(x, millis); `queued`: sent ahead, to wait for room (Assignment.queued).
v1::Assignment SlowDoubleAssignment(const std::string& run_id, int x, int millis,
                                    bool queued = false) {
  v1::Assignment a =
      Assignment(run_id, "SlowDouble", {{"x", Encode(x)}, {"millis", Encode(millis)}});
  a.set_queued(queued);
  return a;
}

// Artifacts in memory, standing in for ArtifactService.
class MemoryArtifacts : public ArtifactClient {
 public:
  absl::StatusOr<std::string> Download(const std::string& digest) override {
    absl::MutexLock lock(&mu_);
    ++downloads_;
    auto it = blobs_.find(digest);
    if (it == blobs_.end()) return absl::NotFoundError(digest);
    return it->second;
  }
  absl::StatusOr<std::vector<std::string>> FindMissing(
      const std::vector<std::string>& digests) override {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> missing;
    for (const auto& d : digests) {
      if (!blobs_.contains(d)) missing.push_back(d);
    }
    return missing;
  }
  absl::Status Upload(const std::string& digest, const std::string& bytes) override {
    if (Sha256Hex(bytes) != digest) return absl::InvalidArgumentError("digest mismatch");
    absl::MutexLock lock(&mu_);
    blobs_[digest] = bytes;
    return absl::OkStatus();
  }
  absl::Status UploadPayload(const std::string& digest, const std::string& bytes) override {
    if (bytes.size() < kPayloadThresholdBytes) return absl::InvalidArgumentError("too small");
    {
      absl::MutexLock lock(&mu_);
      ++payload_uploads_;
    }
    return Upload(digest, bytes);
  }
  int payload_uploads() {
    absl::MutexLock lock(&mu_);
    return payload_uploads_;
  }
  std::string Put(const v1::TypeDesc& type, const v1::Value& value) {
    const std::string bytes = *CanonicalBytes(type, value);
    const std::string digest = Sha256Hex(bytes);
    absl::MutexLock lock(&mu_);
    blobs_[digest] = bytes;
    return digest;
  }
  std::optional<std::string> Get(const std::string& digest) {
    absl::MutexLock lock(&mu_);
    auto it = blobs_.find(digest);
    if (it == blobs_.end()) return std::nullopt;
    return it->second;
  }
  int downloads() {
    absl::MutexLock lock(&mu_);
    return downloads_;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::string> blobs_ ABSL_GUARDED_BY(mu_);
  int downloads_ ABSL_GUARDED_BY(mu_) = 0;
  int payload_uploads_ ABSL_GUARDED_BY(mu_) = 0;
};

class ScriptedTest : public ::testing::Test {
 protected:
  void StartWorker(WorkerOptions options, std::unique_ptr<ArtifactClient> artifacts = nullptr) {
    options.worker_id = "scripted";
    options.reconnect_initial_backoff = absl::Milliseconds(5);
    options.reconnect_max_backoff = absl::Milliseconds(20);
    absl::StatusOr<std::unique_ptr<Worker>> w =
        Worker::Create(options, fake_.MakeConnector(), std::move(artifacts));
    ASSERT_TRUE(w.ok()) << w.status();
    worker_ = *std::move(w);
    worker_->Start();
    ASSERT_TRUE(fake_.AwaitHello(0).has_value());
    fake_.Welcome(0, {}, welcome_max_message_bytes_, welcome_heartbeat_millis_);
  }

  static WorkerOptions Small(double cpus, int max_runs) {
    WorkerOptions o;
    o.resources.set_cpus(cpus);
    o.max_concurrent_runs = max_runs;
    o.cancel_grace = absl::Milliseconds(100);
    return o;
  }

  FakeScheduler fake_;
  int64_t welcome_max_message_bytes_ = 0;  // what StartWorker's Welcome announces
  int64_t welcome_heartbeat_millis_ = 50;  // likewise
  std::unique_ptr<Worker> worker_;         // destroyed before fake_
};

TEST_F(ScriptedTest, HelloAnnouncesStepsAndResources) {
  WorkerOptions o = Small(3, 2);
  o.resources.set_gpus(1);
  (*o.resources.mutable_custom())["tpu"] = 2;
  o.labels["pool"] = "gpu";
  absl::StatusOr<std::unique_ptr<Worker>> w = Worker::Create(o, fake_.MakeConnector(), nullptr);
  ASSERT_TRUE(w.ok());
  (*w)->Start();
  std::optional<v1::Hello> hello = fake_.AwaitHello(0);
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(hello->worker_id(), (*w)->id());
  EXPECT_FALSE(hello->worker_id().empty());
  EXPECT_EQ(hello->resources().cpus(), 3);
  EXPECT_EQ(hello->resources().gpus(), 1);
  EXPECT_EQ(hello->resources().custom().at("tpu"), 2);
  EXPECT_EQ(hello->labels().at("pool"), "gpu");
  EXPECT_EQ(hello->max_concurrent_runs(), 2);
  std::vector<std::string> names;
  for (const auto& f : hello->functions()) names.push_back(f.name());
  EXPECT_THAT(names, ::testing::IsSupersetOf({"Double", "DoubleAll"}));
  for (const auto& f : hello->functions()) {
    if (f.name() == "DoubleAll") {
      EXPECT_TRUE(f.nested());
    }
    if (f.name() == "GpuEnv") {
      EXPECT_EQ(f.gpus(), 2);
    }
  }
}

TEST_F(ScriptedTest, ResultsOfOneTurnShareABatchAndNestedStepsSendTheirGraph) {
  StartWorker(Small(4, 4));
  fake_.Assign(0, {Assignment("r1", "Double", {{"x", Encode(5)}}),
                   Assignment("r2", "DoubleAll", {{"n", Encode(3)}})});
  std::optional<v1::RunResult> r1 = fake_.AwaitResult(0, "r1");
  ASSERT_TRUE(r1.has_value());
  EXPECT_EQ(*Decode<int>(r1->value()), 10);
  std::optional<v1::RunResult> r2 = fake_.AwaitResult(0, "r2");
  ASSERT_TRUE(r2.has_value());
  ASSERT_TRUE(r2->has_graph());
  EXPECT_GE(r2->graph().nodes_size(), 4);  // 3 Doubles, a gather, a Total
  EXPECT_GT(r2->ended_unix_micros(), 0);
}

TEST_F(ScriptedTest, AResultOverTheSchedulersMessageLimitFailsItsRunNotTheStream) {
  welcome_max_message_bytes_ = 2048;
  StartWorker(Small(4, 4));
  fake_.Assign(0, {Assignment("r1", "DoubleAll", {{"n", Encode(200)}}),
                   Assignment("r2", "Double", {{"x", Encode(5)}})});
  std::optional<v1::RunResult> r1 = fake_.AwaitResult(0, "r1");
  ASSERT_TRUE(r1.has_value());
  ASSERT_TRUE(r1->has_error()) << r1->DebugString();
  EXPECT_EQ(r1->error().kind(), v1::USER_ERROR);
  EXPECT_FALSE(r1->error().retryable());
  EXPECT_THAT(r1->error().message(), HasSubstr("calls)"));
  EXPECT_THAT(r1->error().message(), HasSubstr("more than the scheduler accepts in one message"));
  std::optional<v1::RunResult> r2 = fake_.AwaitResult(0, "r2");  // the stream carries on
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(*Decode<int>(r2->value()), 10);
}

TEST_F(ScriptedTest, OverCapacityAssignmentsAreRefusedNotRun) {
  StartWorker(Small(1, 4));  // SlowDouble declares 1 cpu: one at a time
  fake_.Assign(0, {Assignment("r1", "SlowDouble", {{"x", Encode(1)}, {"millis", Encode(200)}}),
                   Assignment("r2", "SlowDouble", {{"x", Encode(2)}, {"millis", Encode(1)}})});
  std::optional<v1::RunResult> r2 = fake_.AwaitResult(0, "r2");
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->error().kind(), v1::INFRASTRUCTURE);
  EXPECT_TRUE(r2->error().retryable());
  EXPECT_THAT(r2->error().message(), HasSubstr("over the announced capacity: cpus"));
  std::optional<v1::RunResult> r1 = fake_.AwaitResult(0, "r1");
  ASSERT_TRUE(r1.has_value());
  EXPECT_EQ(*Decode<int>(r1->value()), 2);
}

// Assignments sent ahead (queued) wait while the worker is full, start in arrival order as soon
// as a run ends, and are answered without running when cancelled or when the worker drains.
TEST_F(ScriptedTest, QueuedAssignmentsWaitForRoomInOrderAndCanBeCancelledOrRefused) {
  StartWorker(Small(1, 4));  // SlowDouble declares 1 cpu: one at a time
  const int64_t before = absl::ToUnixMicros(absl::Now());
  fake_.Assign(0, {SlowDoubleAssignment("r1", 1, 100), SlowDoubleAssignment("r2", 2, 1, true),
                   SlowDoubleAssignment("r3", 3, 1, true), SlowDoubleAssignment("r4", 4, 1, true)});
  v1::SchedulerMessage cancel;
  v1::RunAttempt* c = cancel.mutable_cancel()->add_runs();
  c->set_run_id("r3");
  c->set_attempt(1);
  fake_.ToWorker(0, cancel);
  std::optional<v1::RunResult> r3 = fake_.AwaitResult(0, "r3");  // answered while r1 runs
  ASSERT_TRUE(r3.has_value());
  EXPECT_EQ(r3->error().kind(), v1::CANCELLED);
  std::optional<v1::RunResult> r4 = fake_.AwaitResult(0, "r4");
  ASSERT_TRUE(r4.has_value());
  EXPECT_EQ(*Decode<int>(r4->value()), 8);
  // It waited for r1 (100 ms).
  EXPECT_GE(r4->started_unix_micros(), before + 100'000);
  // Draining refuses what still waits.
  fake_.Assign(0, {SlowDoubleAssignment("r5", 5, 100), SlowDoubleAssignment("r6", 6, 1, true)});
  worker_->Drain();
  std::optional<v1::RunResult> r6 = fake_.AwaitResult(0, "r6");
  ASSERT_TRUE(r6.has_value());
  EXPECT_EQ(r6->error().kind(), v1::INFRASTRUCTURE);
  EXPECT_TRUE(r6->error().retryable());
  EXPECT_TRUE(r6->error().never_started());  // the scheduler spends no retry on it
  EXPECT_THAT(r6->error().message(), HasSubstr("draining"));
  // The scheduler hears at once that this worker takes nothing more.
  EXPECT_TRUE(fake_.AwaitMessage(0, [](const v1::WorkerMessage& m) {
    return m.heartbeat().draining();
  }));
}

// While more runs sent ahead wait than results are unsent, results wait for company (up to
// WorkerOptions::result_hold): here r1's result waits for r2's, and both go up in one message
// once only r4 is left waiting.
TEST_F(ScriptedTest, ResultsWaitForCompanyWhileMoreRunsWaitThanResultsAreUnsent) {
  WorkerOptions o = Small(1, 4);  // SlowDouble declares 1 cpu: one at a time
  o.result_hold = absl::Hours(1);
  StartWorker(o);
  fake_.Assign(
      0, {SlowDoubleAssignment("r1", 1, 1), SlowDoubleAssignment("r2", 2, 200, true),
          SlowDoubleAssignment("r3", 3, 200, true), SlowDoubleAssignment("r4", 4, 200, true)});
  std::optional<v1::WorkerMessage> first = fake_.AwaitMessage(0, HasResults);
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->results().results_size(), 2) << first->DebugString();
  EXPECT_EQ(first->results().results(0).run_id(), "r1");
  EXPECT_EQ(first->results().results(1).run_id(), "r2");
  // Nothing waits behind r4: its result (and r3's) go up without waiting.
  ASSERT_TRUE(fake_.AwaitResult(0, "r4").has_value());
  ASSERT_TRUE(fake_.AwaitResult(0, "r3").has_value());
}

// However many runs wait, no more than 16 results are held back.
TEST_F(ScriptedTest, AtMostSixteenResultsWaitForCompany) {
  WorkerOptions o = Small(1, 4);  // SlowDouble declares 1 cpu: one at a time
  o.result_hold = absl::Hours(1);
  StartWorker(o);
  std::vector<v1::Assignment> batch;
  for (int i = 0; i < 40; ++i) {
    batch.push_back(SlowDoubleAssignment(absl::StrCat("r", i), i, 1, i > 0));
  }
  fake_.Assign(0, batch);
  std::optional<v1::WorkerMessage> first = fake_.AwaitMessage(0, HasResults);
  ASSERT_TRUE(first.has_value());
  // Without the cap they would wait until as many had finished as still wait (20).
  EXPECT_GE(first->results().results_size(), 16);
  EXPECT_LT(first->results().results_size(), 20);
  EXPECT_EQ(first->results().results(0).run_id(), "r0");
  ASSERT_TRUE(fake_.AwaitResult(0, "r39").has_value());
}

// A held result goes up once the hold expires, even while runs still wait.
TEST_F(ScriptedTest, HeldResultsGoUpWhenTheHoldExpires) {
  WorkerOptions o = Small(1, 4);
  o.result_hold = absl::Milliseconds(20);
  StartWorker(o);
  fake_.Assign(0, {SlowDoubleAssignment("r1", 1, 1), SlowDoubleAssignment("r2", 2, 2000, true),
                   SlowDoubleAssignment("r3", 3, 1, true), SlowDoubleAssignment("r4", 4, 1, true)});
  std::optional<v1::WorkerMessage> first = fake_.AwaitMessage(0, HasResults);
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->results().results_size(), 1) << "r1 waited for r2 (2 s), past its hold";
  EXPECT_EQ(first->results().results(0).run_id(), "r1");
  ASSERT_TRUE(fake_.AwaitResult(0, "r4").has_value());
}

TEST_F(ScriptedTest, UnknownStepIsAnInfrastructureError) {
  StartWorker(Small(1, 1));
  fake_.Assign(0, {Assignment("r1", "NoSuchStep", {})});
  std::optional<v1::RunResult> r1 = fake_.AwaitResult(0, "r1");
  ASSERT_TRUE(r1.has_value());
  EXPECT_EQ(r1->error().kind(), v1::INFRASTRUCTURE);
  EXPECT_THAT(r1->error().message(), HasSubstr("NoSuchStep"));
}

TEST_F(ScriptedTest, CancelledStepObservesItAndIsReportedCancelled) {
  // No periodic heartbeat: the one awaited below is the started notice (sent once the step has
  // run for WorkerOptions::started_notice_delay).
  welcome_heartbeat_millis_ = 3'600'000;
  StartWorker(Small(1, 1));
  const std::string marker =
      (fs::path(::testing::TempDir()) / ("cancel-" + RandomHex64())).string();
  fake_.Assign(0, {Assignment("r1", "WaitForCancel", {{"marker", Encode(marker)}})});
  // A heartbeat lists the run once it started.
  ASSERT_TRUE(fake_.AwaitMessage(0, [](const v1::WorkerMessage& m) {
    return m.heartbeat().running_size() == 1 && m.heartbeat().running(0).run_id() == "r1";
  }));
  v1::SchedulerMessage cancel;
  v1::RunAttempt* a = cancel.mutable_cancel()->add_runs();
  a->set_run_id("r1");
  a->set_attempt(1);
  cancel.mutable_cancel()->set_reason("user asked");
  fake_.ToWorker(0, cancel);
  std::optional<v1::RunResult> r1 = fake_.AwaitResult(0, "r1");
  ASSERT_TRUE(r1.has_value());
  EXPECT_EQ(r1->error().kind(), v1::CANCELLED);
  EXPECT_THAT(r1->error().message(), HasSubstr("user asked"));
  EXPECT_TRUE(fs::exists(marker + ".cancelled"));  // written before the step returned
  fs::remove(marker + ".started");
  fs::remove(marker + ".cancelled");
}

// Without periodic heartbeats (an hour apart here), what the worker sends is exactly its
// result: no started notice before it, since the step ended before one was due.
TEST_F(ScriptedTest, AStepEndingBeforeItsStartedNoticeIsDueIsReportedByItsResultAlone) {
  welcome_heartbeat_millis_ = 3'600'000;
  WorkerOptions o = Small(2, 2);
  o.started_notice_delay = absl::Hours(1);
  StartWorker(o);
  fake_.Assign(0, {Assignment("r1", "Double", {{"x", Encode(4)}})});
  std::optional<v1::WorkerMessage> first = fake_.AwaitMessage(
      0, [](const v1::WorkerMessage& m) { return m.has_heartbeat() || m.has_results(); });
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(first->has_results()) << first->DebugString();
  EXPECT_EQ(first->results().results(0).run_id(), "r1");
}

// Back-to-back short steps (each ending well before the notice delay) are never announced,
// however long the worker stays busy; a step that runs past the delay is.
TEST_F(ScriptedTest, OnlyStepsRunningPastTheNoticeDelayAreAnnounced) {
  welcome_heartbeat_millis_ = 3'600'000;  // no periodic heartbeats
  WorkerOptions o = Small(1, 4);          // SlowDouble declares 1 cpu: one at a time
  o.started_notice_delay = absl::Milliseconds(200);
  o.result_hold = absl::ZeroDuration();
  StartWorker(o);
  std::vector<v1::Assignment> batch;
  for (int i = 0; i < 12; ++i) {
    batch.push_back(SlowDoubleAssignment(absl::StrCat("s", i), 1, 40, i > 0));
  }
  batch.push_back(SlowDoubleAssignment("long", 1, 1500, true));
  fake_.Assign(0, batch);  // ~480 ms of 40 ms steps, then one of 1.5 s
  std::optional<v1::WorkerMessage> notice = fake_.AwaitMessage(
      0, [](const v1::WorkerMessage& m) { return m.heartbeat().running_size() > 0; });
  ASSERT_TRUE(notice.has_value());
  ASSERT_EQ(notice->heartbeat().running_size(), 1) << notice->DebugString();
  EXPECT_EQ(notice->heartbeat().running(0).run_id(), "long");
  for (int i = 0; i < 12; ++i) {
    EXPECT_TRUE(fake_.AwaitResult(0, absl::StrCat("s", i)).has_value());
  }
}

// The scheduler acknowledges results in the message that brings the next assignments.
TEST_F(ScriptedTest, AnAckRidingWithAssignmentsIsApplied) {
  StartWorker(Small(2, 2));
  fake_.Assign(0, {Assignment("r1", "Double", {{"x", Encode(7)}})});
  ASSERT_TRUE(fake_.AwaitResult(0, "r1").has_value());
  v1::SchedulerMessage both;
  *both.mutable_assignments()->add_assignments() = Assignment("r2", "Double", {{"x", Encode(8)}});
  v1::RunAttempt* acked = both.mutable_ack()->add_accepted();
  acked->set_run_id("r1");
  acked->set_attempt(1);
  fake_.ToWorker(0, both);
  std::optional<v1::RunResult> r2 = fake_.AwaitResult(0, "r2");
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(*Decode<int>(r2->value()), 16);
  // r1 was forgotten (acknowledged), r2 is held until its own ack.
  fake_.Break(0);
  std::optional<v1::Hello> hello = fake_.AwaitHello(1);
  ASSERT_TRUE(hello.has_value());
  ASSERT_EQ(hello->in_flight_size(), 1);
  EXPECT_EQ(hello->in_flight(0).run_id(), "r2");
}

TEST_F(ScriptedTest, StepIgnoringCancellationIsReportedAfterGraceAndItsSlotFreed) {
  StartWorker(Small(1, 1));
  fake_.Assign(0, {Assignment("r1", "Stubborn", {{"millis", Encode(1500)}})});
  v1::SchedulerMessage cancel;
  v1::RunAttempt* a = cancel.mutable_cancel()->add_runs();
  a->set_run_id("r1");
  a->set_attempt(1);
  fake_.ToWorker(0, cancel);
  const absl::Time cancelled_at = absl::Now();
  std::optional<v1::RunResult> r1 = fake_.AwaitResult(0, "r1");
  ASSERT_TRUE(r1.has_value());
  EXPECT_EQ(r1->error().kind(), v1::CANCELLED);
  EXPECT_LT(absl::Now() - cancelled_at, absl::Milliseconds(1400)) << "waited for the step";
  // The slot is free: a new run is accepted (not refused for capacity), and runs once the
  // stubborn step hands its thread back.
  fake_.Assign(0, {Assignment("r2", "Double", {{"x", Encode(4)}})});
  std::optional<v1::RunResult> r2 = fake_.AwaitResult(0, "r2");
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(*Decode<int>(r2->value()), 8);
  // The stubborn step has returned (r2 ran on its thread); its late value was never sent.
  int r1_results = 0;
  for (const v1::WorkerMessage& m : fake_.Received(0)) {
    for (const auto& r : m.results().results()) {
      if (r.run_id() == "r1") {
        ++r1_results;
        EXPECT_TRUE(r.has_error());
      }
    }
  }
  EXPECT_EQ(r1_results, 1);
}

TEST_F(ScriptedTest, LogsAndMetricsPrecedeTheResult) {
  StartWorker(Small(1, 1));
  fake_.Assign(0, {Assignment("r1", "SlowDouble", {{"x", Encode(3)}, {"millis", Encode(1)}})});
  ASSERT_TRUE(fake_.AwaitResult(0, "r1").has_value());
  bool logged = false, measured = false;
  for (const v1::WorkerMessage& m : fake_.Received(0)) {
    if (m.has_results()) break;
    for (const v1::RunLogs& run : m.logs().runs()) {
      EXPECT_EQ(run.run_id(), "r1");
      EXPECT_EQ(run.attempt(), 1);
      for (const auto& e : run.entries()) logged |= e.text() == "slow double of 3";
      for (const auto& p : run.metrics()) measured |= p.name() == "x" && p.value() == 3;
    }
  }
  EXPECT_TRUE(logged);
  EXPECT_TRUE(measured);
}

TEST_F(ScriptedTest, LogLinesThatAreNotUtf8AreRepairedNotDropped) {
  StartWorker(Small(1, 1));
  fake_.Assign(0, {Assignment("r1", "LogsRawBytes", {{"x", Encode(1)}})});
  ASSERT_TRUE(fake_.AwaitResult(0, "r1").has_value());
  std::vector<std::string> lines;
  for (const v1::WorkerMessage& m : fake_.Received(0)) {
    for (const v1::RunLogs& run : m.logs().runs()) {
      for (const auto& e : run.entries()) lines.push_back(e.text());
    }
    std::string wire;
    EXPECT_TRUE(m.SerializeToString(&wire));  // proto3 strings must be valid UTF-8
  }
  EXPECT_THAT(lines, ::testing::Contains("raw \xEF\xBF\xBD\xEF\xBF\xBD bytes"));
}

TEST_F(ScriptedTest, DeadlineCancelsTheStepAndReportsTimeout) {
  StartWorker(Small(1, 1));
  v1::Assignment slow =
      Assignment("r1", "SlowDouble", {{"x", Encode(1)}, {"millis", Encode(20000)}});
  slow.set_deadline_unix_micros(absl::ToUnixMicros(absl::Now() + absl::Milliseconds(50)));
  fake_.Assign(0, {slow});
  std::optional<v1::RunResult> r1 = fake_.AwaitResult(0, "r1");
  ASSERT_TRUE(r1.has_value());
  EXPECT_EQ(r1->error().kind(), v1::TIMEOUT);
  EXPECT_TRUE(r1->error().retryable());
}

TEST_F(ScriptedTest, GpuIdsReachTheStepAndOnlyChildEnvironments) {
  WorkerOptions o = Small(4, 2);
  o.resources.set_gpus(3);
  StartWorker(o);
  const char* before = std::getenv("CUDA_VISIBLE_DEVICES");
  fake_.Assign(0, {Assignment("r1", "GpuEnv", {{"tag", Encode(0)}})});
  std::optional<v1::RunResult> r1 = fake_.AwaitResult(0, "r1");
  ASSERT_TRUE(r1.has_value());
  EXPECT_EQ(*Decode<std::string>(r1->value()), "0;1;|CUDA_VISIBLE_DEVICES=0,1");
  EXPECT_EQ(std::getenv("CUDA_VISIBLE_DEVICES"), before);  // the process's own is untouched
}

TEST_F(ScriptedTest, UnacknowledgedResultsSurviveAReconnect) {
  StartWorker(Small(2, 2));
  fake_.Assign(0, {Assignment("r1", "Double", {{"x", Encode(7)}})});
  ASSERT_TRUE(fake_.AwaitResult(0, "r1").has_value());
  fake_.Break(0);  // no ack: the scheduler died
  std::optional<v1::Hello> hello = fake_.AwaitHello(1);
  ASSERT_TRUE(hello.has_value());
  ASSERT_EQ(hello->in_flight_size(), 1);
  EXPECT_EQ(hello->in_flight(0).run_id(), "r1");
  fake_.Welcome(1);
  std::optional<v1::RunResult> again = fake_.AwaitResult(1, "r1");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*Decode<int>(again->value()), 14);
  fake_.Ack(1, "r1", 1);
  // Once acknowledged it is forgotten: the next hello reports nothing in flight.
  ASSERT_TRUE(fake_.AwaitMessage(1, [](const v1::WorkerMessage& m) { return m.has_heartbeat(); }));
  fake_.Break(1);
  hello = fake_.AwaitHello(2);
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(hello->in_flight_size(), 0);
}

// What a newcomer sees when the scheduler is not there: one line per attempt saying what the
// worker waits for, why, and when it tries again; and a different one when a welcomed stream is
// lost.
TEST_F(ScriptedTest, AnAbsentSchedulerIsWaitedForInOneLinePerAttempt) {
  absl::Mutex mu;
  std::vector<std::string> lines;
  auto await_lines = [&](size_t n) {
    absl::MutexLock lock(&mu);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return lines.size() >= n; };
    return mu.AwaitWithTimeout(absl::Condition(&enough), kWait);
  };
  WorkerOptions options = Small(1, 1);
  options.worker_id = "scripted";
  options.reconnect_initial_backoff = absl::Milliseconds(5);
  options.reconnect_max_backoff = absl::Milliseconds(20);
  options.notice = [&](const std::string& line) {
    absl::MutexLock lock(&mu);
    lines.push_back(line);
  };
  absl::StatusOr<std::unique_ptr<Worker>> worker =
      Worker::Create(options, fake_.MakeConnector(), nullptr);
  ASSERT_TRUE(worker.ok()) << worker.status();
  (*worker)->Start();

  ASSERT_TRUE(fake_.AwaitHello(0).has_value());
  fake_.Break(0, absl::UnavailableError("connection refused"));
  ASSERT_TRUE(await_lines(1));
  ASSERT_TRUE(fake_.AwaitHello(1).has_value());  // it retried
  fake_.Break(1, absl::InvalidArgumentError("hello: worker_id is too long"));
  ASSERT_TRUE(await_lines(2));
  ASSERT_TRUE(fake_.AwaitHello(2).has_value());
  fake_.Welcome(2);
  fake_.Break(2);
  ASSERT_TRUE(await_lines(3));

  absl::MutexLock lock(&mu);
  EXPECT_THAT(lines[0],
              ::testing::MatchesRegex("sematic-worker scripted: waiting for scheduler at fake:1 "
                                      "\\(connection refused\\); retrying in [0-9]+ms"));
  EXPECT_THAT(lines[1], HasSubstr("waiting for scheduler at fake:1 (INVALID_ARGUMENT: hello: "
                                  "worker_id is too long); retrying in "));
  EXPECT_THAT(lines[2], ::testing::MatchesRegex(
                            "sematic-worker scripted: lost scheduler at fake:1 \\(the scheduler "
                            "went away\\); reconnecting in [0-9]+ms"));
}

TEST_F(ScriptedTest, WelcomeAbandonDropsHeldResults) {
  StartWorker(Small(2, 2));
  fake_.Assign(0, {Assignment("r1", "Double", {{"x", Encode(7)}})});
  ASSERT_TRUE(fake_.AwaitResult(0, "r1").has_value());
  fake_.Break(0);
  ASSERT_TRUE(fake_.AwaitHello(1).has_value());
  v1::RunAttempt stale;
  stale.set_run_id("r1");
  stale.set_attempt(1);
  fake_.Welcome(1, {stale});
  worker_->Drain();  // drained means nothing is held any more
  EXPECT_THAT(worker_->WaitUntilDrained(kWait), IsOk());
}

TEST_F(ScriptedTest, DrainRefusesNewWorkAndFinishesOnceResultsAreAcknowledged) {
  StartWorker(Small(2, 2));
  fake_.Assign(0, {Assignment("r1", "SlowDouble", {{"x", Encode(1)}, {"millis", Encode(100)}})});
  worker_->Drain();
  fake_.Assign(0, {Assignment("r2", "Double", {{"x", Encode(1)}})});
  std::optional<v1::RunResult> r2 = fake_.AwaitResult(0, "r2");
  ASSERT_TRUE(r2.has_value());
  EXPECT_THAT(r2->error().message(), HasSubstr("draining"));
  std::optional<v1::RunResult> r1 = fake_.AwaitResult(0, "r1");
  ASSERT_TRUE(r1.has_value());
  EXPECT_EQ(*Decode<int>(r1->value()), 2);
  EXPECT_EQ(worker_->WaitUntilDrained(absl::Milliseconds(50)).code(),
            absl::StatusCode::kDeadlineExceeded);  // r1 and r2 not acknowledged yet
  fake_.Ack(0, "r1", 1);
  fake_.Ack(0, "r2", 1);
  EXPECT_THAT(worker_->WaitUntilDrained(kWait), IsOk());
}

TEST_F(ScriptedTest, InputsByDigestAreFetchedOnceAndLargeOutputsUploaded) {
  auto artifacts = std::make_unique<MemoryArtifacts>();
  MemoryArtifacts* store = artifacts.get();
  const std::string input = store->Put(TypeOf<int>(), Encode(50));
  WorkerOptions o = Small(2, 1);
  o.cache_dir = (fs::path(::testing::TempDir()) / ("wcache-" + RandomHex64())).string();
  o.max_inline_output_bytes = 0;  // every output is uploaded
  StartWorker(o, std::move(artifacts));
  for (const char* run : {"r1", "r2"}) {
    v1::Assignment a = Assignment(run, "Double", {});
    v1::AssignedInput* in = a.add_inputs();
    in->set_name("x");
    in->set_artifact_digest(input);
    fake_.Assign(0, {a});
    std::optional<v1::RunResult> r = fake_.AwaitResult(0, run);
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->outcome_case(), v1::RunResult::kArtifactDigest) << r->DebugString();
    EXPECT_EQ(r->artifact_digest(), ArtifactId(TypeOf<int>(), Encode(100)));
    EXPECT_TRUE(store->Get(r->artifact_digest()).has_value());
  }
  EXPECT_EQ(store->downloads(), 1);  // the second run hit the local cache
  v1::Assignment wrong = Assignment("r3", "SlowDouble", {});
  v1::AssignedInput* in = wrong.add_inputs();
  in->set_name("x");
  in->set_artifact_digest(store->Put(TypeOf<std::string>(), Encode(std::string("no"))));
  *wrong.add_inputs()->mutable_value() = Encode(1);
  fake_.Assign(0, {wrong});
  std::optional<v1::RunResult> r3 = fake_.AwaitResult(0, "r3");
  ASSERT_TRUE(r3.has_value());
  EXPECT_EQ(r3->error().kind(), v1::USER_ERROR);
  EXPECT_THAT(r3->error().message(), HasSubstr("the step takes a int32"));
  worker_.reset();
  fs::remove_all(o.cache_dir);
}

// BigTensor(mib) of worker/testing/test_steps.cc, built here.
Tensor PatternTensor(int mib) {
  const int64_t n = (int64_t{mib} << 20) / 4;
  Tensor t(DType::kFloat32, {n});
  float* data = t.data<float>();
  for (int64_t i = 0; i < n; ++i) data[i] = static_cast<float>(i % 1000003);
  return t;
}

TEST_F(ScriptedTest, LargeOutputsTravelAsPayloadsUploadedOnceAndInputsFetchThem) {
  auto artifacts = std::make_unique<MemoryArtifacts>();
  MemoryArtifacts* store = artifacts.get();
  WorkerOptions o = Small(2, 1);
  o.cache_dir = (fs::path(::testing::TempDir()) / ("wcache-" + RandomHex64())).string();
  StartWorker(o, std::move(artifacts));
  const std::string id = ArtifactId(TypeOf<Tensor>(), Encode(PatternTensor(2)));
  v1::PayloadRef ref;
  for (const char* run : {"r1", "r2"}) {
    fake_.Assign(0, {Assignment(run, "BigTensor", {{"mib", Encode(2)}})});
    std::optional<v1::RunResult> r = fake_.AwaitResult(0, run);
    ASSERT_TRUE(r.has_value());
    // The value is small enough to go inline, its data a ref to the uploaded payload; its id
    // is the one the silent runner computes from the inline tensor.
    ASSERT_EQ(r->outcome_case(), v1::RunResult::kValue) << r->DebugString();
    ASSERT_TRUE(r->value().tensor_value().has_data_ref());
    EXPECT_LT(r->value().ByteSizeLong(), 200u);
    EXPECT_EQ(ArtifactId(TypeOf<Tensor>(), r->value()), id);
    ref = r->value().tensor_value().data_ref();
    EXPECT_EQ(ref.size(), 2u << 20);
    EXPECT_TRUE(store->Get(ref.digest()).has_value());
  }
  EXPECT_EQ(store->payload_uploads(), 1);  // r2's identical payload was found, not re-sent

  // A consumer given the value with its ref: the payload comes from the worker's cache.
  v1::Value with_ref = Encode(PatternTensor(2));
  ExternalizePayloads(&with_ref);
  fake_.Assign(0, {Assignment("r3", "CheckTensor", {{"t", with_ref}})});
  std::optional<v1::RunResult> r3 = fake_.AwaitResult(0, "r3");
  ASSERT_TRUE(r3.has_value());
  ASSERT_EQ(r3->outcome_case(), v1::RunResult::kValue) << r3->DebugString();
  EXPECT_EQ(*Decode<int64_t>(r3->value()), (int64_t{2} << 20) / 4);
  EXPECT_EQ(store->downloads(), 0);

  // A ref to a payload nobody stored: an infrastructure error naming the input and digest.
  v1::Value unknown = with_ref;
  unknown.mutable_tensor_value()->mutable_data_ref()->set_digest(Sha256Hex("nothing"));
  fake_.Assign(0, {Assignment("r4", "CheckTensor", {{"t", unknown}})});
  std::optional<v1::RunResult> r4 = fake_.AwaitResult(0, "r4");
  ASSERT_TRUE(r4.has_value());
  EXPECT_EQ(r4->error().kind(), v1::INFRASTRUCTURE);
  EXPECT_THAT(r4->error().message(),
              HasSubstr("NOT_FOUND: input t: payload " + Sha256Hex("nothing")));
  // A ref whose size is not its payload's: DATA_LOSS.
  v1::Value wrong_size = with_ref;
  wrong_size.mutable_tensor_value()->mutable_data_ref()->set_size(3u << 20);
  fake_.Assign(0, {Assignment("r5", "CheckTensor", {{"t", wrong_size}})});
  std::optional<v1::RunResult> r5 = fake_.AwaitResult(0, "r5");
  ASSERT_TRUE(r5.has_value());
  EXPECT_THAT(r5->error().message(), HasSubstr("DATA_LOSS: input t: payload"));
  worker_.reset();
  fs::remove_all(o.cache_dir);
}

}  // namespace
}  // namespace sematic::worker
