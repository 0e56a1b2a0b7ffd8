#include "scheduler/policy/run_state_machine.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sematic::scheduler {
namespace {

using ::sematic::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using v1::RunState;

constexpr RunState X = v1::RUN_STATE_UNSPECIFIED;  // illegal
constexpr RunState CREATED = v1::CREATED;
constexpr RunState QUEUED = v1::QUEUED;
constexpr RunState ASSIGNED = v1::ASSIGNED;
constexpr RunState RUNNING = v1::RUNNING;
constexpr RunState WAITING = v1::WAITING;
constexpr RunState SUCCEEDED = v1::SUCCEEDED;
constexpr RunState FAILED = v1::FAILED;
constexpr RunState CANCELED = v1::CANCELED;
constexpr RunState TIMED_OUT = v1::TIMED_OUT;

constexpr int kNumEvents = 12;

// The expected table, written out by hand: one row per state, one column per event in the
// order of kColumns below.
struct Row {
  RunState from;
  RunState to[kNumEvents];
};
// clang-format off
//                 InputsReady CompletedW/oD Assigned  Started  Succeeded  ChildrenReg FailedRetry FailedFinal TimedOutRetry TimedOutFinal WorkerLost Cancel
const Row kExpected[] = {
    {CREATED,   {QUEUED,    SUCCEEDED,    X,        X,       X,         X,          X,          FAILED,     X,            X,            X,         CANCELED}},
    {QUEUED,    {X,         X,            ASSIGNED, X,       X,         X,          X,          X,          X,            X,            X,         CANCELED}},
    {ASSIGNED,  {X,         X,            X,        RUNNING, SUCCEEDED, WAITING,    QUEUED,     FAILED,     QUEUED,       TIMED_OUT,    QUEUED,    CANCELED}},
    {RUNNING,   {X,         X,            X,        X,       SUCCEEDED, WAITING,    QUEUED,     FAILED,     QUEUED,       TIMED_OUT,    QUEUED,    CANCELED}},
    {WAITING,   {X,         X,            X,        X,       SUCCEEDED, X,          X,          FAILED,     X,            X,            X,         CANCELED}},
    {SUCCEEDED, {X,         X,            X,        X,       X,         X,          X,          X,          X,            X,            X,         X}},
    {FAILED,    {X,         X,            X,        X,       X,         X,          X,          X,          X,            X,            X,         X}},
    {CANCELED,  {X,         X,            X,        X,       X,         X,          X,          X,          X,            X,            X,         X}},
    {TIMED_OUT, {X,         X,            X,        X,       X,         X,          X,          X,          X,            X,            X,         X}},
};
// clang-format on
constexpr RunEvent kColumns[kNumEvents] = {
    RunEvent::kInputsReady,       RunEvent::kCompletedWithoutDispatch,
    RunEvent::kAssigned,          RunEvent::kStarted,
    RunEvent::kSucceeded,         RunEvent::kChildrenRegistered,
    RunEvent::kFailedRetryable,   RunEvent::kFailedFinal,
    RunEvent::kTimedOutRetryable, RunEvent::kTimedOutFinal,
    RunEvent::kWorkerLost,        RunEvent::kCancel,
};

TEST(RunStateMachineTest, TheTestTableCoversEveryStateAndEvent) {
  // A new event or state must get a column or row here.
  ASSERT_EQ(std::size(kAllRunEvents), static_cast<size_t>(kNumEvents));
  for (int i = 0; i < kNumEvents; ++i) EXPECT_EQ(kAllRunEvents[i], kColumns[i]) << i;
  std::set<RunState> rows;
  for (const Row& row : kExpected) rows.insert(row.from);
  const auto* descriptor = v1::RunState_descriptor();
  for (int i = 0; i < descriptor->value_count(); ++i) {
    const auto state = static_cast<RunState>(descriptor->value(i)->number());
    if (state == v1::RUN_STATE_UNSPECIFIED) continue;
    EXPECT_TRUE(rows.contains(state)) << v1::RunState_Name(state);
  }
}

TEST(RunStateMachineTest, EveryStateEventPairMatchesTheExpectedTable) {
  int legal = 0;
  for (const Row& row : kExpected) {
    for (int i = 0; i < kNumEvents; ++i) {
      const RunEvent event = kColumns[i];
      SCOPED_TRACE(v1::RunState_Name(row.from) + " on " + std::string(RunEventName(event)));
      absl::StatusOr<RunState> next = Transition(row.from, event);
      if (row.to[i] == X) {
        EXPECT_THAT(next, StatusIs(absl::StatusCode::kFailedPrecondition,
                                   AllOf(HasSubstr(v1::RunState_Name(row.from)),
                                         HasSubstr(std::string(RunEventName(event))))));
      } else {
        ++legal;
        ASSERT_TRUE(next.ok()) << next.status();
        EXPECT_EQ(*next, row.to[i]);
      }
    }
  }
  EXPECT_EQ(legal, 26);
}

TEST(RunStateMachineTest, IllegalTransitionMessageNamesStateAndEvent) {
  EXPECT_THAT(Transition(SUCCEEDED, RunEvent::kCancel),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "illegal run transition: event Cancel in state SUCCEEDED"));
}

TEST(RunStateMachineTest, TerminalStatesAcceptNothing) {
  for (RunState state : {SUCCEEDED, FAILED, CANCELED, TIMED_OUT}) {
    EXPECT_TRUE(IsTerminal(state)) << v1::RunState_Name(state);
    for (RunEvent event : kAllRunEvents) {
      EXPECT_THAT(Transition(state, event), StatusIs(absl::StatusCode::kFailedPrecondition));
    }
  }
  for (RunState state : {X, CREATED, QUEUED, ASSIGNED, RUNNING, WAITING}) {
    EXPECT_FALSE(IsTerminal(state)) << v1::RunState_Name(state);
  }
}

TEST(RunStateMachineTest, UnspecifiedOrUnknownStateIsInvalidArgument) {
  EXPECT_THAT(Transition(X, RunEvent::kInputsReady),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("RUN_STATE_UNSPECIFIED")));
  EXPECT_THAT(Transition(static_cast<RunState>(42), RunEvent::kCancel),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("RunState(42)")));
}

TEST(RunStateMachineTest, EventNamesAreDistinct) {
  std::set<std::string> names;
  for (RunEvent event : kAllRunEvents) names.insert(std::string(RunEventName(event)));
  EXPECT_EQ(names.size(), std::size(kAllRunEvents));
}

// The reference model, written by event rather than by state and independently of the table in
// run_state_machine.cc (LevelDB's ModelDB idea): nullopt for an illegal transition.
std::optional<RunState> ModelNext(RunState s, RunEvent e) {
  const bool on_worker = s == ASSIGNED || s == RUNNING;
  const bool terminal = s == SUCCEEDED || s == FAILED || s == CANCELED || s == TIMED_OUT;
  switch (e) {
    case RunEvent::kInputsReady:
      if (s == CREATED) return QUEUED;
      break;
    case RunEvent::kCompletedWithoutDispatch:
      if (s == CREATED) return SUCCEEDED;
      break;
    case RunEvent::kAssigned:
      if (s == QUEUED) return ASSIGNED;
      break;
    case RunEvent::kStarted:
      if (s == ASSIGNED) return RUNNING;
      break;
    case RunEvent::kSucceeded:
      if (on_worker || s == WAITING) return SUCCEEDED;
      break;
    case RunEvent::kChildrenRegistered:
      if (on_worker) return WAITING;
      break;
    case RunEvent::kFailedRetryable:
    case RunEvent::kTimedOutRetryable:
    case RunEvent::kWorkerLost:
      if (on_worker) return QUEUED;
      break;
    case RunEvent::kFailedFinal:
      if (on_worker || s == WAITING || s == CREATED) return FAILED;
      break;
    case RunEvent::kTimedOutFinal:
      if (on_worker) return TIMED_OUT;
      break;
    case RunEvent::kCancel:
      if (!terminal) return CANCELED;
      break;
  }
  return std::nullopt;
}

TEST(RunStateMachineTest, RandomEventSequencesAgreeWithTheModel) {
  std::mt19937_64 rng(20260611);
  std::set<RunState> visited;
  int64_t legal = 0;
  int64_t illegal = 0;
  int max_attempts = 0;
  for (int run = 0; run < 2000; ++run) {
    RunState state = CREATED;
    int attempts = 0;
    for (int step = 0; step < 40; ++step) {
      visited.insert(state);
      // Mostly events the model allows, preferring those that keep the run alive, so that runs
      // go around the retry loop; the rest uniformly random, mostly illegal.
      std::vector<RunEvent> allowed, keep_alive;
      for (RunEvent e : kAllRunEvents) {
        std::optional<RunState> to = ModelNext(state, e);
        if (!to.has_value()) continue;
        allowed.push_back(e);
        if (*to != SUCCEEDED && *to != FAILED && *to != CANCELED && *to != TIMED_OUT) {
          keep_alive.push_back(e);
        }
      }
      const uint64_t dice = rng() % 10;
      RunEvent event = kAllRunEvents[rng() % std::size(kAllRunEvents)];
      if (dice < 5 && !keep_alive.empty()) {
        event = keep_alive[rng() % keep_alive.size()];
      } else if (dice < 7 && !allowed.empty()) {
        event = allowed[rng() % allowed.size()];
      }
      SCOPED_TRACE("run " + std::to_string(run) + " step " + std::to_string(step) + ": " +
                   v1::RunState_Name(state) + " on " + std::string(RunEventName(event)));
      const std::optional<RunState> expected = ModelNext(state, event);
      absl::StatusOr<RunState> next = Transition(state, event);
      if (!expected.has_value()) {
        ++illegal;
        ASSERT_THAT(next, StatusIs(absl::StatusCode::kFailedPrecondition));
        continue;  // the run stays where it was
      }
      ++legal;
      ASSERT_TRUE(next.ok()) << next.status();
      ASSERT_EQ(*next, *expected);
      ASSERT_FALSE(IsTerminal(state));  // nothing leaves a terminal state
      if (*next == ASSIGNED) max_attempts = std::max(max_attempts, ++attempts);
      // Only an attempt on a worker runs, registers children or times out.
      if (*next == RUNNING || *next == WAITING || *next == TIMED_OUT) {
        ASSERT_GE(attempts, 1);
      }
      state = *next;
    }
  }
  // The walk explored every state and both outcomes, so the comparison above meant something.
  EXPECT_EQ(visited.size(), 9u);
  EXPECT_GT(legal, 5000) << illegal;
  EXPECT_GT(illegal, 10000) << legal;
  EXPECT_GE(max_attempts, 3);
}

TEST(CheckAttemptFenceTest, OnlyTheCurrentAttemptOfARunOnAWorker) {
  EXPECT_OK(CheckAttemptFence(ASSIGNED, 2, 2));
  EXPECT_OK(CheckAttemptFence(RUNNING, 2, 2));
  EXPECT_THAT(CheckAttemptFence(RUNNING, 3, 2), StatusIs(absl::StatusCode::kFailedPrecondition,
                                                         "stale attempt 2 (current attempt is 3)"));
  EXPECT_THAT(CheckAttemptFence(RUNNING, 1, 2), StatusIs(absl::StatusCode::kFailedPrecondition));
  for (RunState state : {CREATED, QUEUED, WAITING, SUCCEEDED, FAILED, CANCELED, TIMED_OUT}) {
    EXPECT_THAT(CheckAttemptFence(state, 1, 1), StatusIs(absl::StatusCode::kFailedPrecondition,
                                                         HasSubstr(v1::RunState_Name(state))));
  }
}

TEST(JobStateForTest, FollowsTheRootAndWaitsForUnfinishedRuns) {
  EXPECT_EQ(JobStateFor(CREATED, 1), v1::JOB_PENDING);
  EXPECT_EQ(JobStateFor(QUEUED, 1), v1::JOB_PENDING);
  EXPECT_EQ(JobStateFor(ASSIGNED, 1), v1::JOB_PENDING);
  EXPECT_EQ(JobStateFor(RUNNING, 1), v1::JOB_RUNNING);
  EXPECT_EQ(JobStateFor(WAITING, 5), v1::JOB_RUNNING);
  EXPECT_EQ(JobStateFor(SUCCEEDED, 0), v1::JOB_SUCCEEDED);
  EXPECT_EQ(JobStateFor(FAILED, 0), v1::JOB_FAILED);
  EXPECT_EQ(JobStateFor(TIMED_OUT, 0), v1::JOB_FAILED);
  EXPECT_EQ(JobStateFor(CANCELED, 0), v1::JOB_CANCELED);
  // Independent branches still completing after the root failed (CONTINUE_INDEPENDENT).
  EXPECT_EQ(JobStateFor(FAILED, 3), v1::JOB_RUNNING);
  EXPECT_EQ(JobStateFor(X, 0), v1::JOB_STATE_UNSPECIFIED);
  EXPECT_EQ(JobStateFor(static_cast<RunState>(42), 0), v1::JOB_STATE_UNSPECIFIED);
}

}  // namespace
}  // namespace sematic::scheduler
