// RunStepProcess against real child processes: this test binary is its own step process (its
// main dispatches the hidden subcommand first, as pipeline binaries do through worker::Main).
#include "worker/step_process.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sematic/codec.h"
#include "sematic/sematic.h"

namespace step_process_test {

int IsoAdd(int a, int b) {
  sematic::Context& ctx = sematic::Context::Current();
  ctx.Log("adding ", a, " and ", b);
  ctx.LogMetric("sum", a + b, 3);
  return a + b;
}
SEMATIC_FUNC(IsoAdd, "a", "b");

int IsoSegv(int x) {
  raise(SIGSEGV);
  return x;
}
SEMATIC_FUNC(IsoSegv, "x");

absl::StatusOr<int> IsoRejects(int x) {
  return absl::InvalidArgumentError("x must be even, got " + std::to_string(x));
}
SEMATIC_FUNC(IsoRejects, "x");

// Writes to stdout and stderr by every route: iostreams, stdio, a raw write(2), and a last
// stdout line without its newline.
int IsoPrints(int x) {
  std::cout << "out " << x << std::endl;
  std::cerr << "err " << x << "\n";
  std::printf("printf line\n");
  (void)!write(STDERR_FILENO, "raw\n", 4);
  std::cout << "partial";
  return x;
}
SEMATIC_FUNC(IsoPrints, "x");

// Prints, then crashes before it can report. Nothing flushes stdout (std::cerr would: it is
// tied to std::cout), so the line is there only if the step process's stdout is line-buffered.
int IsoPrintsThenCrashes(int x) {
  std::cerr << "almost";  // no newline
  std::cout << "before the crash\n";
  std::abort();
  return x;
}
SEMATIC_FUNC(IsoPrintsThenCrashes, "x");

// Returns 1 once cancelled (SIGTERM in the child), 0 after 20 s without.
int IsoAwaitCancel(int x) {
  sematic::Context& ctx = sematic::Context::Current();
  ctx.Log("waiting");
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!ctx.Cancelled() && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return ctx.Cancelled() ? x : 0;
}
SEMATIC_FUNC(IsoAwaitCancel, "x");

int IsoIgnoresCancel(int x) {
  sematic::Context::Current().Log("ignoring");
  std::this_thread::sleep_for(std::chrono::seconds(20));
  return x;
}
SEMATIC_FUNC(IsoIgnoresCancel, "x");

// The child process's own environment: the worker narrowed it to the attempt's GPUs.
std::string IsoCudaEnv(int x) {
  (void)x;
  const char* env = std::getenv("CUDA_VISIBLE_DEVICES");
  return env == nullptr ? "<unset>" : env;
}
SEMATIC_FUNC(IsoCudaEnv, "x");

namespace v1 = ::sematic::v1;
using ::sematic::worker::RunStepProcess;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

class RecordingSink : public sematic::ContextSink {
 public:
  void OnLog(const sematic::Context& context, std::string_view line) override {
    absl::MutexLock lock(&mu_);
    lines_.push_back(context.run_id() + ": " + std::string(line));
  }
  void OnMetric(const sematic::Context&, std::string_view name, double value,
                int64_t step) override {
    absl::MutexLock lock(&mu_);
    lines_.push_back(std::string(name) + "=" + std::to_string(static_cast<int>(value)) + "@" +
                     std::to_string(step));
  }
  std::vector<std::string> lines() {
    absl::MutexLock lock(&mu_);
    return lines_;
  }
  // Waits (10 s at most) for the first line.
  bool AwaitLine() {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(
        absl::Condition(
            +[](std::vector<std::string>* l) { return !l->empty(); }, &lines_),
        absl::Seconds(10));
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

sematic::internal::StepProcessRequest Request(const std::string& function,
                                              std::vector<v1::Value> args,
                                              std::vector<int> gpu_ids = {}) {
  sematic::internal::StepProcessRequest request;
  v1::Assignment* a = request.mutable_assignment();
  a->set_run_id("r1");
  a->set_attempt(1);
  a->set_job_id("j1");
  a->set_function(function);
  for (size_t i = 0; i < args.size(); ++i) {
    v1::AssignedInput* input = a->add_inputs();
    input->set_name("arg" + std::to_string(i));
    *input->mutable_value() = std::move(args[i]);
  }
  for (int id : gpu_ids) request.add_gpu_ids(id);
  return request;
}

class StepProcessTest : public ::testing::Test {
 protected:
  absl::StatusOr<sematic::internal::StepProcessOutcome> Run(
      const sematic::internal::StepProcessRequest& request, absl::Duration grace = absl::Seconds(5),
      std::vector<int> gpu_ids = {}) {
    sematic::Context::Info info;
    info.run_id = "r1";
    info.function = request.assignment().function();
    info.gpu_ids = std::move(gpu_ids);
    info.gpus_assigned = true;
    sematic::Context context(std::move(info), &sink_, cancelled_);
    return RunStepProcess(request, {}, context, sink_, *cancelled_, grace);
  }

  RecordingSink sink_;
  std::shared_ptr<std::atomic<bool>> cancelled_ = std::make_shared<std::atomic<bool>>(false);
};

TEST_F(StepProcessTest, ReturnsTheValueAndForwardsLogsAndMetrics) {
  auto outcome = Run(Request("IsoAdd", {sematic::Encode(2), sematic::Encode(40)}));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  ASSERT_TRUE(outcome->has_value());
  EXPECT_EQ(sematic::Decode<int>(outcome->value(), "value").value(), 42);
  EXPECT_THAT(sink_.lines(), ElementsAre("r1: adding 2 and 40", "sum=42@3"));
}

TEST_F(StepProcessTest, TheStepsStdoutAndStderrAreLinesOfItsLog) {
  auto outcome = Run(Request("IsoPrints", {sematic::Encode(7)}));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(sematic::Decode<int>(outcome->value(), "value").value(), 7);
  // Two pipes: each keeps its order; between them, lines are in order of arrival.
  std::vector<std::string> out, err;
  for (const std::string& line : sink_.lines()) {
    (line.starts_with("r1: [stderr] ") ? err : out).push_back(line);
  }
  EXPECT_THAT(out, ElementsAre("r1: out 7", "r1: printf line", "r1: partial"));
  EXPECT_THAT(err, ElementsAre("r1: [stderr] err 7", "r1: [stderr] raw"));
}

TEST_F(StepProcessTest, OutputBeforeACrashArrivesWithTheOutcome) {
  auto outcome = Run(Request("IsoPrintsThenCrashes", {sematic::Encode(1)}));
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(outcome.status().message(), "step IsoPrintsThenCrashes crashed (signal 6, SIGABRT)");
  EXPECT_THAT(sink_.lines(), UnorderedElementsAre("r1: before the crash", "r1: [stderr] almost"));
}

TEST_F(StepProcessTest, AStepErrorIsAnOutcomeNotACrash) {
  auto outcome = Run(Request("IsoRejects", {sematic::Encode(3)}));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->error(), "x must be even, got 3");
  EXPECT_EQ(outcome->error_code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
}

TEST_F(StepProcessTest, ASegfaultIsReportedWithTheSignalsName) {
  auto outcome = Run(Request("IsoSegv", {sematic::Encode(1)}));
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(outcome.status().message(), "step IsoSegv crashed (signal 11, SIGSEGV)");
}

TEST_F(StepProcessTest, CancellationIsSigtermAndTheStepSeesCancelled) {
  std::thread cancel([this] {
    ASSERT_TRUE(sink_.AwaitLine());  // the step is running
    cancelled_->store(true);
  });
  auto outcome = Run(Request("IsoAwaitCancel", {sematic::Encode(9)}));
  cancel.join();
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(sematic::Decode<int>(outcome->value(), "value").value(), 9);
}

TEST_F(StepProcessTest, AStepIgnoringSigtermIsKilledAfterTheGrace) {
  std::thread cancel([this] {
    ASSERT_TRUE(sink_.AwaitLine());
    cancelled_->store(true);
  });
  const absl::Time start = absl::Now();
  auto outcome = Run(Request("IsoIgnoresCancel", {sematic::Encode(1)}), absl::Milliseconds(200));
  cancel.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));  // not the step's 20 s
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(outcome.status().message(),
              HasSubstr("crashed (signal 9, SIGKILL) (it ignored SIGTERM for 200ms)"));
}

TEST_F(StepProcessTest, TheChildsEnvironmentListsOnlyItsGpus) {
  auto outcome = Run(Request("IsoCudaEnv", {sematic::Encode(0)}, {1, 3}), absl::Seconds(5), {1, 3});
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(sematic::Decode<std::string>(outcome->value(), "value").value(), "1,3");
}

TEST_F(StepProcessTest, AStepTheChildLacksFailsTheAttempt) {
  auto outcome = Run(Request("NoSuchStep", {}));
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(outcome.status().message(),
              HasSubstr("the step process exited with status 3 without an outcome"));
  // Why, in the run's log: the child said so on its stderr.
  const std::vector<std::string> lines = sink_.lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("r1: [stderr] sematic step process "));
  EXPECT_THAT(lines[0], HasSubstr("NoSuchStep"));
}

}  // namespace step_process_test

int main(int argc, char** argv) {
  if (sematic::worker::IsStepProcessCommand(argc, argv)) {
    return sematic::worker::StepProcessMain(argc, argv);
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
