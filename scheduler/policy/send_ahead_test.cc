#include "scheduler/policy/send_ahead.h"

#include "gtest/gtest.h"

namespace sematic::scheduler {
namespace {

TEST(StepDurationsTest, UnknownUntilARunEnds) {
  StepDurations times;
  EXPECT_FALSE(times.typical().has_value());
  times.Add(absl::Milliseconds(3));
  ASSERT_TRUE(times.typical().has_value());
  EXPECT_EQ(*times.typical(), absl::Milliseconds(3));
}

TEST(StepDurationsTest, FollowsNewDurationsAFifthAtATime) {
  StepDurations times;
  times.Add(absl::Milliseconds(10));
  times.Add(absl::Milliseconds(20));
  EXPECT_EQ(*times.typical(), absl::Milliseconds(12));
  for (int i = 0; i < 50; ++i) times.Add(absl::Milliseconds(20));
  EXPECT_GT(*times.typical(), absl::Microseconds(19'990));
  EXPECT_LE(*times.typical(), absl::Milliseconds(20));
}

TEST(StepDurationsTest, IgnoresNegativeDurations) {
  StepDurations times;
  times.Add(absl::Milliseconds(-5));
  EXPECT_FALSE(times.typical().has_value());
  times.Add(absl::Milliseconds(2));
  times.Add(absl::Milliseconds(-5));
  EXPECT_EQ(*times.typical(), absl::Milliseconds(2));
}

TEST(SendAheadDepthTest, OneWhileUnknown) {
  EXPECT_EQ(SendAheadDepth(SendAheadPolicy{}, std::nullopt), 1);
}

TEST(SendAheadDepthTest, CoversTheHorizonUpToTheCap) {
  const SendAheadPolicy policy;  // 32 ms horizon, depth <= 32
  EXPECT_EQ(SendAheadDepth(policy, absl::Milliseconds(1)), 32);
  EXPECT_EQ(SendAheadDepth(policy, absl::Microseconds(1'500)), 22);
  EXPECT_EQ(SendAheadDepth(policy, absl::Milliseconds(2)), 16);
  EXPECT_EQ(SendAheadDepth(policy, absl::Milliseconds(3)), 11);
  EXPECT_EQ(SendAheadDepth(policy, absl::Microseconds(10)), 32);
  EXPECT_EQ(SendAheadDepth(policy, absl::ZeroDuration()), 32);
  EXPECT_EQ(SendAheadDepth(policy, absl::Milliseconds(50)), 1);
}

TEST(SendAheadDepthTest, LongStepsStayAtTheScheduler) {
  const SendAheadPolicy policy;
  EXPECT_EQ(SendAheadDepth(policy, absl::Milliseconds(99)), 1);
  EXPECT_EQ(SendAheadDepth(policy, absl::Milliseconds(100)), 0);
  EXPECT_EQ(SendAheadDepth(policy, absl::Minutes(5)), 0);
}

TEST(SendAheadLimitTest, DepthPerRunningRunUpToTheWorkersCap) {
  const SendAheadPolicy policy;  // depth <= 32, at most 256 waiting per worker
  EXPECT_EQ(SendAheadLimit(policy, std::nullopt, 0), 1);  // an idle worker counts as one run
  EXPECT_EQ(SendAheadLimit(policy, std::nullopt, 4), 4);
  EXPECT_EQ(SendAheadLimit(policy, absl::Milliseconds(1), 1), 32);
  EXPECT_EQ(SendAheadLimit(policy, absl::Milliseconds(1), 4), 128);
  EXPECT_EQ(SendAheadLimit(policy, absl::Microseconds(10), 64), 256);
  EXPECT_EQ(SendAheadLimit(policy, absl::Seconds(1), 64), 0);
  SendAheadPolicy none = policy;
  none.max_waiting = 0;  // treated as 1
  EXPECT_EQ(SendAheadLimit(none, absl::Milliseconds(1), 8), 1);
}

TEST(SendAheadDepthTest, PolicyIsHonoured) {
  SendAheadPolicy policy;
  policy.horizon = absl::Milliseconds(20);
  policy.max_depth = 8;
  EXPECT_EQ(SendAheadDepth(policy, absl::Milliseconds(1)), 8);
  EXPECT_EQ(SendAheadDepth(policy, absl::Milliseconds(5)), 4);
  policy.max_depth = 0;  // treated as 1: a run that ends always has a successor at hand
  EXPECT_EQ(SendAheadDepth(policy, absl::Milliseconds(1)), 1);
}

}  // namespace
}  // namespace sematic::scheduler
