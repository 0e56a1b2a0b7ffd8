// The engine's flags, the root call as a submission, and the embedded engine end to end in this
// process: the same graph resolved by the silent runner and the embedded engine gives the same
// value, the job stays in the data directory, and a second engine on it is refused while the
// first holds it. Under --isolate=process the engine re-executes this binary to run a step;
// main dispatches that first, as pipeline binaries do.
#include "sematic/engine.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/ids.h"
#include "engine/root_call.h"
#include "grpcpp/server.h"
#include "scheduler/core/scheduler.h"
#include "scheduler/service/grpc_services.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sematic/sematic.h"
#include "worker/worker_main.h"
#include "worker/in_process.h"
#include "worker/worker.h"

namespace sematic {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

int Square(int x) { return x * x; }
SEMATIC_FUNC(Square, "x");

int Sum(const std::vector<int>& xs) {
  int total = 0;
  for (int x : xs) total += x;
  return total;
}
SEMATIC_FUNC(Sum, "xs");

// Nested: the fan-out is decided while the job runs.
Future<int> SumOfSquares(int n) {
  std::vector<Future<int>> squares;
  for (int i = 1; i <= n; ++i) squares.push_back(Call(Square, i));
  return Call(Sum, squares);
}
SEMATIC_FUNC(SumOfSquares, "n");

// A float32 tensor of `mib` MiB: above the payload threshold, so it travels apart.
Tensor Ramp(int mib) {
  Tensor t(DType::kFloat32, {(int64_t{mib} << 20) / 4});
  float* data = t.data<float>();
  for (int64_t i = 0; i < t.num_elements(); ++i) data[i] = static_cast<float>(i % 4099);
  return t;
}
SEMATIC_FUNC(Ramp, "mib");

double SumTensor(const Tensor& t) {
  double total = 0;
  for (int64_t i = 0; i < t.num_elements(); ++i) total += t.data<float>()[i];
  return total;
}
SEMATIC_FUNC(SumTensor, "t");

// Nested, with a large literal argument in its graph.
Future<double> SumOfRamp(int mib) { return Call(SumTensor, Ramp(mib)); }
SEMATIC_FUNC(SumOfRamp, "mib");

absl::StatusOr<int> Fails(int x) { return absl::InvalidArgumentError(absl::StrCat("bad x ", x)); }
SEMATIC_FUNC(Fails, "x");

// No SEMATIC_FUNC: a nested step calling it must fail its job, not abort the process.
int NotAStep(int x) { return x; }

Future<int> CallsNotAStep(int x) { return Call(Square, Call(NotAStep, x)); }
SEMATIC_FUNC(CallsNotAStep, "x");

// Takes down whatever process runs it.
int Crashes(int x) {
  if (x >= 0) std::abort();
  return x;
}
SEMATIC_FUNC(Crashes, "x");

int ProcessId(int) { return static_cast<int>(getpid()); }
SEMATIC_FUNC(ProcessId, "x");

std::vector<char*> Argv(std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

TEST(EngineFlagsTest, RemovesItsFlagsAndKeepsTheRestInOrder) {
  std::vector<std::string> args = {
      "prog", "--full",         "--runner=silent", "12", "--data-dir=/tmp/x", "--parallelism=3",
      "-4",   "--mnist-dir=/d", "--quiet",         "--", "--anything=goes"};
  std::vector<char*> argv = Argv(args);
  int argc = static_cast<int>(args.size());
  absl::StatusOr<EngineOptions> options =
      ParseEngineFlags(argc, argv.data(), {"--full", "--mnist-dir"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->kind, RunnerKind::kSilent);
  EXPECT_EQ(options->data_dir, "/tmp/x");
  EXPECT_EQ(options->parallelism, 3);
  EXPECT_FALSE(options->progress);
  EXPECT_FALSE(options->isolate_steps);
  ASSERT_EQ(argc, 6);
  EXPECT_STREQ(argv[1], "--full");
  EXPECT_STREQ(argv[2], "12");
  EXPECT_STREQ(argv[3], "-4");
  EXPECT_STREQ(argv[4], "--mnist-dir=/d");
  EXPECT_STREQ(argv[5], "--anything=goes");
  EXPECT_EQ(argv[6], nullptr);
}

TEST(EngineFlagsTest, UnknownFlagsAreRefusedWithTheKnownOnes) {
  std::vector<std::string> args = {"prog", "7", "--bogus-flag=3"};
  std::vector<char*> argv = Argv(args);
  int argc = 3;
  absl::StatusOr<EngineOptions> options = ParseEngineFlags(argc, argv.data(), {"--full"});
  EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(options.status().message(), HasSubstr("unknown flag --bogus-flag=3; known flags: "
                                                    "--runner=silent|embedded|cluster, "));
  EXPECT_THAT(options.status().message(), HasSubstr("--isolate=thread|process, --quiet"));
  EXPECT_THAT(options.status().message(), HasSubstr("this program's: --full"));
  EXPECT_EQ(options.status().message().find('\n'), std::string::npos);

  // A single dash, a known flag without its value, a switch with one.
  for (const auto& [arg, expected] : std::vector<std::pair<std::string, std::string>>{
           {"-v", "unknown flag -v;"},
           {"--runner", "--runner: expected a value, as in --runner=silent|embedded|cluster"},
           {"--quiet=yes", "--quiet: takes no value"},
           {"--isolate=fork", "--isolate: expected thread or process, got \"fork\""}}) {
    std::vector<std::string> one = {"prog", arg};
    std::vector<char*> one_argv = Argv(one);
    argc = 2;
    EXPECT_THAT(ParseEngineFlags(argc, one_argv.data()).status().message(), HasSubstr(expected))
        << arg;
  }
}

TEST(EngineFlagsTest, IsolationIsTheEmbeddedEnginesAndRefusedElsewhere) {
  std::vector<std::string> args = {"prog", "--isolate=process"};
  std::vector<char*> argv = Argv(args);
  int argc = 2;
  absl::StatusOr<EngineOptions> options = ParseEngineFlags(argc, argv.data());
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(argc, 1);
  if (std::getenv("SEMATIC_RUNNER") == nullptr) {
    EXPECT_EQ(options->kind, RunnerKind::kEmbedded);
    EXPECT_TRUE(options->isolate_steps);
    EXPECT_THAT(DescribeRunner(*options), HasSubstr("each step in a child process"));
  }

  std::vector<std::string> silent = {"prog", "--runner=silent", "--isolate=process"};
  std::vector<char*> silent_argv = Argv(silent);
  argc = 3;
  EXPECT_THAT(ParseEngineFlags(argc, silent_argv.data()).status().message(),
              HasSubstr("--isolate=process: the silent runner runs steps on its own threads"));

  std::vector<std::string> cluster = {"prog", "--scheduler=127.0.0.1:1", "--isolate=process"};
  std::vector<char*> cluster_argv = Argv(cluster);
  argc = 3;
  EXPECT_THAT(ParseEngineFlags(argc, cluster_argv.data()).status().message(),
              HasSubstr("start them with `worker --scheduler=HOST:PORT --isolate=process`"));

  EngineOptions silent_options;
  silent_options.kind = RunnerKind::kSilent;
  silent_options.isolate_steps = true;
  EXPECT_EQ(MakeRunner(silent_options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(EngineFlagsTest, SchedulerAloneMeansClusterAndClusterNeedsOne) {
  std::vector<std::string> args = {"prog", "--scheduler=127.0.0.1:1"};
  std::vector<char*> argv = Argv(args);
  int argc = 2;
  absl::StatusOr<EngineOptions> options = ParseEngineFlags(argc, argv.data());
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->kind, RunnerKind::kCluster);
  EXPECT_EQ(options->scheduler, "127.0.0.1:1");

  if (std::getenv("SEMATIC_SCHEDULER") == nullptr) {
    std::vector<std::string> bare = {"prog", "--runner=cluster"};
    std::vector<char*> bare_argv = Argv(bare);
    argc = 2;
    EXPECT_THAT(ParseEngineFlags(argc, bare_argv.data()).status().message(),
                HasSubstr("--scheduler=HOST:PORT"));
  }
  std::vector<std::string> bad = {"prog", "--runner=cloud"};
  std::vector<char*> bad_argv = Argv(bad);
  argc = 2;
  EXPECT_THAT(ParseEngineFlags(argc, bad_argv.data()).status().message(),
              HasSubstr("expected silent, embedded or cluster"));
}

TEST(RootCallTest, LiteralArgumentsBecomeTheSubmission) {
  absl::StatusOr<engine::RootSubmission> root =
      engine::SubmitRequestFor(*Call(SumOfSquares, 4).node());
  ASSERT_TRUE(root.ok()) << root.status();
  const v1::SubmitJobRequest& request = root->request;
  EXPECT_EQ(request.function(), "SumOfSquares");
  ASSERT_EQ(request.args_size(), 1);
  EXPECT_EQ(request.args(0).name(), "n");
  EXPECT_EQ(Decode<int>(request.args(0).value()).value(), 4);
  EXPECT_TRUE(root->payloads.empty());
}

// The scheduler takes values in canonical form only: a root argument of 1 MiB and more is
// submitted as a ref, its bytes to be uploaded first.
TEST(RootCallTest, ALargeLiteralIsSubmittedAsARefWithItsPayload) {
  const Tensor ramp = Ramp(2);
  absl::StatusOr<engine::RootSubmission> root = engine::SubmitRequestFor(*Call(SumTensor, ramp).node());
  ASSERT_TRUE(root.ok()) << root.status();
  ASSERT_EQ(root->payloads.size(), 1u);
  const v1::Value& value = root->request.args(0).value();
  EXPECT_TRUE(CheckPayloadsExternal(value).ok());
  EXPECT_EQ(value.tensor_value().data_ref().digest(), root->payloads[0].digest);
  EXPECT_EQ(root->payloads[0].bytes.size(), size_t{2} << 20);
  EXPECT_EQ(ArtifactId(TypeOf<Tensor>(), value), ArtifactId(TypeOf<Tensor>(), Encode(ramp)));
}

TEST(RootCallTest, AFutureArgumentIsRefusedWithTheWayOut) {
  absl::StatusOr<engine::RootSubmission> request =
      engine::SubmitRequestFor(*Call(Square, Call(Square, 2)).node());
  EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(request.status().message(), HasSubstr("argument \"x\" of Square is the result of"));
  EXPECT_THAT(request.status().message(), HasSubstr("nested step"));
}

class EmbeddedEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("engine-" + RandomHex64());
    options_.kind = RunnerKind::kEmbedded;
    options_.data_dir = dir_.string();
    options_.progress = false;
    options_.parallelism = 2;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  EngineOptions options_;
};

TEST_F(EmbeddedEngineTest, SameValueAsTheSilentRunnerAndTheJobStaysOnDisk) {
  SilentRunner silent;
  absl::StatusOr<int> expected = silent.Resolve(Call(SumOfSquares, 6));
  ASSERT_TRUE(expected.ok()) << expected.status();

  absl::StatusOr<std::unique_ptr<Runner>> runner = MakeRunner(options_);
  ASSERT_TRUE(runner.ok()) << runner.status();
  absl::StatusOr<int> got = (*runner)->Resolve(Call(SumOfSquares, 6));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, *expected);
  EXPECT_EQ(*got, 91);
  const std::string job = (*runner)->last_job_id();
  EXPECT_FALSE(job.empty());
  EXPECT_GE((*runner)->last_job_run_count(), 8u);  // root, 6 squares, the sum

  // While this engine holds the directory, a second one is refused in one line.
  absl::StatusOr<std::unique_ptr<Runner>> second = MakeRunner(options_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("in use by another process"));

  // Closed and reopened: the job is still there, and the engine takes new jobs.
  runner->reset();
  runner = MakeRunner(options_);
  ASSERT_TRUE(runner.ok()) << runner.status();
  absl::StatusOr<int> again = (*runner)->Resolve(Call(Square, 12));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, 144);
  EXPECT_NE((*runner)->last_job_id(), job);
}

TEST_F(EmbeddedEngineTest, LargeTensorsComeBackWhole) {
  SilentRunner silent;
  absl::StatusOr<std::unique_ptr<Runner>> runner = MakeRunner(options_);
  ASSERT_TRUE(runner.ok()) << runner.status();
  // An output whose data is a payload, and a nested graph whose literal argument has one.
  absl::StatusOr<Tensor> tensor = (*runner)->Resolve(Call(Ramp, 3));
  ASSERT_TRUE(tensor.ok()) << tensor.status();
  EXPECT_TRUE(*tensor == Ramp(3));
  absl::StatusOr<double> sum = (*runner)->Resolve(Call(SumOfRamp, 2));
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(*sum, *silent.Resolve(Call(SumOfRamp, 2)));
}

TEST_F(EmbeddedEngineTest, ALargeRootArgumentIsUploadedBeforeTheSubmit) {
  absl::StatusOr<std::unique_ptr<Runner>> runner = MakeRunner(options_);
  ASSERT_TRUE(runner.ok()) << runner.status();
  SilentRunner silent;
  const Tensor ramp = Ramp(2);
  absl::StatusOr<double> sum = (*runner)->Resolve(Call(SumTensor, ramp));
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(*sum, *silent.Resolve(Call(SumTensor, ramp)));
  // Again: the payload is stored already, and the job is another one.
  const std::string first = (*runner)->last_job_id();
  sum = (*runner)->Resolve(Call(SumTensor, ramp));
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_NE((*runner)->last_job_id(), first);
}

TEST_F(EmbeddedEngineTest, AFailingStepFailsTheResolveWithItsError) {
  absl::StatusOr<std::unique_ptr<Runner>> runner = MakeRunner(options_);
  ASSERT_TRUE(runner.ok()) << runner.status();
  absl::StatusOr<int> got = (*runner)->Resolve(Call(Fails, 7));
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(), HasSubstr("step Fails"));
  EXPECT_THAT(got.status().message(), HasSubstr("bad x 7"));
}

TEST_F(EmbeddedEngineTest, CallingAFunctionWithoutSematicFuncFailsTheJobNamingIt) {
  absl::StatusOr<std::unique_ptr<Runner>> runner = MakeRunner(options_);
  ASSERT_TRUE(runner.ok()) << runner.status();
  // At the root: refused before any job is submitted.
  absl::StatusOr<int> root = (*runner)->Resolve(Call(NotAStep, 1));
  EXPECT_EQ(root.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(root.status().message(),
              HasSubstr("sematic::(anonymous namespace)::NotAStep is not a registered step"));
  EXPECT_TRUE((*runner)->last_job_id().empty());

  // In a nested step: the job ends (Resolve returns only then) with the step's error.
  absl::StatusOr<int> nested = (*runner)->Resolve(Call(CallsNotAStep, 1));
  ASSERT_FALSE(nested.ok());
  EXPECT_THAT(nested.status().message(),
              HasSubstr("step CallsNotAStep called sematic::(anonymous namespace)::NotAStep, "
                        "which is not a registered step; add SEMATIC_FUNC(NotAStep, ...)"));
  EXPECT_FALSE((*runner)->last_job_id().empty());
  // The engine goes on: the next job runs.
  absl::StatusOr<int> after = (*runner)->Resolve(Call(Square, 5));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, 25);
}

TEST_F(EmbeddedEngineTest, IsolatedStepsRunInChildProcessesAndACrashFailsOnlyItsJob) {
  options_.isolate_steps = true;
  absl::StatusOr<std::unique_ptr<Runner>> runner = MakeRunner(options_);
  ASSERT_TRUE(runner.ok()) << runner.status();
  absl::StatusOr<int> pid = (*runner)->Resolve(Call(ProcessId, 0));
  ASSERT_TRUE(pid.ok()) << pid.status();
  EXPECT_NE(*pid, static_cast<int>(getpid()));

  absl::StatusOr<int> crashed = (*runner)->Resolve(Call(Crashes, 1));
  ASSERT_FALSE(crashed.ok());
  EXPECT_THAT(crashed.status().message(), HasSubstr("crashed"));
  EXPECT_THAT(crashed.status().message(), HasSubstr("SIGABRT"));
  // This process lives on, and so does the engine.
  absl::StatusOr<int> after = (*runner)->Resolve(Call(SumOfSquares, 3));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, 14);
}

// The cluster runner against a scheduler served over gRPC on loopback (with an in-process worker):
// a large root argument goes up through ArtifactService before the job is submitted.
TEST(ClusterRunnerTest, ALargeRootArgumentIsUploadedBeforeTheSubmit) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("cluster-" + RandomHex64());
  scheduler::SchedulerOptions scheduler_options;
  scheduler_options.data_dir = dir.string();
  absl::StatusOr<std::unique_ptr<scheduler::Scheduler>> scheduler =
      scheduler::Scheduler::Create(scheduler_options);
  ASSERT_TRUE(scheduler.ok()) << scheduler.status();
  std::unique_ptr<scheduler::GrpcServices> services = scheduler::MakeGrpcServices(scheduler->get());
  int port = 0;
  std::unique_ptr<grpc::Server> server = scheduler::ServeOnLoopback(*services, &port);
  ASSERT_NE(server, nullptr);
  worker::WorkerOptions worker_options;
  worker_options.max_concurrent_runs = 2;
  worker_options.resources.set_cpus(4);
  worker_options.resources.set_memory_bytes(int64_t{8} << 30);
  absl::StatusOr<std::unique_ptr<worker::Worker>> worker = worker::Worker::Create(
      worker_options, worker::MakeInProcessConnector(scheduler->get()),
      worker::MakeInProcessArtifactClient(scheduler->get()));
  ASSERT_TRUE(worker.ok()) << worker.status();
  (*worker)->Start();
  {
    EngineOptions options;
    options.kind = RunnerKind::kCluster;
    options.scheduler = absl::StrCat("127.0.0.1:", port);
    options.progress = false;
    absl::StatusOr<std::unique_ptr<Runner>> runner = MakeRunner(options);
    ASSERT_TRUE(runner.ok()) << runner.status();
    SilentRunner silent;
    const Tensor ramp = Ramp(2);
    absl::StatusOr<double> sum = (*runner)->Resolve(Call(SumTensor, ramp));
    ASSERT_TRUE(sum.ok()) << sum.status();
    EXPECT_EQ(*sum, *silent.Resolve(Call(SumTensor, ramp)));
  }
  (*worker)->Drain();
  EXPECT_TRUE((*worker)->WaitUntilDrained(absl::Seconds(30)).ok());
  worker->reset();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  (*scheduler)->Shutdown();
  services.reset();
  scheduler->reset();
  fs::remove_all(dir);
}

TEST(ClusterRunnerTest, AnUnreachableSchedulerIsOneClearError) {
  EngineOptions options;
  options.kind = RunnerKind::kCluster;
  options.scheduler = "127.0.0.1:1";
  options.progress = false;
  absl::StatusOr<std::unique_ptr<Runner>> runner = MakeRunner(options);
  ASSERT_TRUE(runner.ok()) << runner.status();
  absl::StatusOr<int> got = (*runner)->Resolve(Call(Square, 3));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(got.status().message(), HasSubstr("cannot reach scheduler at 127.0.0.1:1"));
}

}  // namespace
}  // namespace sematic

int main(int argc, char** argv) {
  if (sematic::worker::IsWorkerCommand(argc, argv)) return sematic::worker::Main(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
