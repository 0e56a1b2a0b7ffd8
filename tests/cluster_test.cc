// Cross-process: a heterogeneous local cluster — the real sematic-scheduler and several
// sematic-worker daemons serving a --load'ed step library — all on 127.0.0.1. Covers placement
// by labels and resources, a worker killed with SIGKILL mid-step, cancellation through the
// `sematic` CLI, crashing steps (and their std::cout in the run's log) under --isolate=process,
// upload deduplication and a large tensor passed between workers.
#include <signal.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sematic/codec.h"
#include "sematic/v1/admin_service.grpc.pb.h"
#include "sematic/v1/artifact_service.grpc.pb.h"
#include "tests/cluster_harness.h"

namespace cluster_test {

using namespace ::sematic_test;
using ::testing::HasSubstr;

v1::NamedArg Arg(const std::string& name, v1::Value value) {
  v1::NamedArg arg;
  arg.set_name(name);
  *arg.mutable_value() = std::move(value);
  return arg;
}

v1::SubmitJobRequest Job(const std::string& function, std::vector<v1::NamedArg> args) {
  v1::SubmitJobRequest request;
  request.set_function(function);
  for (v1::NamedArg& a : args) *request.add_args() = std::move(a);
  return request;
}

std::string RunLogs(const std::string& address, const std::string& run_id) {
  auto stub =
      v1::RunService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  v1::GetRunLogsRequest request;
  request.set_run_id(run_id);
  auto context = Deadline();
  std::unique_ptr<grpc::ClientReader<v1::LogLines>> reader =
      stub->GetRunLogs(context.get(), request);
  std::string text;
  v1::LogLines lines;
  while (reader->Read(&lines)) {
    for (const v1::LogEntry& e : lines.entries()) text += e.text() + "\n";
  }
  reader->Finish().IgnoreError();
  return text;
}

class ClusterTest : public LocalClusterTest {};

TEST_F(ClusterTest, GpuStepRunsOnlyOnTheGpuWorker) {
  StartWorker("cpu-1");
  StartWorker("cpu-2");
  StartWorker("gpu-1", {"--gpus=2", "--label=pool=gpu"});
  ASSERT_TRUE(AwaitWorkers(3));

  constexpr int kRuns = 6;
  const std::string job_id =
      Submit(address(), Job("GpuIdsAll", {Arg("n", sematic::Encode(kRuns))}));
  ASSERT_FALSE(job_id.empty());
  const v1::Job job = AwaitJob(address(), job_id);
  ASSERT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();

  const std::vector<v1::Run> runs = RunsOf(address(), job_id, "GpuIds");
  ASSERT_EQ(runs.size(), static_cast<size_t>(kRuns));
  for (const v1::Run& run : runs) {
    EXPECT_EQ(run.worker_id(), "gpu-1") << run.id();
    EXPECT_EQ(run.state(), v1::SUCCEEDED) << run.id();
  }
  // Each run was given exactly one of the worker's two GPUs: the job's output lists them.
  auto artifacts = v1::ArtifactService::NewStub(
      grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
  v1::GetArtifactRequest get;
  get.set_digest(job.output_digest());
  get.set_include_json(true);
  v1::GetArtifactResponse output;
  ASSERT_TRUE(artifacts->GetArtifact(Deadline().get(), get, &output).ok());
  auto count = [&](const std::string& needle) {
    int n = 0;
    for (size_t at = output.json().find(needle); at != std::string::npos;
         at = output.json().find(needle, at + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_EQ(count("\"0;\"") + count("\"1;\""), kRuns) << output.json();
}

TEST_F(ClusterTest, StepNoWorkerOffersStaysQueuedWithAReason) {
  StartWorker("cpu-1");
  StartWorker("gpu-1", {"--gpus=2", "--label=pool=gpu"});
  ASSERT_TRUE(AwaitWorkers(2));
  const std::string job_id = Submit(address(), Job("TpuOnly", {Arg("x", sematic::Encode(1))}));
  ASSERT_FALSE(job_id.empty());
  v1::Run queued;
  EXPECT_TRUE(WaitFor([&] {
    std::vector<v1::Run> runs = RunsOf(address(), job_id, "TpuOnly");
    if (runs.size() != 1) return false;
    queued = runs[0];
    return queued.state() == v1::QUEUED && !queued.queued_reason().empty();
  })) << queued.ShortDebugString();
  EXPECT_THAT(queued.queued_reason(), HasSubstr("no worker offers TpuOnly"));
  EXPECT_THAT(queued.queued_reason(), HasSubstr("tpu"));
  EXPECT_EQ(queued.worker_id(), "");
}

TEST_F(ClusterTest, WorkerKilledMidStepIsRetriedElsewhere) {
  StartWorker("w-a");
  StartWorker("w-b");
  ASSERT_TRUE(AwaitWorkers(2));
  const std::string marker = (root_ / "hold").string();
  const std::string job_id = Submit(address(), Job("Hold", {Arg("marker", sematic::Encode(marker)),
                                                            Arg("millis", sematic::Encode(1500))}));
  ASSERT_FALSE(job_id.empty());
  // The step reports the pid running it: kill -9 that worker mid-step.
  pid_t pid = 0;
  ASSERT_TRUE(WaitFor([&] {
    std::ifstream in(marker + ".pid.1");
    return static_cast<bool>(in >> pid);
  }));
  std::string killed;
  for (auto& [id, child] : workers_) {
    if (child->pid() == pid) killed = id;
  }
  ASSERT_FALSE(killed.empty()) << "pid " << pid << " is none of the workers";
  workers_[killed]->Kill(SIGKILL);

  const v1::Job job = AwaitJob(address(), job_id);
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  const std::vector<v1::Run> runs = RunsOf(address(), job_id, "Hold");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].attempt(), 2);
  EXPECT_NE(runs[0].worker_id(), killed);
  EXPECT_FALSE(runs[0].worker_id().empty());
}

TEST_F(ClusterTest, CliCancelStopsTheRunningStepsInTheirProcesses) {
  StartWorker("w-a", {"--isolate=process"});
  StartWorker("w-b", {"--isolate=process"});
  ASSERT_TRUE(AwaitWorkers(2));
  const std::string marker = (root_ / "wait").string();
  constexpr int kSteps = 3;
  const std::string job_id = Submit(
      address(), Job("WaitForCancelAll",
                     {Arg("marker", sematic::Encode(marker)), Arg("n", sematic::Encode(kSteps))}));
  ASSERT_FALSE(job_id.empty());
  for (int i = 0; i < kSteps; ++i) {
    ASSERT_TRUE(WaitFor([&] { return fs::exists(marker + "." + std::to_string(i) + ".started"); }))
        << "step " << i << " never ran";
  }

  Child cli({SEMATIC_CLI_BINARY, "cancel", job_id, "--scheduler=" + address()});
  EXPECT_EQ(cli.Wait(absl::Seconds(30)), 0) << "sematic cancel failed";
  // SIGTERM reached each step process, whose Context::Cancelled() turned true.
  for (int i = 0; i < kSteps; ++i) {
    EXPECT_TRUE(WaitFor([&] {
      return fs::exists(marker + "." + std::to_string(i) + ".cancelled");
    })) << "step "
        << i << " never saw Cancelled()";
  }
  EXPECT_EQ(AwaitJob(address(), job_id).state(), v1::JOB_CANCELED);
  for (const v1::Run& run : RunsOf(address(), job_id, "WaitForCancel")) {
    EXPECT_EQ(run.state(), v1::CANCELED) << run.id();
  }
}

TEST_F(ClusterTest, CrashingStepFailsOnlyItsAttemptUnderProcessIsolation) {
  StartWorker("w-iso", {"--isolate=process"});
  ASSERT_TRUE(AwaitWorkers(1));

  // Crashes on its first attempt: retried (infrastructure budget) and succeeds on the second.
  std::string job_id =
      Submit(address(), Job("Crash", {Arg("how", sematic::Encode(std::string("segv"))),
                                      Arg("crashing_attempts", sematic::Encode(1))}));
  v1::Job job = AwaitJob(address(), job_id);
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  EXPECT_EQ(job.output_digest(), sematic::ArtifactId(sematic::TypeOf<int>(), sematic::Encode(2)));
  std::vector<v1::Run> runs = RunsOf(address(), job_id, "Crash");
  ASSERT_EQ(runs.size(), 1u);
  const std::string logs = RunLogs(address(), runs[0].id());
  EXPECT_THAT(logs, HasSubstr("step Crash crashed (signal 11, SIGSEGV)"));
  // What the step wrote to std::cout, on both attempts, the crashed one included.
  EXPECT_THAT(logs, HasSubstr("Crash attempt 1 (segv)\n"));
  EXPECT_THAT(logs, HasSubstr("Crash attempt 2 (segv)\n"));

  // Crashes every time: the retries run out and the job fails naming the crash.
  job_id = Submit(address(), Job("Crash", {Arg("how", sematic::Encode(std::string("abort"))),
                                           Arg("crashing_attempts", sematic::Encode(100))}));
  job = AwaitJob(address(), job_id);
  EXPECT_EQ(job.state(), v1::JOB_FAILED);
  runs = RunsOf(address(), job_id, "Crash");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_THAT(runs[0].error(), HasSubstr("step Crash crashed (signal 6, SIGABRT)"));
  EXPECT_EQ(runs[0].attempt(), 4);  // the first attempt and three infrastructure retries

  // The worker survived all five crashes and serves the next job.
  EXPECT_TRUE(workers_["w-iso"]->Running());
  job_id = Submit(address(), Job("Double", {Arg("x", sematic::Encode(21))}));
  job = AwaitJob(address(), job_id);
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  EXPECT_EQ(job.output_digest(), sematic::ArtifactId(sematic::TypeOf<int>(), sematic::Encode(42)));
  EXPECT_EQ(RunsOf(address(), job_id, "Double")[0].worker_id(), "w-iso");
}

// Without process isolation a segfaulting step takes its worker (and every run aboard) down.
// A supervisor restarts dead workers; the scheduler must find the step that kills them, fail it
// as having crashed its worker, and run the innocent steps again without spending their retries.
TEST_F(ClusterTest, AStepCrashingThreadModeWorkersIsTheOneBlamed) {
  int started = 0;
  auto start = [&] {
    StartWorker("w-thread-" + std::to_string(++started), {"--max-runs=4", "--cpus=4"});
  };
  start();
  start();
  ASSERT_TRUE(AwaitWorkers(2));
  v1::SubmitJobRequest request = Job("CrashAmong", {Arg("n", sematic::Encode(6)),
                                                    Arg("millis", sematic::Encode(300)),
                                                    Arg("crashes", sematic::Encode(100))});
  const std::string job_id = Submit(address(), request);
  // The supervisor: a worker that died is replaced by a new one (bounded: 40 restarts, 2 min).
  v1::Job job;
  const absl::Time deadline = absl::Now() + absl::Minutes(2);
  while (absl::Now() < deadline && started < 40) {
    job = ::sematic::testing::AwaitJobEnd(address(), job_id, absl::Milliseconds(200));
    if (job.state() != v1::JOB_PENDING && job.state() != v1::JOB_RUNNING) break;
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (it->second->Running()) {
        ++it;
        continue;
      }
      it = workers_.erase(it);
      start();
    }
  }
  ASSERT_EQ(job.state(), v1::JOB_FAILED) << job.DebugString();
  EXPECT_THAT(job.error(), HasSubstr("step Crash crashed its worker"));
  std::vector<v1::Run> crash = RunsOf(address(), job_id, "Crash");
  ASSERT_EQ(crash.size(), 1u);
  EXPECT_EQ(crash[0].state(), v1::FAILED);
  EXPECT_THAT(crash[0].error(), HasSubstr("crashed its worker"));
  std::cout << "thread-mode crash: " << started << " workers started, Crash ran "
            << crash[0].attempt() << " attempts" << std::endl;
  EXPECT_GE(started, 3);  // it did take a worker down
  // The innocent steps were not blamed: none failed, and those that ended succeeded.
  for (const v1::Run& run : RunsOf(address(), job_id, "SlowDouble")) {
    EXPECT_NE(run.state(), v1::FAILED) << run.id() << ": " << run.error();
    EXPECT_THAT(run.error(), ::testing::Not(HasSubstr("attempts"))) << run.id();
  }
}

TEST_F(ClusterTest, IdenticalOutputIsUploadedOnce) {
  StartWorker("w-a");
  ASSERT_TRUE(AwaitWorkers(1));
  const v1::SubmitJobRequest request =
      Job("Filled", {Arg("mib", sematic::Encode(2)), Arg("fill", sematic::Encode(7))});
  const std::string first = Submit(address(), request);
  const v1::Job first_job = AwaitJob(address(), first);
  ASSERT_EQ(first_job.state(), v1::JOB_SUCCEEDED) << first_job.error();
  const std::string second = Submit(address(), request);  // no caching: the step runs again
  const v1::Job second_job = AwaitJob(address(), second);
  ASSERT_EQ(second_job.state(), v1::JOB_SUCCEEDED) << second_job.error();
  ASSERT_EQ(first_job.output_digest(), second_job.output_digest());
  const std::string digest = first_job.output_digest();

  EXPECT_THAT(RunLogs(address(), RunsOf(address(), first, "Filled")[0].id()),
              HasSubstr("output artifact " + digest + " uploaded ("));
  EXPECT_THAT(RunLogs(address(), RunsOf(address(), second, "Filled")[0].id()),
              HasSubstr("output artifact " + digest + " is already stored: not uploaded again"));
  // The store holds it.
  auto artifacts = v1::ArtifactService::NewStub(
      grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
  v1::FindMissingRequest find;
  find.add_digests(digest);
  v1::FindMissingResponse missing;
  ASSERT_TRUE(artifacts->FindMissing(Deadline().get(), find, &missing).ok());
  EXPECT_EQ(missing.missing_size(), 0);
}

TEST_F(ClusterTest, LargeTensorTravelsBetweenWorkers) {
  // The producer and the consumer are pinned to different workers by labels.
  StartWorker("maker", {"--label=tensor=make"});
  StartWorker("checker", {"--label=tensor=check"});
  ASSERT_TRUE(AwaitWorkers(2));
  constexpr int kMiB = 256;
  const std::string job_id =
      Submit(address(), Job("TensorRoundTrip", {Arg("mib", sematic::Encode(kMiB))}));
  const v1::Job job = AwaitJob(address(), job_id);
  ASSERT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  const int64_t elements = (int64_t{kMiB} << 20) / 4;
  EXPECT_EQ(job.output_digest(),
            sematic::ArtifactId(sematic::TypeOf<int64_t>(), sematic::Encode(elements)))
      << "the consumer found a wrong element";
  const std::vector<v1::Run> made = RunsOf(address(), job_id, "BigTensor");
  const std::vector<v1::Run> checked = RunsOf(address(), job_id, "CheckTensor");
  ASSERT_EQ(made.size(), 1u);
  ASSERT_EQ(checked.size(), 1u);
  EXPECT_EQ(made[0].worker_id(), "maker");
  EXPECT_EQ(checked[0].worker_id(), "checker");
  EXPECT_EQ(made[0].output_digest().size(), 64u);  // uploaded, not inline
}

}  // namespace cluster_test
