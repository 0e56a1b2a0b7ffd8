// Cross-process: the `sematic` binary as a child process against the real scheduler daemon
// (started as `sematic scheduler`, the same code as sematic-scheduler) on 127.0.0.1, with a test
// worker connected over real gRPC. Checks what users and scripts see: output, JSON, exit codes.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/digest.h"
#include "common/ids.h"
#include "tests/testing/processes.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "sematic/sematic.h"
#include "sematic/v1/job.pb.h"
#include "sematic/v1/worker_service.grpc.pb.h"

namespace cli_daemon_test {

namespace v1 = ::sematic::v1;
using ::testing::HasSubstr;

// The steps (Double, Total, DoubleAll, Hold...) come from worker/testing/test_steps.cc.


using Result = ::sematic::testing::ProcessResult;
using ::sematic::testing::RunProcess;

// The scheduler daemon, started as `sematic scheduler` on 127.0.0.1 with a kernel-chosen port.
class Daemon : public ::sematic::testing::SchedulerProcess {
 public:
  explicit Daemon(const std::string& data_dir)
      : SchedulerProcess({SEMATIC_CLI_BINARY, "scheduler"}, data_dir, 0,
                         {"--heartbeat-timeout=120s"}) {}
};

// A worker over a real stream, on its own thread: executes assignments with the SDK's invokers,
// except Hold, which it keeps running until cancelled.
class Worker {
 public:
  explicit Worker(const std::string& address) {
    channel_ = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
    stub_ = v1::WorkerService::NewStub(channel_);
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    stream_ = stub_->Connect(&context_);
    v1::WorkerMessage hello;
    hello.mutable_hello()->set_worker_id("cli-test-worker");
    for (const sematic::FuncInfo* f : sematic::ListFuncs()) {
      *hello.mutable_hello()->add_functions() = sematic::SignatureOf(*f);
    }
    hello.mutable_hello()->mutable_resources()->set_cpus(64);
    hello.mutable_hello()->set_max_concurrent_runs(64);
    stream_->Write(hello);
    // The Welcome comes once the scheduler registered the worker and its functions.
    v1::SchedulerMessage welcome;
    welcomed_ = stream_->Read(&welcome) && welcome.has_welcome();
    thread_ = std::thread([this] { Serve(); });
  }

  ~Worker() {
    context_.TryCancel();
    thread_.join();
  }

  bool welcomed() const { return welcomed_; }

  // Blocks until an assignment of `function` arrived, or the deadline passes.
  bool AwaitAssignment(const std::string& function, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto arrived = [&] { return assigned_.count(function) > 0; };
    return mu_.AwaitWithTimeout(absl::Condition(&arrived), timeout);
  }

 private:
  void Serve() {
    v1::SchedulerMessage in;
    while (stream_->Read(&in)) {
      if (!in.has_assignments()) continue;
      for (const v1::Assignment& a : in.assignments().assignments()) {
        {
          absl::MutexLock lock(&mu_);
          assigned_.insert(a.function());
        }
        if (a.function() == "Hold") continue;
        Run(a);
      }
    }
  }

  void Run(const v1::Assignment& a) {
    const sematic::FuncInfo* info = *sematic::FindFunc(a.function());
    std::vector<const v1::Value*> args;
    for (const auto& input : a.inputs()) args.push_back(&input.value());
    sematic::StepResult r = info->invoke(args);
    v1::WorkerMessage m;
    v1::RunResult* result = m.mutable_results()->add_results();
    result->set_run_id(a.run_id());
    result->set_attempt(a.attempt());
    if (r.graph != nullptr) {
      *result->mutable_graph() = *r.graph;
    } else {
      *result->mutable_value() = *r.value;
    }
    stream_->Write(m);
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::WorkerMessage, v1::SchedulerMessage>> stream_;
  bool welcomed_ = false;
  absl::Mutex mu_;
  std::set<std::string> assigned_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

class CliDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / ("cli-" + sematic::RandomHex64());
    daemon_ = std::make_unique<Daemon>(dir_.string());
    ASSERT_FALSE(daemon_->address().empty()) << "the daemon did not start";
    worker_ = std::make_unique<Worker>(daemon_->address());
    ASSERT_TRUE(worker_->welcomed());
  }

  void TearDown() override {
    worker_.reset();
    daemon_.reset();
    std::filesystem::remove_all(dir_);
  }

  // `sematic ARGS... --scheduler ADDRESS`.
  Result Sematic(std::vector<std::string> args, absl::Duration timeout = absl::Seconds(60)) {
    args.insert(args.begin(), SEMATIC_CLI_BINARY);
    args.push_back("--scheduler=" + daemon_->address());
    return RunProcess(args, timeout);
  }

  // Submits and returns the job id printed on stdout.
  std::string Submit(const std::string& function, const std::string& args_json) {
    Result r = Sematic({"submit", function, "--args", args_json, "--tag", "suite=cli"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    return std::string(absl::StripTrailingAsciiWhitespace(r.out));
  }

  std::filesystem::path dir_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<Worker> worker_;
};

TEST_F(CliDaemonTest, FunctionsListsTheWorkersSteps) {
  Result r = Sematic({"functions"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Double(x: int32) -> int32"));
  EXPECT_THAT(r.out, HasSubstr("DoubleAll(n: int32) -> int32"));
  EXPECT_THAT(r.out, HasSubstr("nested"));
  EXPECT_THAT(r.out, HasSubstr("Total(xs: vector<int32>) -> int32"));

  r = Sematic({"workers"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("cli-test-worker"));
}

TEST_F(CliDaemonTest, SubmitWatchStatusAndJobs) {
  const std::string job_id = Submit("DoubleAll", R"({"n": 4})");
  ASSERT_THAT(job_id, ::testing::MatchesRegex("j[0-9a-f]+"));

  Result watch = Sematic({"watch", job_id});
  EXPECT_EQ(watch.exit_code, 0) << watch.out << watch.err;
  std::vector<std::string> lines = absl::StrSplit(watch.out, '\n', absl::SkipEmpty());
  ASSERT_FALSE(lines.empty());
  EXPECT_THAT(lines.back(), ::testing::StartsWith(job_id + " SUCCEEDED"));

  Result status = Sematic({"status", job_id});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_THAT(status.out, HasSubstr("state     SUCCEEDED"));
  EXPECT_THAT(status.out, HasSubstr("tags      suite=cli"));
  EXPECT_THAT(status.out, ::testing::ContainsRegex("\nDoubleAll +r[0-9a-f-]+ +SUCCEEDED"));
  EXPECT_THAT(status.out, ::testing::ContainsRegex(
                              "├─ Double \\(call #1 in DoubleAll\\) +r[0-9a-f-]+ +SUCCEEDED"));
  EXPECT_THAT(status.out, ::testing::ContainsRegex(
                              "└─ Total \\(call #6 in DoubleAll\\) +r[0-9a-f-]+ +SUCCEEDED"));

  Result jobs = Sematic({"jobs", "--json", "--tag", "suite=cli"});
  EXPECT_EQ(jobs.exit_code, 0) << jobs.err;
  v1::ListJobsResponse listed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(jobs.out, &listed).ok()) << jobs.out;
  ASSERT_EQ(listed.jobs_size(), 1);
  EXPECT_EQ(listed.jobs(0).id(), job_id);
  EXPECT_EQ(listed.jobs(0).state(), v1::JOB_SUCCEEDED);

  Result table = Sematic({"jobs", "--state", "succeeded"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, ::testing::ContainsRegex(job_id + " +DoubleAll +SUCCEEDED"));
}

TEST_F(CliDaemonTest, SubmitWaitReturnsTheOutcome) {
  Result r = Sematic({"submit", "Double", "--args", R"({"x": 21})", "--wait"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr(" SUCCEEDED"));
}

TEST_F(CliDaemonTest, MistypedArgsAreAUsageErrorOnOneLine) {
  Result r = Sematic({"submit", "Double", "--args", R"({"x": "many"})"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "sematic submit: --args: field 'x': expected int32, got string \"many\"\n");
  EXPECT_EQ(r.out, "");
  r = Sematic({"submit", "Nope"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(r.err, "sematic: no live worker offers function Nope (sematic functions lists them)\n");
}

TEST_F(CliDaemonTest, CancelMakesTheJobCancelledAndWatchFail) {
  // This test's worker never runs Hold: its run stays RUNNING until cancelled.
  const std::string job_id = Submit("Hold", R"({"marker": "unused", "millis": 1})");
  ASSERT_TRUE(worker_->AwaitAssignment("Hold", absl::Seconds(30)));

  Result cancel = Sematic({"cancel", job_id});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_EQ(cancel.out, "cancelled " + job_id + " (CANCELED)\n");

  Result status = Sematic({"status", job_id, "--json"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(status.out, &parsed).ok()) << status.out;
  const auto& job = parsed.fields().at("job").struct_value().fields();
  EXPECT_EQ(job.at("state").string_value(), "JOB_CANCELED");
  const auto& runs = parsed.fields().at("runs").list_value();
  ASSERT_EQ(runs.values_size(), 1);
  EXPECT_EQ(runs.values(0).struct_value().fields().at("state").string_value(), "CANCELED");

  Result watch = Sematic({"watch", job_id});
  EXPECT_EQ(watch.exit_code, 1) << watch.out << watch.err;
  EXPECT_THAT(watch.out, HasSubstr(job_id + " CANCELED"));

  Result again = Sematic({"cancel", job_id});
  EXPECT_EQ(again.exit_code, 5) << again.err;
}

TEST_F(CliDaemonTest, UnknownJobIsNotFound) {
  Result r = Sematic({"status", "j0123456789ab"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(r.err, "sematic: no job j0123456789ab\n");
  r = Sematic({"watch", "j0123456789ab"});
  EXPECT_EQ(r.exit_code, 4);
}

TEST_F(CliDaemonTest, GetLineageAndLogsOfARealJob) {
  Result r = Sematic({"submit", "Double", "--args", R"({"x": 21})", "--tag", "suite=get", "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  Result jobs = Sematic({"jobs", "--json", "--tag", "suite=get"});
  ASSERT_EQ(jobs.exit_code, 0) << jobs.err;
  v1::ListJobsResponse listed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(jobs.out, &listed).ok()) << jobs.out;
  ASSERT_EQ(listed.jobs_size(), 1);
  const std::string digest = listed.jobs(0).output_digest();
  ASSERT_EQ(digest.size(), 64u);

  Result view = Sematic({"get", digest, "--json"});
  EXPECT_EQ(view.exit_code, 0) << view.err;
  EXPECT_THAT(view.out, HasSubstr("42"));

  const std::string file = (dir_ / "out.bin").string();
  Result download = Sematic({"get", digest, "-o", file});
  EXPECT_EQ(download.exit_code, 0) << download.err;
  std::ifstream in(file, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(sematic::Sha256Hex(bytes), digest);  // content-addressed: the bytes are the id

  Result lineage = Sematic({"lineage", digest});
  EXPECT_EQ(lineage.exit_code, 0) << lineage.err;
  EXPECT_THAT(lineage.out, HasSubstr("Double"));

  Result logs = Sematic({"logs", "r0123456789ab-0123456789"});
  EXPECT_EQ(logs.exit_code, 4) << logs.err;
  EXPECT_EQ(std::count(logs.err.begin(), logs.err.end(), '\n'), 1) << logs.err;
}

// Outside the fixture: no daemon at all. A port bound on loopback but not listening refuses.
TEST(CliUnreachableTest, ExitCodeThreeAndOneLine) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  for (const std::vector<std::string>& command :
       std::vector<std::vector<std::string>>{{"jobs"}, {"watch", "j0123456789ab"}, {"functions"}}) {
    std::vector<std::string> argv = {SEMATIC_CLI_BINARY};
    argv.insert(argv.end(), command.begin(), command.end());
    argv.push_back("--scheduler");
    argv.push_back(address);
    Result r = RunProcess(argv, absl::Seconds(30));
    EXPECT_EQ(r.exit_code, 3) << command[0] << ": " << r.err;
    EXPECT_EQ(r.err, "sematic: cannot reach scheduler at " + address + " (connection refused)\n");
    EXPECT_EQ(r.out, "");
  }
  // The environment variable names the scheduler when no flag does.
  setenv("SEMATIC_SCHEDULER", address.c_str(), 1);
  Result r = RunProcess({SEMATIC_CLI_BINARY, "workers"}, absl::Seconds(30));
  unsetenv("SEMATIC_SCHEDULER");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr(address));
  close(fd);
}

TEST(CliUsageTest, HelpAndUsageErrors) {
  Result help = RunProcess({SEMATIC_CLI_BINARY, "help"}, absl::Seconds(30));
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("exit codes:"));
  Result bad = RunProcess({SEMATIC_CLI_BINARY, "status"}, absl::Seconds(30));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err, "sematic status: usage: sematic status JOB\n");
}

}  // namespace cli_daemon_test
