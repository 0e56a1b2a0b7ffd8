// The same pipeline binaries on the three runners give the same results: the dynamic_graph
// example and a small Fashion-MNIST sweep, run in-process (--runner=silent), on the embedded
// engine, and on a cluster of the real sematic-scheduler with the example binaries as worker
// processes, all on 127.0.0.1. Then the sematic CLI reads the embedded engine's data directory
// after the pipeline has exited. Every child is bounded by a deadline, killed and reaped.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "tests/testing/processes.h"

namespace runners_test {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr absl::Duration kRunDeadline = absl::Seconds(120);

// A child process with its stdout (and with `with_stderr` its stderr too) on a pipe; killed
// (SIGKILL) and reaped on destruction unless it has exited.
class Child {
 public:
  explicit Child(std::vector<std::string> argv, bool with_stderr = false) {
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      if (with_stderr) dup2(out[1], STDERR_FILENO);
      close(out[0]);
      close(out[1]);
      std::vector<char*> args;
      for (std::string& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(out[1]);
    out_ = out[0];
  }
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) close(out_);
  }

  // Reads stdout until a newline (true, the line in `line`) or EOF / the deadline (false).
  bool ReadLine(absl::Time deadline, std::string* line) {
    while (absl::Now() < deadline) {
      if (size_t nl = buffer_.find('\n'); nl != std::string::npos) {
        *line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return true;
      }
      if (!ReadSome(deadline)) return false;
    }
    return false;
  }

  // Reads stdout to EOF and reaps the child: its exit code, or -1 when it died by a signal or
  // outlived `deadline` (it is then killed).
  int Wait(absl::Time deadline, std::string* output) {
    while (absl::Now() < deadline && ReadSome(deadline)) {
    }
    *output = buffer_;
    int status = 0;
    if (absl::Now() >= deadline) kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  // False at EOF.
  bool ReadSome(absl::Time deadline) {
    pollfd p{out_, POLLIN, 0};
    const int wait_ms =
        static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now())));
    if (poll(&p, 1, std::min(wait_ms, 1000)) <= 0) return absl::Now() < deadline;
    char buf[4096];
    const ssize_t n = read(out_, buf, sizeof(buf));
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  std::string buffer_;
};

// Runs `argv` to completion; its stdout. Fails the test on a non-zero exit.
std::string RunToEnd(std::vector<std::string> argv) {
  Child child(argv);
  std::string output;
  const int code = child.Wait(absl::Now() + kRunDeadline, &output);
  EXPECT_EQ(code, 0) << argv[0] << " " << (argv.size() > 1 ? argv[1] : "") << ":\n" << output;
  return output;
}

// The real scheduler on 127.0.0.1 (port 0) and `workers` copies of `binary` in worker mode.
class Cluster {
 public:
  Cluster(const fs::path& dir, const std::string& binary, int workers) {
    scheduler_ = std::make_unique<Child>(std::vector<std::string>{
        SEMATIC_SCHEDULER_BINARY, "--data-dir=" + (dir / "scheduler").string(), "--port=0",
        "--host=127.0.0.1"});
    std::string line;
    if (!scheduler_->ReadLine(absl::Now() + absl::Seconds(30), &line)) return;
    int port = 0;
    if (!absl::SimpleAtoi(line.substr(line.rfind(':') + 1), &port)) return;
    address_ = "127.0.0.1:" + std::to_string(port);
    for (int i = 0; i < workers; ++i) {
      workers_.push_back(std::make_unique<Child>(std::vector<std::string>{
          binary, "worker", "--scheduler=" + address_, "--cpus=2", "--memory=2GiB",
          "--max-runs=2", "--worker-id=w" + std::to_string(i), "--drain-timeout=10s"}));
    }
  }
  const std::string& address() const { return address_; }

 private:
  std::unique_ptr<Child> scheduler_;
  std::vector<std::unique_ptr<Child>> workers_;
  std::string address_;
};

class RunnersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("runners-" + sematic::RandomHex64());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

TEST_F(RunnersTest, DynamicGraphGivesTheSameResultOnEveryRunner) {
  const std::string silent = FirstLine(RunToEnd({DYNAMIC_GRAPH_BINARY, "10", "--runner=silent"}));
  EXPECT_EQ(silent, "shards: 6, adjusted mean: -3.75, fib(10) = 55");

  const std::string data_dir = (dir_ / "embedded").string();
  const std::string embedded =
      FirstLine(RunToEnd({DYNAMIC_GRAPH_BINARY, "10", "--data-dir=" + data_dir, "--quiet"}));
  EXPECT_EQ(embedded, silent);

  Cluster cluster(dir_, DYNAMIC_GRAPH_BINARY, 2);
  ASSERT_FALSE(cluster.address().empty()) << "the scheduler did not start";
  const std::string clustered =
      FirstLine(RunToEnd({DYNAMIC_GRAPH_BINARY, "10", "--scheduler=" + cluster.address(), "--quiet"}));
  EXPECT_EQ(clustered, silent);

  // The CLI reads the embedded engine's data after the pipeline exited: both jobs, and the
  // run tree of one.
  const std::string jobs = RunToEnd({SEMATIC_CLI_BINARY, "jobs", "--data-dir", data_dir});
  EXPECT_THAT(jobs, HasSubstr("AdjustedMean"));
  EXPECT_THAT(jobs, HasSubstr("Fib"));
  EXPECT_THAT(jobs, HasSubstr("SUCCEEDED"));
  std::string job_id;
  for (absl::string_view line : absl::StrSplit(jobs, '\n')) {
    if (absl::StrContains(line, "AdjustedMean")) job_id = std::string(line.substr(0, line.find(' ')));
  }
  ASSERT_FALSE(job_id.empty()) << jobs;
  const std::string status = RunToEnd({SEMATIC_CLI_BINARY, "status", job_id, "--data-dir", data_dir});
  EXPECT_THAT(status, HasSubstr("CountShards"));
  EXPECT_THAT(status, HasSubstr("ProcessShard"));
  EXPECT_THAT(status, HasSubstr("Negate"));
}

// A worker started before its scheduler (or pointed at the wrong port) says what it waits for,
// why and when it tries again, instead of "serving" and raw gRPC errors.
TEST_F(RunnersTest, AWorkerWithoutItsSchedulerSaysWhatItWaitsFor) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);  // nothing listens there now
  const std::string address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  Child worker({DYNAMIC_GRAPH_BINARY, "worker", "--scheduler=" + address}, /*with_stderr=*/true);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  std::vector<std::string> lines;
  std::string line;
  while (worker.ReadLine(deadline, &line)) {
    lines.push_back(line);
    if (absl::StrContains(line, "retrying in")) break;
  }
  ASSERT_FALSE(lines.empty());
  EXPECT_THAT(lines.front(), HasSubstr(": connecting to scheduler at " + address));
  EXPECT_THAT(lines.back(), ::testing::ContainsRegex(
                                "waiting for scheduler at 127\\.0\\.0\\.1:[0-9]+ \\(connection "
                                "refused\\); retrying in [0-9.]+m?s$"));
  for (const std::string& l : lines) EXPECT_THAT(l, ::testing::Not(HasSubstr("serving")));
}

// The sweep's results without timings: the table rows minus their train_s column, and the
// best line.
std::vector<std::string> SweepResults(const std::string& output) {
  std::vector<std::string> rows;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (absl::StartsWith(line, "softmax") || absl::StartsWith(line, "mlp ")) {
      rows.emplace_back(line.substr(0, line.find_last_not_of(" 0123456789.") + 1));
    } else if (absl::StartsWith(line, "best:")) {
      rows.emplace_back(line);
    }
  }
  return rows;
}

TEST_F(RunnersTest, SmallSweepGivesTheSameResultsOnEveryRunner) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) {
    GTEST_SKIP() << "the Fashion-MNIST dataset is not installed (make deps)";
  }
  const std::vector<std::string> silent =
      SweepResults(RunToEnd({FASHION_MNIST_SWEEP_BINARY, "--smoke", "--runner=silent"}));
  ASSERT_EQ(silent.size(), 3u);  // two models and the best

  const std::string data_dir = (dir_ / "embedded").string();
  const std::string embedded_output =
      RunToEnd({FASHION_MNIST_SWEEP_BINARY, "--smoke", "--data-dir=" + data_dir, "--quiet"});
  EXPECT_EQ(SweepResults(embedded_output), silent);
  EXPECT_THAT(embedded_output, HasSubstr("sematic jobs --data-dir " + data_dir));

  Cluster cluster(dir_, FASHION_MNIST_SWEEP_BINARY, 1);
  ASSERT_FALSE(cluster.address().empty()) << "the scheduler did not start";
  EXPECT_EQ(SweepResults(RunToEnd({FASHION_MNIST_SWEEP_BINARY, "--smoke",
                              "--scheduler=" + cluster.address(), "--quiet"})),
            silent);

  const std::string jobs = RunToEnd({SEMATIC_CLI_BINARY, "jobs", "--data-dir", data_dir});
  EXPECT_THAT(jobs, HasSubstr("Sweep"));

  // The dashboard over the finished run's data: the command the demo ends with serves the job,
  // read-only.
  EXPECT_THAT(embedded_output, HasSubstr("sematic ui --data-dir " + data_dir));
  std::string line;  // "Dashboard of DIR (read-only): http://127.0.0.1:PORT/"
  sematic::testing::ChildProcess ui(
      {SEMATIC_CLI_BINARY, "ui", "--data-dir", data_dir, "--port", "0"}, &line);
  const size_t colon = line.rfind(':');
  int port = 0;
  ASSERT_TRUE(colon != std::string::npos &&
              absl::SimpleAtoi(absl::StripSuffix(line.substr(colon + 1), "/"), &port))
      << line;
  httplib::Client http("127.0.0.1", port);
  httplib::Result listed = http.Get("/api/v1/jobs?function=Sweep");
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->status, 200);
  EXPECT_THAT(listed->body, HasSubstr(R"("state":"JOB_SUCCEEDED")"));
  httplib::Result cancel = http.Post("/api/v1/jobs/j000000000001/cancel", "", "application/json");
  ASSERT_TRUE(cancel);
  EXPECT_EQ(cancel->status, 400);
  EXPECT_THAT(cancel->body, HasSubstr("read-only"));
  EXPECT_EQ(ui.Stop(SIGTERM, absl::Seconds(30)), 0);
}

}  // namespace
}  // namespace runners_test
