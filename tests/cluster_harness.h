// Helpers for cross-process tests: child processes that are always killed and reaped, the
// sematic-scheduler daemon on 127.0.0.1, and JobService/RunService calls with deadlines.
//
//   Scheduler scheduler(dir / "data", /*port=*/0);
//   Child worker({SEMATIC_WORKER_BINARY, "--load=...", "--scheduler=" + scheduler.address()});
//   const std::string job = Submit(scheduler.address(), request);
//   EXPECT_EQ(AwaitJob(scheduler.address(), job).state(), v1::JOB_SUCCEEDED);
//
// The includer defines SEMATIC_SCHEDULER_BINARY (the daemon's path).
#ifndef SEMATIC_TESTS_CLUSTER_HARNESS_H_
#define SEMATIC_TESTS_CLUSTER_HARNESS_H_

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "sematic/v1/job.grpc.pb.h"
#include "sematic/v1/run_service.grpc.pb.h"

namespace sematic_test {

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

  pid_t pid() const { return pid_; }
  // True while the process has not exited (it is reaped when it has).
  bool Running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return true;
    pid_ = -1;
    return false;
  }

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
    return Wait(timeout);
  }

  // Waits up to `timeout` for the child to exit by itself; as Stop.
  int Wait(absl::Duration timeout) {
    if (pid_ <= 0) return -1;
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

inline std::unique_ptr<grpc::ClientContext> Deadline() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return context;
}

// Submits, retrying while no worker offers the function yet (its hello may not be in).
inline std::string Submit(const std::string& address, const v1::SubmitJobRequest& request) {
  auto jobs =
      v1::JobService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
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

inline std::map<std::string, v1::Run> Runs(const std::string& address, const std::string& job_id) {
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
inline v1::Job AwaitJob(const std::string& address, const std::string& job_id) {
  auto jobs =
      v1::JobService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
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

// Waits (at most `timeout`) until `done()` holds; polls every 10 ms. Returns whether it held.
template <typename Predicate>
bool WaitFor(Predicate done, absl::Duration timeout = absl::Seconds(30)) {
  for (const absl::Time end = absl::Now() + timeout; absl::Now() < end;) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return done();
}

}  // namespace sematic_test

#endif  // SEMATIC_TESTS_CLUSTER_HARNESS_H_
