// Cross-process: the real sematic-scheduler daemon and a sematic-worker daemon serving a
// --load'ed library of steps, all on 127.0.0.1. Jobs go through JobService over gRPC; the
// scheduler is killed with SIGKILL mid-job and restarted on the same data dir and port, and the
// worker must reconnect and deliver every result it finished meanwhile.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "gtest/gtest.h"
#include "grpcpp/grpcpp.h"
#include "sematic/codec.h"
#include "sematic/v1/job.grpc.pb.h"
#include "sematic/v1/run_service.grpc.pb.h"

namespace worker_cluster_test {

namespace v1 = ::sematic::v1;
namespace fs = std::filesystem;

// A child process, killed (SIGKILL) and reaped on destruction unless it already exited.
class Child {
 public:
  // Starts `argv`; when `stdout_line` is set, waits (30 s at most) for the first line the child
  // prints and stores it there.
  explicit Child(std::vector<std::string> argv, std::string* stdout_line = nullptr) {
    int out[2] = {-1, -1};
    if (stdout_line != nullptr && pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      if (stdout_line != nullptr) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
      }
      std::vector<char*> args;
      for (std::string& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    if (stdout_line == nullptr) return;
    close(out[1]);
    std::string text;
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline && text.find('\n') == std::string::npos) {
      pollfd p{out[0], POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      const ssize_t n = read(out[0], buf, sizeof(buf));
      if (n <= 0) break;
      text.append(buf, static_cast<size_t>(n));
    }
    close(out[0]);
    *stdout_line = text.substr(0, text.find('\n'));
  }

  ~Child() { Kill(SIGKILL); }

  void Kill(int signal) {
    if (pid_ <= 0) return;
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // Sends `signal` and waits up to `timeout` for the exit; the exit code, or -1 on timeout
  // (the child is then killed) or death by a signal.
  int Stop(int signal, absl::Duration timeout) {
    if (pid_ <= 0) return -1;
    kill(pid_, signal);
    const absl::Time deadline = absl::Now() + timeout;
    int status = 0;
    while (absl::Now() < deadline) {
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    Kill(SIGKILL);
    return -1;
  }

 private:
  pid_t pid_ = -1;
};

// sematic-scheduler on 127.0.0.1; port 0 picks one.
class Scheduler {
 public:
  Scheduler(const fs::path& data_dir, int port) {
    std::string line;
    child_ = std::make_unique<Child>(
        std::vector<std::string>{SEMATIC_SCHEDULER_BINARY, "--data-dir=" + data_dir.string(),
                                 "--port=" + std::to_string(port), "--host=127.0.0.1",
                                 "--recovery-grace=10s", "--heartbeat-timeout=120s"},
        &line);
    const size_t colon = line.rfind(':');
    if (colon != std::string::npos && absl::SimpleAtoi(line.substr(colon + 1), &port_)) {
      address_ = "127.0.0.1:" + std::to_string(port_);
    }
  }
  Child& process() { return *child_; }
  const std::string& address() const { return address_; }
  int port() const { return port_; }

 private:
  std::unique_ptr<Child> child_;
  int port_ = 0;
  std::string address_;
};

std::unique_ptr<Child> StartWorker(const std::string& scheduler, const fs::path& cache) {
  return std::make_unique<Child>(std::vector<std::string>{
      SEMATIC_WORKER_BINARY, "--load=" SEMATIC_TEST_STEPS_LIBRARY, "--scheduler=" + scheduler,
      "--cpus=2", "--memory=1GiB", "--max-runs=2", "--worker-id=cluster-worker",
      "--cache-dir=" + cache.string(), "--max-reconnect-backoff=200ms", "--drain-timeout=20s"});
}

std::unique_ptr<grpc::ClientContext> Deadline() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return context;
}

// Submits, retrying while no worker offers the function yet (its hello may not be in).
std::string Submit(const std::string& address, const v1::SubmitJobRequest& request) {
  auto jobs = v1::JobService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  v1::SubmitJobResponse response;
  grpc::Status status;
  for (absl::Time end = absl::Now() + absl::Seconds(30); absl::Now() < end;) {
    status = jobs->SubmitJob(Deadline().get(), request, &response);
    if (status.error_code() != grpc::StatusCode::NOT_FOUND) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.job().id();
}

std::map<std::string, v1::Run> Runs(const std::string& address, const std::string& job_id) {
  auto stub =
      v1::RunService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  v1::ListRunsRequest request;
  request.set_job_id(job_id);
  request.set_page_size(1000);
  v1::ListRunsResponse response;
  std::map<std::string, v1::Run> out;
  if (!stub->ListRuns(Deadline().get(), request, &response).ok()) return out;
  for (const auto& run : response.runs()) out[run.id()] = run;
  return out;
}

// Polls until the job ends (or 60 s pass).
v1::Job AwaitJob(const std::string& address, const std::string& job_id) {
  auto jobs = v1::JobService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  v1::GetJobRequest get;
  get.set_job_id(job_id);
  v1::Job job;
  for (absl::Time end = absl::Now() + absl::Seconds(60); absl::Now() < end;) {
    if (jobs->GetJob(Deadline().get(), get, &job).ok() &&
        (job.state() == v1::JOB_SUCCEEDED || job.state() == v1::JOB_FAILED ||
         job.state() == v1::JOB_CANCELED)) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return job;
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
