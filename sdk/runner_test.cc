#include <atomic>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sematic/sematic.h"

namespace sematic_runner_test {

using ::sematic::Call;
using ::sematic::Future;
using ::sematic::testing::IsOk;
using ::sematic::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::SizeIs;

struct Score {
  std::string name;
  double accuracy = 0;
  std::vector<int> history;
};
SEMATIC_STRUCT(Score, name, accuracy, history);

int Square(int x) { return x * x; }
SEMATIC_FUNC(Square, "x");

int Add(int a, int b) { return a + b; }
SEMATIC_FUNC(Add, "a", "b");

int64_t Sum(const std::vector<int>& xs) {
  int64_t total = 0;
  for (int x : xs) total += x;
  return total;
}
SEMATIC_FUNC(Sum, "xs");

Score MakeScore(const std::string& name, double accuracy) {
  return Score{name, accuracy, {1, 2, 3}};
}
SEMATIC_FUNC(MakeScore, "name", "accuracy");

std::tuple<int, std::string> Pair(int x) { return {x, std::to_string(x)}; }
SEMATIC_FUNC(Pair, "x");

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}
SEMATIC_FUNC(Repeat, "s", "n");

// Recursion: a nested step whose depth is decided at run time.
Future<int> Countdown(int n) {
  if (n == 0) return 0;
  return Call(Add, Call(Countdown, n - 1), 1);
}
SEMATIC_FUNC(Countdown, "n");

// Fan-out decided by a value known only when the step runs.
Future<int64_t> FanOut(int n) {
  std::vector<Future<int>> parts;
  parts.reserve(n);
  for (int i = 0; i < n; ++i) parts.push_back(Call(Square, i));
  return Call(Sum, parts);
}
SEMATIC_FUNC(FanOut, "n");

// A branch on a computed value.
Future<int> Branch(int x) {
  if (x % 2 == 0) return Call(Square, x);
  return Call(Add, x, 1000);
}
SEMATIC_FUNC(Branch, "x");

Future<int> BranchOnComputed(int x) { return Call(Branch, Call(Square, x)); }
SEMATIC_FUNC(BranchOnComputed, "x");

TEST(RunnerTest, ResolvesAPlainGraph) {
  sematic::SilentRunner runner;
  absl::StatusOr<int> v = runner.Resolve(Call(Add, Call(Square, 3), 4));
  ASSERT_THAT(v, IsOk());
  EXPECT_EQ(*v, 13);
  EXPECT_THAT(runner.Runs(), SizeIs(2));
}

TEST(RunnerTest, FutureResolveUsesTheDefaultRunner) {
  EXPECT_EQ(Call(Repeat, "ab", 3).Resolve().value(), "ababab");
}

TEST(RunnerTest, RecordsLineageAsArtifactIds) {
  sematic::SilentRunner runner;
  ASSERT_THAT(runner.Resolve(Call(Add, Call(Square, 3), 4)), IsOk());
  std::vector<sematic::v1::Run> runs = runner.Runs();
  ASSERT_EQ(runs.size(), 2u);
  const sematic::v1::Run& square = runs[0];
  const sematic::v1::Run& add = runs[1];
  EXPECT_EQ(square.function(), "Square");
  EXPECT_EQ(add.function(), "Add");
  EXPECT_EQ(add.state(), sematic::v1::SUCCEEDED);
  ASSERT_EQ(add.inputs_size(), 2);
  EXPECT_EQ(add.inputs(0).name(), "a");
  EXPECT_EQ(add.inputs(0).digest(), square.output_digest());
  EXPECT_EQ(add.inputs(1).digest(), sematic::ArtifactId(sematic::TypeOf<int>(), sematic::Encode(4)));
  ASSERT_OK_AND_ASSIGN(sematic::v1::TypedValue out, runner.GetArtifact(add.output_digest()));
  EXPECT_EQ(sematic::Decode<int>(out.value()).value(), 13);
  ASSERT_OK_AND_ASSIGN(sematic::v1::TypedValue in, runner.GetArtifact(add.inputs(1).digest()));
  EXPECT_EQ(sematic::Decode<int>(in.value()).value(), 4);
  EXPECT_GE(add.ended_unix_micros(), add.started_unix_micros());
  EXPECT_EQ(add.job_id(), runner.last_job_id());
}

TEST(RunnerTest, NestedRecursionDeeperThanFive) {
  sematic::SilentRunner runner;
  absl::StatusOr<int> v = runner.Resolve(Call(Countdown, 7));
  ASSERT_THAT(v, IsOk());
  EXPECT_EQ(*v, 7);
  // Each level nests under the previous one: follow parent links from the deepest Countdown.
  std::map<std::string, sematic::v1::Run> by_id;
  int deepest = 0;
  for (const auto& run : runner.Runs()) by_id[run.id()] = run;
  for (const auto& [id, run] : by_id) {
    if (run.function() != "Countdown") continue;
    int depth = 0;
    for (std::string p = run.parent_id(); !p.empty(); p = by_id.at(p).parent_id()) ++depth;
    deepest = std::max(deepest, depth);
    EXPECT_EQ(run.state(), sematic::v1::SUCCEEDED);
    EXPECT_TRUE(run.nested());
  }
  EXPECT_EQ(deepest, 7);
}

TEST(RunnerTest, DynamicFanOutOfTenThousand) {
  sematic::SilentRunner runner;
  absl::StatusOr<int64_t> v = runner.Resolve(Call(FanOut, 10000));
  ASSERT_THAT(v, IsOk());
  int64_t expected = 0;
  for (int64_t i = 0; i < 10000; ++i) expected += i * i;
  EXPECT_EQ(*v, expected);
  int squares = 0;
  for (const auto& run : runner.Runs()) squares += run.function() == "Square";
  EXPECT_EQ(squares, 10000);
}

TEST(RunnerTest, BranchesOnComputedValues) {
  EXPECT_EQ(Call(BranchOnComputed, 2).Resolve().value(), 16);    // 4 is even: 4*4
  EXPECT_EQ(Call(BranchOnComputed, 3).Resolve().value(), 1009);  // 9 is odd: 9+1000
}

TEST(RunnerTest, StructFieldsAndTupleElements) {
  Future<Score> score = Call(MakeScore, "mlp", 0.9);
  Future<double> accuracy = score.Field(&Score::accuracy);
  Future<std::vector<int>> history = score.Field(&Score::history);
  Future<std::tuple<int, std::string>> pair = Call(Pair, 5);
  sematic::SilentRunner runner;
  EXPECT_DOUBLE_EQ(runner.Resolve(accuracy).value(), 0.9);
  EXPECT_EQ(runner.Resolve(Call(Sum, history)).value(), 6);
  EXPECT_EQ(runner.Resolve(Call(Repeat, pair.Get<1>(), pair.Get<0>())).value(), "55555");
}

// Holds until `expected` steps are inside it at once, or a deadline passes; records the most
// that were ever inside together.
struct Rendezvous {
  absl::Mutex mu;
  int inside = 0;
  int max_inside = 0;
};
Rendezvous* rendezvous = nullptr;

int MeetOthers(int x) {
  absl::MutexLock lock(&rendezvous->mu);
  ++rendezvous->inside;
  rendezvous->max_inside = std::max(rendezvous->max_inside, rendezvous->inside);
  auto all_met = [] { return rendezvous->max_inside >= 2; };
  rendezvous->mu.AwaitWithTimeout(absl::Condition(&all_met), absl::Seconds(20));
  --rendezvous->inside;
  return x;
}
SEMATIC_FUNC(MeetOthers, "x");

TEST(RunnerTest, IndependentStepsRunInParallel) {
  Rendezvous r;
  rendezvous = &r;
  sematic::SilentRunner runner(sematic::RunnerOptions{.parallelism = 4});
  std::vector<Future<int>> parts;
  for (int i = 0; i < 4; ++i) parts.push_back(Call(MeetOthers, i));
  ASSERT_THAT(runner.Resolve(Call(Sum, parts)), IsOk());
  EXPECT_GE(r.max_inside, 2) << "no two independent steps ever ran at the same time";
  rendezvous = nullptr;
}

std::atomic<int> flaky_calls{0};
int Flaky(int x) {
  if (flaky_calls.fetch_add(1) < 2) throw std::runtime_error("transient");
  return x;
}
SEMATIC_FUNC(Flaky, "x").Retry(3, absl::Milliseconds(1));

TEST(RunnerTest, RetriesUntilSuccess) {
  flaky_calls = 0;
  sematic::SilentRunner runner;
  EXPECT_EQ(runner.Resolve(Call(Flaky, 5)).value(), 5);
  EXPECT_EQ(flaky_calls.load(), 3);
  const sematic::v1::Run run = runner.Runs().at(0);
  EXPECT_EQ(run.attempt(), 3);
  ASSERT_EQ(run.logs_size(), 2);
  EXPECT_THAT(run.logs(0).text(), HasSubstr("transient"));
}

std::atomic<int> always_fails_calls{0};
absl::StatusOr<int> AlwaysFails(int) {
  ++always_fails_calls;
  return absl::DataLossError("corrupt shard");
}
SEMATIC_FUNC(AlwaysFails, "x").Retry(2, absl::Milliseconds(1));

TEST(RunnerTest, GivesUpAfterTheRetryBudgetWithAClearError) {
  always_fails_calls = 0;
  sematic::SilentRunner runner;
  absl::StatusOr<int> v = runner.Resolve(Call(Add, Call(AlwaysFails, 1), 1));
  EXPECT_THAT(v, StatusIs(absl::StatusCode::kDataLoss,
                          AllOf(HasSubstr("step AlwaysFails (run r-"),
                                HasSubstr("after 3 attempts"), HasSubstr("corrupt shard"))));
  EXPECT_EQ(always_fails_calls.load(), 3);
}

int SleepsUntilCancelled(int x) {
  // Cooperative: checks Cancelled() with a bounded loop.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!sematic::Context::Current().Cancelled() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  return x;
}
SEMATIC_FUNC(SleepsUntilCancelled, "x").Timeout(absl::Milliseconds(50)).Retry(1, absl::Milliseconds(1));

TEST(RunnerTest, TimeoutsFailTheRunAndReachTheStep) {
  sematic::SilentRunner runner;
  absl::StatusOr<int> v = runner.Resolve(Call(SleepsUntilCancelled, 1));
  EXPECT_THAT(v, StatusIs(absl::StatusCode::kDeadlineExceeded,
                          AllOf(HasSubstr("SleepsUntilCancelled"), HasSubstr("timed out"))));
  const sematic::v1::Run run = runner.Runs().at(0);
  EXPECT_EQ(run.state(), sematic::v1::TIMED_OUT);
  EXPECT_EQ(run.attempt(), 2);
}

Future<int> LeavesAFutureBehind(int x) {
  Future<int> forgotten = Call(Square, x);
  return Call(Add, x, 1);
}
SEMATIC_FUNC(LeavesAFutureBehind, "x");

int CallsWithoutReturningAFuture(int x) {
  Call(Square, x);
  return x;
}
SEMATIC_FUNC(CallsWithoutReturningAFuture, "x");

TEST(RunnerTest, UnusedFuturesAreErrorsNamingThem) {
  sematic::SilentRunner runner;
  EXPECT_THAT(runner.Resolve(Call(LeavesAFutureBehind, 2)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("LeavesAFutureBehind"),
                             HasSubstr("Square (call #1 in LeavesAFutureBehind)"))));
  EXPECT_THAT(runner.Resolve(Call(CallsWithoutReturningAFuture, 2)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("Square (call #1 in CallsWithoutReturningAFuture)"),
                             HasSubstr("must return a Future"))));
}

// No SEMATIC_FUNC: calling it is an error at run time that names it, never an abort.
int NotAStep(int x) { return x + 1; }

std::atomic<int> calls_not_a_step_calls{0};
Future<int> CallsNotAStep(int x) {
  ++calls_not_a_step_calls;
  return Call(Add, Call(NotAStep, x), 1);
}
SEMATIC_FUNC(CallsNotAStep, "x").Retry(2, absl::Milliseconds(1));

TEST(RunnerTest, CallingAFunctionWithoutSematicFuncIsAnErrorNamingIt) {
  sematic::SilentRunner runner;
  EXPECT_THAT(runner.Resolve(Call(Add, Call(NotAStep, 1), 2)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("sematic_runner_test::NotAStep is not a registered step"),
                             HasSubstr("add SEMATIC_FUNC(NotAStep, ...)"))));
  EXPECT_THAT(runner.Runs(), SizeIs(0));  // refused before anything ran

  // Inside a step: the step fails for good (a retry would make the same call), naming itself
  // and the function.
  calls_not_a_step_calls = 0;
  EXPECT_THAT(runner.Resolve(Call(CallsNotAStep, 1)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("step CallsNotAStep called "
                                       "sematic_runner_test::NotAStep, which is not a "
                                       "registered step"),
                             HasSubstr("add SEMATIC_FUNC(NotAStep, ...)"))));
  EXPECT_EQ(calls_not_a_step_calls.load(), 1);
  std::vector<sematic::v1::Run> runs = runner.Runs();
  ASSERT_THAT(runs, SizeIs(1));
  EXPECT_EQ(runs[0].state(), sematic::v1::FAILED);
}

absl::Notification* slow_started = nullptr;
std::atomic<bool> slow_saw_cancel{false};
int SlowSibling(int x) {
  slow_started->Notify();
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!sematic::Context::Current().Cancelled() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  slow_saw_cancel = sematic::Context::Current().Cancelled();
  return x;
}
SEMATIC_FUNC(SlowSibling, "x");

int FailsAfterSiblingStarts(int x) {
  slow_started->WaitForNotificationWithTimeout(absl::Seconds(30));
  throw std::invalid_argument("bad learning rate");
  return x;
}
SEMATIC_FUNC(FailsAfterSiblingStarts, "x");

TEST(RunnerTest, FailFastCancelsRunningSiblings) {
  absl::Notification started;
  slow_started = &started;
  slow_saw_cancel = false;
  {
    sematic::SilentRunner runner(sematic::RunnerOptions{.parallelism = 2});
    absl::StatusOr<int> v =
        runner.Resolve(Call(Add, Call(SlowSibling, 1), Call(FailsAfterSiblingStarts, 2)));
    EXPECT_THAT(v, StatusIs(absl::StatusCode::kUnknown,
                            AllOf(HasSubstr("step FailsAfterSiblingStarts (run r-"),
                                  HasSubstr("std::invalid_argument: bad learning rate"))));
    bool sibling_cancelled = false;
    for (const auto& run : runner.Runs()) {
      if (run.function() == "SlowSibling") sibling_cancelled = run.state() == sematic::v1::CANCELED;
      if (run.function() == "Add") {
        EXPECT_EQ(run.state(), sematic::v1::CANCELED);
      }
    }
    EXPECT_TRUE(sibling_cancelled);
  }  // the runner waits for SlowSibling to return
  EXPECT_TRUE(slow_saw_cancel.load());
}

int LogsAndMeasures(int epochs) {
  sematic::Context& ctx = sematic::Context::Current();
  for (int e = 0; e < epochs; ++e) {
    ctx.LogMetric("loss", 1.0 / (e + 1), e);
    ctx.Log("epoch ", e, " done");
  }
  return epochs;
}
SEMATIC_FUNC(LogsAndMeasures, "epochs");

TEST(RunnerTest, ContextRecordsLogsAndMetrics) {
  sematic::SilentRunner runner;
  ASSERT_THAT(runner.Resolve(Call(LogsAndMeasures, 3)), IsOk());
  const sematic::v1::Run run = runner.Runs().at(0);
  ASSERT_EQ(run.metrics_size(), 3);
  EXPECT_EQ(run.metrics(2).name(), "loss");
  EXPECT_EQ(run.metrics(2).step(), 2);
  EXPECT_DOUBLE_EQ(run.metrics(2).value(), 1.0 / 3);
  ASSERT_EQ(run.logs_size(), 3);
  EXPECT_EQ(run.logs(1).text(), "epoch 1 done");
}

std::string RunIdOfMyself(int) { return sematic::Context::Current().run_id(); }
SEMATIC_FUNC(RunIdOfMyself, "x");

Future<std::string> ParentOf(int x) { return Call(RunIdOfMyself, x); }
SEMATIC_FUNC(ParentOf, "x");

TEST(RunnerTest, ContextKnowsItsRun) {
  sematic::SilentRunner runner;
  ASSERT_OK_AND_ASSIGN(std::string id, runner.Resolve(Call(ParentOf, 1)));
  ASSERT_OK_AND_ASSIGN(sematic::v1::Run run, runner.GetRun(id));
  EXPECT_EQ(run.function(), "RunIdOfMyself");
  ASSERT_OK_AND_ASSIGN(sematic::v1::Run parent, runner.GetRun(run.parent_id()));
  EXPECT_EQ(parent.function(), "ParentOf");
}

TEST(RunnerTest, ContinueModeFinishesIndependentBranches) {
  always_fails_calls = 0;
  sematic::SilentRunner runner(sematic::RunnerOptions{.parallelism = 2, .fail_fast = false});
  std::vector<Future<int>> parts = {Call(AlwaysFails, 1), Call(Square, 2), Call(Square, 3)};
  EXPECT_THAT(runner.Resolve(Call(Sum, parts)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("AlwaysFails")));
  int squares_done = 0;
  for (const auto& run : runner.Runs()) {
    if (run.function() == "Square") squares_done += run.state() == sematic::v1::SUCCEEDED;
    if (run.function() == "Sum") {
      EXPECT_EQ(run.state(), sematic::v1::CANCELED);
    }
  }
  EXPECT_EQ(squares_done, 2);
}

TEST(RunnerTest, ResolvesGraphsFromOutsideAfterValidation) {
  sematic::v1::Graph graph = sematic::BuildGraph(Call(Add, Call(Square, 3), 4));
  sematic::SilentRunner runner;
  ASSERT_OK_AND_ASSIGN(sematic::v1::TypedValue v, runner.ResolveGraph(graph));
  EXPECT_EQ(sematic::Decode<int>(v.value()).value(), 13);
  graph.mutable_nodes(1)->mutable_args(1)->mutable_literal()->set_string_value("four");
  EXPECT_THAT(runner.ResolveGraph(graph),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("args[1] (b)")));
}

}  // namespace sematic_runner_test
