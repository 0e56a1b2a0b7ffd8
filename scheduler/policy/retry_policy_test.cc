#include "scheduler/policy/retry_policy.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "absl/random/random.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/policy/run_state_machine.h"

namespace sematic::scheduler {
namespace {

using ::sematic::testing::StatusIs;
using ::testing::HasSubstr;

constexpr uint64_t kMiddle = uint64_t{1} << 63;  // u = 0.5: no jitter
constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

RetryBudget Budget() {
  return RetryBudget{.max_user_retries = 2,
                     .max_infra_retries = 3,
                     .backoff = absl::Seconds(1),
                     .multiplier = 2,
                     .max_backoff = absl::Seconds(60),
                     .jitter = 0.25};
}

TEST(ValidateRetryBudgetTest, NamesTheBadField) {
  EXPECT_OK(ValidateRetryBudget(RetryBudget{}));
  EXPECT_OK(ValidateRetryBudget(Budget()));
  auto with = [](auto change) {
    RetryBudget b = Budget();
    change(b);
    return ValidateRetryBudget(b);
  };
  EXPECT_THAT(with([](RetryBudget& b) { b.max_user_retries = -1; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_user_retries")));
  EXPECT_THAT(with([](RetryBudget& b) { b.max_infra_retries = -1; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_infra_retries")));
  EXPECT_THAT(with([](RetryBudget& b) { b.backoff = absl::Seconds(-1); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("backoff")));
  EXPECT_THAT(with([](RetryBudget& b) { b.max_backoff = absl::InfiniteDuration(); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_backoff")));
  EXPECT_THAT(with([](RetryBudget& b) { b.multiplier = 0.5; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("multiplier")));
  EXPECT_THAT(with([](RetryBudget& b) { b.jitter = 1.5; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("jitter")));
  EXPECT_THAT(with([](RetryBudget& b) { b.jitter = std::nan(""); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("jitter")));
}

TEST(BackoffDelayTest, DoublesUpToTheCap) {
  RetryBudget b = Budget();
  b.jitter = 0;
  const int expected_seconds[] = {1, 2, 4, 8, 16, 32, 60, 60, 60};
  for (int retry = 1; retry <= 9; ++retry) {
    EXPECT_EQ(BackoffDelay(b, retry, kMiddle), absl::Seconds(expected_seconds[retry - 1]))
        << "retry " << retry;
  }
  EXPECT_EQ(BackoffDelay(b, 0, kMiddle), absl::Seconds(1));
  EXPECT_EQ(BackoffDelay(b, -5, kMiddle), absl::Seconds(1));
  // No overflow for absurd retry numbers.
  EXPECT_EQ(BackoffDelay(b, std::numeric_limits<int>::max(), kMax), absl::Seconds(60));
}

TEST(BackoffDelayTest, OtherMultipliers) {
  RetryBudget b = Budget();
  b.jitter = 0;
  b.multiplier = 1;
  EXPECT_EQ(BackoffDelay(b, 7, kMiddle), absl::Seconds(1));
  b.multiplier = 3;
  b.backoff = absl::Milliseconds(100);
  EXPECT_EQ(BackoffDelay(b, 3, kMiddle), absl::Milliseconds(900));
}

TEST(BackoffDelayTest, JitterBoundsAreReachedAtTheExtremes) {
  const RetryBudget b = Budget();  // retry 3: 4s ± 25%
  EXPECT_EQ(BackoffDelay(b, 3, uint64_t{0}), absl::Seconds(3));
  EXPECT_EQ(BackoffDelay(b, 3, kMiddle), absl::Seconds(4));
  EXPECT_NEAR(absl::ToDoubleSeconds(BackoffDelay(b, 3, kMax)), 5.0, 1e-6);
  // Deterministic in the random input.
  EXPECT_EQ(BackoffDelay(b, 3, uint64_t{123456789}), BackoffDelay(b, 3, uint64_t{123456789}));
}

TEST(BackoffDelayTest, JitterStaysInBoundsAndCoversThem) {
  const RetryBudget b = Budget();
  std::mt19937_64 rng(7);
  double lo = 1e9, hi = 0, sum = 0;
  constexpr int kSamples = 20000;
  for (int i = 0; i < kSamples; ++i) {
    const double s = absl::ToDoubleSeconds(BackoffDelay(b, 3, uint64_t{rng()}));
    ASSERT_GE(s, 3.0);
    ASSERT_LE(s, 5.0);
    lo = std::min(lo, s);
    hi = std::max(hi, s);
    sum += s;
  }
  EXPECT_LT(lo, 3.05);
  EXPECT_GT(hi, 4.95);
  EXPECT_NEAR(sum / kSamples, 4.0, 0.03);
}

TEST(BackoffDelayTest, JitterNeverExceedsTheCap) {
  const RetryBudget b = Budget();  // capped at 60s from retry 7 on
  absl::BitGen gen;
  for (int i = 0; i < 5000; ++i) {
    const absl::Duration d = BackoffDelay(b, 10, gen);
    ASSERT_LE(d, absl::Seconds(60));
    ASSERT_GE(d, absl::Seconds(45));
  }
}

TEST(BackoffDelayTest, BitGenOverloadStaysInBounds) {
  const RetryBudget b = Budget();
  absl::BitGen gen;
  for (int i = 0; i < 1000; ++i) {
    const absl::Duration d = BackoffDelay(b, 1, gen);
    ASSERT_GE(d, absl::Milliseconds(750));
    ASSERT_LE(d, absl::Milliseconds(1250));
  }
}

TEST(DecideTest, UserErrorsAndTimeoutsShareTheUserBudget) {
  const RetryBudget b = Budget();  // 2 user retries
  EXPECT_EQ(Decide(b, FailureKind::kUser, 0, 0), RetryDecision::kRetry);
  EXPECT_EQ(Decide(b, FailureKind::kUser, 1, 0), RetryDecision::kRetry);
  EXPECT_EQ(Decide(b, FailureKind::kUser, 2, 0), RetryDecision::kGiveUp);
  EXPECT_EQ(Decide(b, FailureKind::kTimeout, 1, 0), RetryDecision::kRetry);
  EXPECT_EQ(Decide(b, FailureKind::kTimeout, 2, 0), RetryDecision::kGiveUp);
  // Infrastructure failures do not use up the user budget.
  EXPECT_EQ(Decide(b, FailureKind::kUser, 1, 3), RetryDecision::kRetry);
}

TEST(DecideTest, InfrastructureHasItsOwnBudget) {
  const RetryBudget b = Budget();  // 3 infra retries
  EXPECT_EQ(Decide(b, FailureKind::kInfrastructure, 0, 0), RetryDecision::kRetry);
  EXPECT_EQ(Decide(b, FailureKind::kInfrastructure, 0, 2), RetryDecision::kRetry);
  EXPECT_EQ(Decide(b, FailureKind::kInfrastructure, 0, 3), RetryDecision::kGiveUp);
  EXPECT_EQ(Decide(b, FailureKind::kInfrastructure, 100, 0), RetryDecision::kRetry);
}

TEST(DecideTest, NoRetriesAllowed) {
  RetryBudget b = Budget();
  b.max_user_retries = 0;
  b.max_infra_retries = 0;
  EXPECT_EQ(Decide(b, FailureKind::kUser, 0, 0), RetryDecision::kGiveUp);
  EXPECT_EQ(Decide(b, FailureKind::kTimeout, 0, 0), RetryDecision::kGiveUp);
  EXPECT_EQ(Decide(b, FailureKind::kInfrastructure, 0, 0), RetryDecision::kGiveUp);
}

TEST(DecideTest, CancellationNeverRetries) {
  RetryBudget b = Budget();
  b.max_user_retries = 100;
  b.max_infra_retries = 100;
  EXPECT_EQ(Decide(b, FailureKind::kCancelled, 0, 0), RetryDecision::kGiveUp);
}

TEST(FailureKindForTest, MapsTheWorkerReportedKind) {
  EXPECT_EQ(FailureKindFor(v1::USER_ERROR), FailureKind::kUser);
  EXPECT_EQ(FailureKindFor(v1::TIMEOUT), FailureKind::kTimeout);
  EXPECT_EQ(FailureKindFor(v1::CANCELLED), FailureKind::kCancelled);
  EXPECT_EQ(FailureKindFor(v1::INFRASTRUCTURE), FailureKind::kInfrastructure);
  EXPECT_EQ(FailureKindFor(v1::ERROR_KIND_UNSPECIFIED), FailureKind::kUser);
}

TEST(EventForTest, MapsKindAndDecisionToARunEvent) {
  using enum RetryDecision;
  EXPECT_EQ(EventFor(FailureKind::kUser, kRetry), RunEvent::kFailedRetryable);
  EXPECT_EQ(EventFor(FailureKind::kUser, kGiveUp), RunEvent::kFailedFinal);
  EXPECT_EQ(EventFor(FailureKind::kTimeout, kRetry), RunEvent::kTimedOutRetryable);
  EXPECT_EQ(EventFor(FailureKind::kTimeout, kGiveUp), RunEvent::kTimedOutFinal);
  EXPECT_EQ(EventFor(FailureKind::kInfrastructure, kRetry), RunEvent::kFailedRetryable);
  EXPECT_EQ(EventFor(FailureKind::kInfrastructure, kGiveUp), RunEvent::kFailedFinal);
  EXPECT_EQ(EventFor(FailureKind::kCancelled, kGiveUp), RunEvent::kCancel);
}

// Drives runs through random attempt outcomes with Decide, EventFor and Transition together, as
// the scheduler will: every run ends, within its budgets, in the state its last outcome implies.
TEST(RetryLifecycleTest, RandomOutcomesStayWithinTheBudgets) {
  const RetryBudget b = Budget();
  std::mt19937_64 rng(99);
  int retried = 0, failed = 0, timed_out = 0, succeeded = 0;
  for (int run = 0; run < 3000; ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    v1::RunState state = v1::CREATED;
    auto apply = [&state](RunEvent e) {
      absl::StatusOr<v1::RunState> next = Transition(state, e);
      ASSERT_TRUE(next.ok()) << next.status();
      state = *next;
    };
    apply(RunEvent::kInputsReady);
    int attempts = 0, user = 0, infra = 0;
    while (!IsTerminal(state)) {
      ASSERT_EQ(state, v1::QUEUED);
      apply(RunEvent::kAssigned);
      ++attempts;
      if (rng() % 2) apply(RunEvent::kStarted);
      const int outcome = static_cast<int>(rng() % 10);
      if (outcome == 0) {
        apply(RunEvent::kSucceeded);
        continue;
      }
      if (outcome == 1) {  // the worker vanished: not a FailureKind the worker reports
        const RetryDecision d = Decide(b, FailureKind::kInfrastructure, user, infra);
        ++infra;
        apply(d == RetryDecision::kRetry ? RunEvent::kWorkerLost : RunEvent::kFailedFinal);
        continue;
      }
      const FailureKind kind = outcome < 6   ? FailureKind::kUser
                               : outcome < 8 ? FailureKind::kTimeout
                                             : FailureKind::kInfrastructure;
      const RetryDecision d = Decide(b, kind, user, infra);
      (kind == FailureKind::kInfrastructure ? infra : user)++;
      if (d == RetryDecision::kRetry) ++retried;
      apply(EventFor(kind, d));
    }
    ASSERT_LE(attempts, 1 + b.max_user_retries + b.max_infra_retries);
    ASSERT_LE(user, b.max_user_retries + 1);
    ASSERT_LE(infra, b.max_infra_retries + 1);
    if (state == v1::SUCCEEDED) ++succeeded;
    if (state == v1::FAILED) {
      ++failed;
      ASSERT_TRUE(user == b.max_user_retries + 1 || infra == b.max_infra_retries + 1);
    }
    if (state == v1::TIMED_OUT) {
      ++timed_out;
      ASSERT_EQ(user, b.max_user_retries + 1);
    }
  }
  EXPECT_GT(retried, 1000);
  EXPECT_GT(failed, 100);
  EXPECT_GT(timed_out, 100);
  EXPECT_GT(succeeded, 100);
}

}  // namespace
}  // namespace sematic::scheduler
