// Whether a failed attempt is retried, and after how long.
//
//   RetryBudget budget{.max_user_retries = signature.max_retries()};
//   FailureKind kind = FailureKindFor(result.error().kind());
//   RetryDecision d = Decide(budget, kind, run_user_failures, run_infra_failures);
//   ASSIGN_OR_RETURN(v1::RunState next, Transition(run.state(), EventFor(kind, d)));
//   if (d == RetryDecision::kRetry) timers.Add(BackoffDelay(budget, retry_number, bitgen), ...);
//
// User errors and timeouts draw on one budget, infrastructure loss (crash, OOM, worker lost)
// on another; cancellation never retries.
//
// Thread-safety: pure functions (BackoffDelay with a BitGenRef uses the generator it is given).
#ifndef SEMATIC_SCHEDULER_POLICY_RETRY_POLICY_H_
#define SEMATIC_SCHEDULER_POLICY_RETRY_POLICY_H_

#include <cstdint>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "scheduler/policy/run_state_machine.h"
#include "sematic/v1/worker_service.pb.h"

namespace sematic::scheduler {

struct RetryBudget {
  // Retries after user errors and timeouts (FunctionSignature.max_retries).
  int max_user_retries = 0;
  // Retries after infrastructure loss (crash, OOM, lost worker).
  int max_infra_retries = 3;
  absl::Duration backoff = absl::Seconds(1);  // delay before the first retry
  double multiplier = 2.0;                    // growth per retry; >= 1
  absl::Duration max_backoff = absl::Minutes(5);
  double jitter = 0.1;  // the delay is scaled by a uniform factor in [1 - jitter, 1 + jitter]
};

// INVALID_ARGUMENT naming the field: negative counts or durations, multiplier < 1 or not
// finite, jitter outside [0, 1].
absl::Status ValidateRetryBudget(const RetryBudget& budget);

enum class FailureKind { kUser, kTimeout, kInfrastructure, kCancelled };

// The worker-reported kind; ERROR_KIND_UNSPECIFIED (or unknown) counts as a user error.
FailureKind FailureKindFor(v1::ErrorKind kind);

enum class RetryDecision { kRetry, kGiveUp };

// Whether to retry after a failure of `kind`, given how many failures of the run's earlier
// attempts drew on each budget (not counting this one). kUser and kTimeout retry while
// `user_failures_so_far < max_user_retries`, kInfrastructure while
// `infra_failures_so_far < max_infra_retries`; kCancelled never retries.
RetryDecision Decide(const RetryBudget& budget, FailureKind kind, int user_failures_so_far,
                     int infra_failures_so_far);

// The run event for a failure of `kind` after `decision`: kFailedRetryable/kFailedFinal,
// kTimedOutRetryable/kTimedOutFinal, kFailedRetryable/kFailedFinal for infrastructure
// (kWorkerLost is for a lost worker, which the caller detects itself), kCancel.
RunEvent EventFor(FailureKind kind, RetryDecision decision);

// The delay before retry number `retry_number` (1 for the first retry; lower counts as 1):
// backoff * multiplier^(retry_number - 1), capped at max_backoff, scaled by the jitter factor
// 1 + jitter * (2u - 1) where u = random / 2^64, and capped at max_backoff again; never
// negative. Deterministic in `random`, which should be uniform over all uint64 values.
absl::Duration BackoffDelay(const RetryBudget& budget, int retry_number, uint64_t random);
// Same, drawing `random` from `gen`.
absl::Duration BackoffDelay(const RetryBudget& budget, int retry_number, absl::BitGenRef gen);

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_POLICY_RETRY_POLICY_H_
