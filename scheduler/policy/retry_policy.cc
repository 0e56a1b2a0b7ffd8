#include "scheduler/policy/retry_policy.h"

#include <algorithm>
#include <cmath>

#include "absl/random/distributions.h"

namespace sematic::scheduler {

absl::Status ValidateRetryBudget(const RetryBudget& budget) {
  if (budget.max_user_retries < 0) {
    return absl::InvalidArgumentError("max_user_retries must not be negative");
  }
  if (budget.max_infra_retries < 0) {
    return absl::InvalidArgumentError("max_infra_retries must not be negative");
  }
  if (budget.backoff < absl::ZeroDuration() || budget.backoff == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError("backoff must be finite and not negative");
  }
  if (budget.max_backoff < absl::ZeroDuration() || budget.max_backoff == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError("max_backoff must be finite and not negative");
  }
  if (!std::isfinite(budget.multiplier) || budget.multiplier < 1) {
    return absl::InvalidArgumentError("multiplier must be finite and at least 1");
  }
  if (!(budget.jitter >= 0 && budget.jitter <= 1)) {
    return absl::InvalidArgumentError("jitter must be in [0, 1]");
  }
  return absl::OkStatus();
}

FailureKind FailureKindFor(v1::ErrorKind kind) {
  switch (kind) {
    case v1::TIMEOUT:
      return FailureKind::kTimeout;
    case v1::CANCELLED:
      return FailureKind::kCancelled;
    case v1::INFRASTRUCTURE:
      return FailureKind::kInfrastructure;
    default:
      return FailureKind::kUser;
  }
}

RetryDecision Decide(const RetryBudget& budget, FailureKind kind, int user_failures_so_far,
                     int infra_failures_so_far) {
  bool retry = false;
  switch (kind) {
    case FailureKind::kUser:
    case FailureKind::kTimeout:
      retry = user_failures_so_far < budget.max_user_retries;
      break;
    case FailureKind::kInfrastructure:
      retry = infra_failures_so_far < budget.max_infra_retries;
      break;
    case FailureKind::kCancelled:
      retry = false;
      break;
  }
  return retry ? RetryDecision::kRetry : RetryDecision::kGiveUp;
}

RunEvent EventFor(FailureKind kind, RetryDecision decision) {
  const bool retry = decision == RetryDecision::kRetry;
  switch (kind) {
    case FailureKind::kTimeout:
      return retry ? RunEvent::kTimedOutRetryable : RunEvent::kTimedOutFinal;
    case FailureKind::kCancelled:
      return RunEvent::kCancel;
    case FailureKind::kUser:
    case FailureKind::kInfrastructure:
      break;
  }
  return retry ? RunEvent::kFailedRetryable : RunEvent::kFailedFinal;
}

absl::Duration BackoffDelay(const RetryBudget& budget, int retry_number, uint64_t random) {
  const double max_seconds = std::max(0.0, absl::ToDoubleSeconds(budget.max_backoff));
  const double multiplier =
      std::isfinite(budget.multiplier) ? std::max(1.0, budget.multiplier) : 1.0;
  const int exponent = std::max(retry_number, 1) - 1;
  double seconds = absl::ToDoubleSeconds(budget.backoff) * std::pow(multiplier, exponent);
  // `!(a < b)` also catches an infinite or NaN product.
  if (!(seconds < max_seconds)) seconds = max_seconds;

  const double jitter = std::clamp(std::isnan(budget.jitter) ? 0.0 : budget.jitter, 0.0, 1.0);
  // The top 53 bits give a uniform double in [0, 1).
  const double u = static_cast<double>(random >> 11) * 0x1p-53;
  seconds *= 1.0 + jitter * (2.0 * u - 1.0);
  seconds = std::clamp(seconds, 0.0, max_seconds);
  return absl::Seconds(seconds);
}

absl::Duration BackoffDelay(const RetryBudget& budget, int retry_number, absl::BitGenRef gen) {
  return BackoffDelay(budget, retry_number, absl::Uniform<uint64_t>(gen));
}

}  // namespace sematic::scheduler
