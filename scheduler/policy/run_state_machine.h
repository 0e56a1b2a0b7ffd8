// The life cycle of a run (DESIGN.md §5), as one transition table driven by events.
//
//   ASSIGN_OR_RETURN(v1::RunState next, Transition(run.state(), RunEvent::kAssigned));
//   run.set_state(next);
//   if (IsTerminal(next)) ...;
//   job.set_state(JobStateFor(root.state(), unfinished_runs));
//
// The table (every other (state, event) pair is illegal):
//
//   CREATED   kInputsReady → QUEUED        kCompletedWithoutDispatch → SUCCEEDED
//             kFailedFinal → FAILED        kCancel → CANCELED
//   QUEUED    kAssigned → ASSIGNED         kCancel → CANCELED
//   ASSIGNED, RUNNING
//             kStarted → RUNNING (ASSIGNED only)
//             kSucceeded → SUCCEEDED       kChildrenRegistered → WAITING
//             kFailedRetryable → QUEUED    kFailedFinal → FAILED
//             kTimedOutRetryable → QUEUED  kTimedOutFinal → TIMED_OUT
//             kWorkerLost → QUEUED         kCancel → CANCELED
//   WAITING   kSucceeded → SUCCEEDED       kFailedFinal → FAILED       kCancel → CANCELED
//   SUCCEEDED, FAILED, CANCELED, TIMED_OUT: terminal, accept nothing.
//
// A lost worker whose run has no infrastructure retry left is kFailedFinal, not kWorkerLost.
// ASSIGNED takes every outcome RUNNING takes: workers report no "started" message, only results
// and heartbeats, so a result can arrive before any heartbeat has shown the run running.
//
// Thread-safety: pure functions.
#ifndef SEMATIC_SCHEDULER_POLICY_RUN_STATE_MACHINE_H_
#define SEMATIC_SCHEDULER_POLICY_RUN_STATE_MACHINE_H_

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sematic/v1/job.pb.h"
#include "sematic/v1/run.pb.h"

namespace sematic::scheduler {

// What happened to a run. The caller picks the event; the table picks the next state.
enum class RunEvent {
  kInputsReady,               // every upstream result is recorded: the run can be placed
  kCompletedWithoutDispatch,  // a cache hit, or a builtin node the scheduler evaluated itself
  kAssigned,                  // sent to a worker (a new attempt)
  kStarted,                   // a worker's heartbeat lists the attempt as running
  kSucceeded,                 // the output is recorded (for WAITING: its output child's)
  kChildrenRegistered,        // a nested run returned its graph of child calls
  kFailedRetryable,           // the attempt failed and the retry budget allows another
  kFailedFinal,               // failed for good; for WAITING: a child did; for CREATED: a builtin
                              // node the scheduler evaluated itself failed
  kTimedOutRetryable,         // the attempt overran its deadline; the user budget allows a retry
  kTimedOutFinal,             // the attempt overran its deadline; no retry left
  kWorkerLost,                // the worker died or disconnected; the infra budget allows a retry
  kCancel,                    // by the user, or cascaded (fail-fast, parent canceled)
};

// Every event, in declaration order.
inline constexpr RunEvent kAllRunEvents[] = {
    RunEvent::kInputsReady,       RunEvent::kCompletedWithoutDispatch,
    RunEvent::kAssigned,          RunEvent::kStarted,
    RunEvent::kSucceeded,         RunEvent::kChildrenRegistered,
    RunEvent::kFailedRetryable,   RunEvent::kFailedFinal,
    RunEvent::kTimedOutRetryable, RunEvent::kTimedOutFinal,
    RunEvent::kWorkerLost,        RunEvent::kCancel,
};

// "InputsReady", "Cancel", ...; "RunEvent(<n>)" for a value outside the enum.
std::string_view RunEventName(RunEvent event);

// The state a run in `from` moves to on `event`.
// FAILED_PRECONDITION naming both when the table has no such transition (a bug in the caller:
// surface it loudly); INVALID_ARGUMENT when `from` is RUN_STATE_UNSPECIFIED or not a RunState.
absl::StatusOr<v1::RunState> Transition(v1::RunState from, RunEvent event);

// SUCCEEDED, FAILED, CANCELED and TIMED_OUT: the run takes no further event.
bool IsTerminal(v1::RunState state);

// Whether a result or heartbeat for `reported_attempt` may change a run that is in `state` at
// `current_attempt` (fencing: only the current attempt of an ASSIGNED or RUNNING run).
// FAILED_PRECONDITION explaining why not (stale attempt, or the run is not out on a worker).
absl::Status CheckAttemptFence(v1::RunState state, int32_t current_attempt,
                               int32_t reported_attempt);

// The state of a job from its root run's state and the number of its runs (root included) not
// yet in a terminal state:
//   root CREATED/QUEUED/ASSIGNED → JOB_PENDING; RUNNING/WAITING → JOB_RUNNING;
//   root terminal while other runs are unfinished (independent branches completing under
//   CONTINUE_INDEPENDENT) → JOB_RUNNING;
//   root terminal and nothing unfinished → SUCCEEDED/FAILED (also TIMED_OUT)/CANCELED.
// JOB_STATE_UNSPECIFIED for a root state that is not a valid RunState.
v1::JobState JobStateFor(v1::RunState root_state, int64_t unfinished_runs);

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_POLICY_RUN_STATE_MACHINE_H_
