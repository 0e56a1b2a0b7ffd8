// Cross-process: the real sematic-scheduler daemon and a sematic-worker daemon serving a
// --load'ed library of steps, all on 127.0.0.1. Jobs go through JobService over gRPC; the
// scheduler is killed with SIGKILL mid-job and restarted on the same data dir and port, and the
// worker must reconnect and deliver every result it finished meanwhile.
#include <signal.h>

#include <map>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "common/ids.h"
#include "gtest/gtest.h"
#include "sematic/codec.h"
#include "tests/cluster_harness.h"

namespace worker_cluster_test {

using namespace ::sematic_test;

std::unique_ptr<Child> StartWorker(const std::string& scheduler, const fs::path& cache) {
  return std::make_unique<Child>(std::vector<std::string>{
      SEMATIC_WORKER_BINARY, "--load=" SEMATIC_TEST_STEPS_LIBRARY, "--scheduler=" + scheduler,
      "--cpus=2", "--memory=1GiB", "--max-runs=2", "--worker-id=cluster-worker",
      "--cache-dir=" + cache.string(), "--max-reconnect-backoff=200ms", "--drain-timeout=20s"});
}

class WorkerClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) / ("cluster-" + sematic::RandomHex64());
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(WorkerClusterTest, JobSurvivesSchedulerKillNineWithNoResultLost) {
  auto scheduler = std::make_unique<Scheduler>(root_ / "data", 0);
  ASSERT_FALSE(scheduler->address().empty()) << "the scheduler did not start";
  const int port = scheduler->port();
  std::unique_ptr<Child> worker = StartWorker(scheduler->address(), root_ / "cache");

  constexpr int kParts = 8;  // SlowDouble(i, 300 ms), two at a time: about 1.2 s of work
  v1::SubmitJobRequest submit;
  submit.set_function("SlowDoubleAll");
  v1::NamedArg* n = submit.add_args();
  n->set_name("n");
  *n->mutable_value() = sematic::Encode(kParts);
  v1::NamedArg* millis = submit.add_args();
  millis->set_name("millis");
  *millis->mutable_value() = sematic::Encode(300);
  const std::string job_id = Submit(scheduler->address(), submit);
  ASSERT_FALSE(job_id.empty());

  // Kill -9 once some, but not all, parts are recorded.
  std::map<std::string, std::string> completed;  // run id -> output digest
  for (absl::Time end = absl::Now() + absl::Seconds(30); absl::Now() < end;) {
    completed.clear();
    for (const auto& [id, run] : Runs(scheduler->address(), job_id)) {
      if (run.function() == "SlowDouble" && run.state() == v1::SUCCEEDED) {
        completed[id] = run.output_digest();
      }
    }
    if (completed.size() >= 2) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_GE(completed.size(), 2u);
  ASSERT_LT(completed.size(), static_cast<size_t>(kParts)) << "the job ended before the kill";
  scheduler->process().Kill(SIGKILL);
  scheduler.reset();

  // Same data, same port: the worker finds it again by itself.
  scheduler = std::make_unique<Scheduler>(root_ / "data", port);
  ASSERT_EQ(scheduler->port(), port) << "the scheduler did not restart on its port";
  v1::Job job = AwaitJob(scheduler->address(), job_id);
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  int expected = 0;
  for (int i = 0; i < kParts; ++i) expected += 2 * i;
  EXPECT_EQ(job.output_digest(),
            sematic::ArtifactId(sematic::TypeOf<int>(), sematic::Encode(expected)));
  std::map<std::string, v1::Run> after = Runs(scheduler->address(), job_id);
  int parts = 0;
  for (const auto& [id, run] : after) {
    if (run.function() != "SlowDouble") continue;
    ++parts;
    EXPECT_EQ(run.state(), v1::SUCCEEDED) << id;
    // Runs finished or running across the restart were delivered, not run again.
    EXPECT_EQ(run.attempt(), 1) << id << " ran again: a result was lost";
  }
  EXPECT_EQ(parts, kParts);
  for (const auto& [id, digest] : completed) EXPECT_EQ(after[id].output_digest(), digest) << id;

  // SIGTERM drains the worker: it exits 0 once nothing is left.
  EXPECT_EQ(worker->Stop(SIGTERM, absl::Seconds(30)), 0);
  EXPECT_EQ(scheduler->process().Stop(SIGTERM, absl::Seconds(30)), 0);
}

TEST_F(WorkerClusterTest, CancellingTheJobReachesTheRunningStep) {
  Scheduler scheduler(root_ / "data", 0);
  ASSERT_FALSE(scheduler.address().empty());
  std::unique_ptr<Child> worker = StartWorker(scheduler.address(), root_ / "cache");
  const std::string marker = (root_ / "marker").string();
  v1::SubmitJobRequest submit;
  submit.set_function("WaitForCancel");
  v1::NamedArg* arg = submit.add_args();
  arg->set_name("marker");
  *arg->mutable_value() = sematic::Encode(marker);
  const std::string job_id = Submit(scheduler.address(), submit);
  ASSERT_FALSE(job_id.empty());
  auto wait_for_file = [](const std::string& path) {
    for (absl::Time end = absl::Now() + absl::Seconds(30); absl::Now() < end;) {
      if (fs::exists(path)) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  };
  ASSERT_TRUE(wait_for_file(marker + ".started")) << "the step never ran";
  auto jobs = v1::JobService::NewStub(
      grpc::CreateChannel(scheduler.address(), grpc::InsecureChannelCredentials()));
  v1::CancelJobRequest cancel;
  cancel.set_job_id(job_id);
  v1::CancelJobResponse cancelled;
  ASSERT_TRUE(jobs->CancelJob(Deadline().get(), cancel, &cancelled).ok());
  EXPECT_TRUE(wait_for_file(marker + ".cancelled")) << "the step never saw Cancelled()";
  EXPECT_EQ(AwaitJob(scheduler.address(), job_id).state(), v1::JOB_CANCELED);
  EXPECT_EQ(worker->Stop(SIGTERM, absl::Seconds(30)), 0);
}

}  // namespace worker_cluster_test
