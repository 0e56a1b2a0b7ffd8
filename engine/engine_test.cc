// The engine's flags, the root call as a submission, and the embedded engine end to end in this
// process: the same graph resolved by the silent runner and the embedded engine gives the same
// value, the job stays in the data directory, and a second engine on it is refused while the
// first holds it.
#include "sematic/engine.h"

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

std::vector<char*> Argv(std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

TEST(EngineFlagsTest, RemovesItsFlagsAndKeepsTheRestInOrder) {
  std::vector<std::string> args = {"prog", "--full", "--runner=silent", "--data-dir=/tmp/x",
                                   "--parallelism=3", "--mnist-dir=/d", "--quiet"};
  std::vector<char*> argv = Argv(args);
  int argc = static_cast<int>(args.size());
  absl::StatusOr<EngineOptions> options = ParseEngineFlags(argc, argv.data());
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->kind, RunnerKind::kSilent);
  EXPECT_EQ(options->data_dir, "/tmp/x");
  EXPECT_EQ(options->parallelism, 3);
  EXPECT_FALSE(options->progress);
  ASSERT_EQ(argc, 3);
  EXPECT_STREQ(argv[1], "--full");
  EXPECT_STREQ(argv[2], "--mnist-dir=/d");
  EXPECT_EQ(argv[3], nullptr);
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
