// Helpers for cross-process tests: child processes that are always killed and reaped, the
// sematic-scheduler daemon on 127.0.0.1, and JobService/RunService calls with deadlines.
//
//   Scheduler scheduler(dir / "data", /*port=*/0);
//   Child worker({SEMATIC_WORKER_BINARY, "--load=...", "--scheduler=" + scheduler.address()});
//   const std::string job = Submit(scheduler.address(), request);
//   EXPECT_EQ(AwaitJob(scheduler.address(), job).state(), v1::JOB_SUCCEEDED);
//
// The includer defines SEMATIC_SCHEDULER_BINARY (the daemon's path); with SEMATIC_WORKER_BINARY
// and SEMATIC_TEST_STEPS_LIBRARY too, LocalClusterTest is a fixture of a scheduler and workers.
#ifndef SEMATIC_TESTS_CLUSTER_HARNESS_H_
#define SEMATIC_TESTS_CLUSTER_HARNESS_H_


#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "common/ids.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/testing/processes.h"
#include "sematic/v1/admin_service.grpc.pb.h"
#include "sematic/v1/job.grpc.pb.h"
#include "sematic/v1/run_service.grpc.pb.h"

namespace sematic_test {

namespace v1 = ::sematic::v1;
namespace fs = std::filesystem;

using Child = ::sematic::testing::ChildProcess;

// sematic-scheduler on 127.0.0.1; port 0 picks one.
class Scheduler : public ::sematic::testing::SchedulerProcess {
 public:
  Scheduler(const fs::path& data_dir, int port)
      : SchedulerProcess({SEMATIC_SCHEDULER_BINARY}, data_dir.string(), port,
                         {"--recovery-grace=10s", "--heartbeat-timeout=120s"}) {}
};

inline std::unique_ptr<grpc::ClientContext> Deadline() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return context;
}

// Submits once a worker offers the function; the job id ("" after a failed EXPECT).
inline std::string Submit(const std::string& address, const v1::SubmitJobRequest& request) {
  absl::StatusOr<v1::Job> job = ::sematic::testing::SubmitWhenOffered(address, request);
  EXPECT_TRUE(job.ok()) << job.status();
  return job.ok() ? job->id() : "";
}

inline std::map<std::string, v1::Run> Runs(const std::string& address, const std::string& job_id) {
  return ::sematic::testing::ListAllRuns(address, job_id);
}

// The job's runs of `function`, in run id order.
inline std::vector<v1::Run> RunsOf(const std::string& address, const std::string& job_id,
                                   const std::string& function) {
  std::vector<v1::Run> out;
  for (auto& [id, run] : Runs(address, job_id)) {
    if (run.function() == function) out.push_back(run);
  }
  return out;
}

// Polls until the job ends (or 60 s pass).
inline v1::Job AwaitJob(const std::string& address, const std::string& job_id) {
  return ::sematic::testing::AwaitJobEnd(address, job_id);
}

// Waits (at most `timeout`) until `done()` holds; polls every 10 ms. Returns whether it held.
template <typename Predicate>
bool WaitFor(Predicate done, absl::Duration timeout = absl::Seconds(30)) {
  for (const absl::Time end = absl::Now() + timeout; absl::Now() < end;) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return done();
}

#ifdef SEMATIC_WORKER_BINARY
// A scheduler on 127.0.0.1 and sematic-worker daemons serving the test steps, all under a fresh
// directory; every process is killed and reaped at the end.
class LocalClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) / ("local-cluster-" + sematic::RandomHex64());
    fs::create_directories(root_);
    scheduler_ = std::make_unique<Scheduler>(root_ / "data", 0);
    ASSERT_FALSE(scheduler_->address().empty()) << "the scheduler did not start";
  }

  void TearDown() override {
    workers_.clear();  // killed and reaped
    scheduler_.reset();
    fs::remove_all(root_);
  }

  // A sematic-worker named `id` with 2 CPUs, 4 GiB, no GPU and 2 slots; `flags` come last, so
  // they may also override those (a repeated flag's last value wins).
  void StartWorker(const std::string& id, std::vector<std::string> flags = {}) {
    std::vector<std::string> argv = {SEMATIC_WORKER_BINARY,
                                     "--load=" SEMATIC_TEST_STEPS_LIBRARY,
                                     "--scheduler=" + scheduler_->address(),
                                     "--cpus=2",
                                     "--memory=4GiB",
                                     "--gpus=0",
                                     "--max-runs=2",
                                     "--worker-id=" + id,
                                     "--cache-dir=" + (root_ / ("cache-" + id)).string(),
                                     "--max-reconnect-backoff=200ms",
                                     "--drain-timeout=20s",
                                     "--cancel-grace=2s"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    workers_[id] = std::make_unique<Child>(std::move(argv));
  }

  // Waits until the scheduler lists `n` workers.
  bool AwaitWorkers(int n) {
    auto admin = v1::AdminService::NewStub(
        grpc::CreateChannel(scheduler_->address(), grpc::InsecureChannelCredentials()));
    return WaitFor([&] {
      v1::ListWorkersResponse response;
      return admin->ListWorkers(Deadline().get(), v1::ListWorkersRequest(), &response).ok() &&
             response.workers_size() == n;
    });
  }

  const std::string& address() const { return scheduler_->address(); }

  fs::path root_;
  std::unique_ptr<Scheduler> scheduler_;
  std::map<std::string, std::unique_ptr<Child>> workers_;
};
#endif  // SEMATIC_WORKER_BINARY

}  // namespace sematic_test

#endif  // SEMATIC_TESTS_CLUSTER_HARNESS_H_
