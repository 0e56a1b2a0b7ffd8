#include "scheduler/policy/run_state_machine.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace sematic::scheduler {
namespace {

using v1::RunState;

struct Edge {
  RunState from;
  RunEvent event;
  RunState to;
};

// The one transition table. Keep in sync with the header comment.
constexpr Edge kTable[] = {
    {v1::CREATED, RunEvent::kInputsReady, v1::QUEUED},
    {v1::CREATED, RunEvent::kCompletedWithoutDispatch, v1::SUCCEEDED},
    {v1::CREATED, RunEvent::kFailedFinal, v1::FAILED},
    {v1::CREATED, RunEvent::kCancel, v1::CANCELED},

    {v1::QUEUED, RunEvent::kAssigned, v1::ASSIGNED},
    {v1::QUEUED, RunEvent::kCancel, v1::CANCELED},

    {v1::ASSIGNED, RunEvent::kStarted, v1::RUNNING},
    {v1::ASSIGNED, RunEvent::kSucceeded, v1::SUCCEEDED},
    {v1::ASSIGNED, RunEvent::kChildrenRegistered, v1::WAITING},
    {v1::ASSIGNED, RunEvent::kFailedRetryable, v1::QUEUED},
    {v1::ASSIGNED, RunEvent::kFailedFinal, v1::FAILED},
    {v1::ASSIGNED, RunEvent::kTimedOutRetryable, v1::QUEUED},
    {v1::ASSIGNED, RunEvent::kTimedOutFinal, v1::TIMED_OUT},
    {v1::ASSIGNED, RunEvent::kWorkerLost, v1::QUEUED},
    {v1::ASSIGNED, RunEvent::kCancel, v1::CANCELED},

    {v1::RUNNING, RunEvent::kSucceeded, v1::SUCCEEDED},
    {v1::RUNNING, RunEvent::kChildrenRegistered, v1::WAITING},
    {v1::RUNNING, RunEvent::kFailedRetryable, v1::QUEUED},
    {v1::RUNNING, RunEvent::kFailedFinal, v1::FAILED},
    {v1::RUNNING, RunEvent::kTimedOutRetryable, v1::QUEUED},
    {v1::RUNNING, RunEvent::kTimedOutFinal, v1::TIMED_OUT},
    {v1::RUNNING, RunEvent::kWorkerLost, v1::QUEUED},
    {v1::RUNNING, RunEvent::kCancel, v1::CANCELED},

    {v1::WAITING, RunEvent::kSucceeded, v1::SUCCEEDED},
    {v1::WAITING, RunEvent::kFailedFinal, v1::FAILED},
    {v1::WAITING, RunEvent::kCancel, v1::CANCELED},
};

std::string StateName(RunState state) {
  if (v1::RunState_IsValid(state)) return v1::RunState_Name(state);
  return absl::StrCat("RunState(", static_cast<int>(state), ")");
}

}  // namespace

std::string_view RunEventName(RunEvent event) {
  switch (event) {
    case RunEvent::kInputsReady:
      return "InputsReady";
    case RunEvent::kCompletedWithoutDispatch:
      return "CompletedWithoutDispatch";
    case RunEvent::kAssigned:
      return "Assigned";
    case RunEvent::kStarted:
      return "Started";
    case RunEvent::kSucceeded:
      return "Succeeded";
    case RunEvent::kChildrenRegistered:
      return "ChildrenRegistered";
    case RunEvent::kFailedRetryable:
      return "FailedRetryable";
    case RunEvent::kFailedFinal:
      return "FailedFinal";
    case RunEvent::kTimedOutRetryable:
      return "TimedOutRetryable";
    case RunEvent::kTimedOutFinal:
      return "TimedOutFinal";
    case RunEvent::kWorkerLost:
      return "WorkerLost";
    case RunEvent::kCancel:
      return "Cancel";
  }
  return "RunEvent(?)";
}

absl::StatusOr<v1::RunState> Transition(v1::RunState from, RunEvent event) {
  if (from == v1::RUN_STATE_UNSPECIFIED || !v1::RunState_IsValid(from)) {
    return absl::InvalidArgumentError(absl::StrCat("not a run state: ", StateName(from), " (event ",
                                                   AsAbsl(RunEventName(event)), ")"));
  }
  for (const Edge& edge : kTable) {
    if (edge.from == from && edge.event == event) return edge.to;
  }
  return absl::FailedPreconditionError(absl::StrCat("illegal run transition: event ",
                                                    AsAbsl(RunEventName(event)), " in state ",
                                                    StateName(from)));
}

bool IsTerminal(v1::RunState state) {
  switch (state) {
    case v1::SUCCEEDED:
    case v1::FAILED:
    case v1::CANCELED:
    case v1::TIMED_OUT:
      return true;
    default:
      return false;
  }
}

absl::Status CheckAttemptFence(v1::RunState state, int32_t current_attempt,
                               int32_t reported_attempt) {
  if (reported_attempt != current_attempt) {
    return absl::FailedPreconditionError(absl::StrCat(
        "stale attempt ", reported_attempt, " (current attempt is ", current_attempt, ")"));
  }
  if (state != v1::ASSIGNED && state != v1::RUNNING) {
    return absl::FailedPreconditionError(absl::StrCat(
        "attempt ", reported_attempt, " is not out on a worker (run is ", StateName(state), ")"));
  }
  return absl::OkStatus();
}

v1::JobState JobStateFor(v1::RunState root_state, int64_t unfinished_runs) {
  switch (root_state) {
    case v1::CREATED:
    case v1::QUEUED:
    case v1::ASSIGNED:
      return v1::JOB_PENDING;
    case v1::RUNNING:
    case v1::WAITING:
      return v1::JOB_RUNNING;
    default:
      break;
  }
  if (!IsTerminal(root_state)) return v1::JOB_STATE_UNSPECIFIED;
  if (unfinished_runs > 0) return v1::JOB_RUNNING;
  switch (root_state) {
    case v1::SUCCEEDED:
      return v1::JOB_SUCCEEDED;
    case v1::CANCELED:
      return v1::JOB_CANCELED;
    default:  // FAILED, TIMED_OUT
      return v1::JOB_FAILED;
  }
}

}  // namespace sematic::scheduler
