#include "scheduler/policy/crash_triage.h"

#include <vector>

#include "gtest/gtest.h"

namespace sematic::scheduler {
namespace {

using Reason = LossVerdict::Reason;

const absl::Time kT0 = absl::FromUnixSeconds(1'000'000);

std::vector<LossVerdict> Lose(CrashTriage& triage, absl::Time at,
                              std::vector<LossHistory*> aboard) {
  return triage.WorkerLost(at, aboard);
}

TEST(CrashTriageTest, RunsLostTogetherAreSuspectsAndSpendNothing) {
  CrashTriage triage;
  LossHistory a, b, c;
  std::vector<LossVerdict> v = Lose(triage, kT0, {&a, &b, &c});
  ASSERT_EQ(v.size(), 3u);
  for (const LossVerdict& verdict : v) {
    EXPECT_FALSE(verdict.charge);
    EXPECT_EQ(verdict.reason, Reason::kWithOthers);
  }
  EXPECT_TRUE(a.run_alone && b.run_alone && c.run_alone);
  EXPECT_EQ(b.uncharged_losses, 1);
}

TEST(CrashTriageTest, TheCulpritIsChargedOnceAloneAndTheOthersAreCleared) {
  CrashTriage triage;
  LossHistory a, b, c;
  Lose(triage, kT0, {&a, &b, &c});
  CrashTriage::AttemptEnded(a);  // a ran alone and finished
  EXPECT_FALSE(a.run_alone);
  // b, alone, kills its worker again and again: each loss is charged (its own earlier losses
  // are no storm), and it keeps running alone.
  for (int i = 1; i <= 4; ++i) {
    std::vector<LossVerdict> v = Lose(triage, kT0 + absl::Seconds(i), {&b});
    ASSERT_EQ(v.size(), 1u);
    EXPECT_TRUE(v[0].charge) << "loss " << i;
    EXPECT_EQ(v[0].reason, Reason::kAlone);
    EXPECT_TRUE(b.run_alone);
  }
  EXPECT_EQ(b.uncharged_losses, 1);
  CrashTriage::AttemptEnded(c);
  EXPECT_EQ(c.uncharged_losses, 1);
}

TEST(CrashTriageTest, ARunAloneOnAWorkerLostInAStormSpendsNothing) {
  CrashTriage triage;
  LossHistory idle1, idle2, victim;
  Lose(triage, kT0, {&idle1});                       // alone, no storm yet: charged
  Lose(triage, kT0 + absl::Milliseconds(10), {&idle2});  // one other loss: still charged
  std::vector<LossVerdict> v = Lose(triage, kT0 + absl::Milliseconds(20), {&victim});
  EXPECT_FALSE(v[0].charge);
  EXPECT_EQ(v[0].reason, Reason::kStorm);
  EXPECT_EQ(victim.uncharged_losses, 1);
}

TEST(CrashTriageTest, IdleWorkersLostCountTowardsAStorm) {
  CrashTriage triage;
  Lose(triage, kT0, {});
  Lose(triage, kT0, {});
  LossHistory victim;
  EXPECT_FALSE(Lose(triage, kT0, {&victim})[0].charge);
}

TEST(CrashTriageTest, TwoCrashersAtOnceAreNoStorm) {
  CrashTriage triage;
  LossHistory b1, b2;
  for (int i = 0; i < 4; ++i) {
    const absl::Time at = kT0 + absl::Seconds(i);
    EXPECT_TRUE(Lose(triage, at, {&b1})[0].charge) << i;
    EXPECT_TRUE(Lose(triage, at + absl::Milliseconds(1), {&b2})[0].charge) << i;
  }
}

TEST(CrashTriageTest, ARepeatOffenderAloneIsNoEvidenceOfAStorm) {
  CrashTriage triage;
  LossHistory crasher, innocent;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(Lose(triage, kT0 + absl::Seconds(i), {&crasher})[0].charge) << i;
  }
  // Only its first loss alone is unexplained: one other loss, no storm.
  EXPECT_TRUE(Lose(triage, kT0 + absl::Seconds(3), {&innocent})[0].charge);
}

TEST(CrashTriageTest, AStormEndsWithItsWindow) {
  CrashTriage triage(CrashTriageOptions{.storm_window = absl::Seconds(5)});
  LossHistory victim;
  Lose(triage, kT0, {});
  Lose(triage, kT0, {});
  EXPECT_FALSE(Lose(triage, kT0 + absl::Seconds(5), {&victim})[0].charge);
  EXPECT_TRUE(Lose(triage, kT0 + absl::Seconds(11), {&victim})[0].charge);
}

TEST(CrashTriageTest, NoRunIsLostForFreeForever) {
  CrashTriage triage(CrashTriageOptions{.max_uncharged_losses = 5});
  LossHistory run, other;
  for (int i = 0; i < 5; ++i) {
    EXPECT_FALSE(Lose(triage, kT0 + absl::Seconds(i), {&run, &other})[0].charge) << i;
  }
  std::vector<LossVerdict> v = Lose(triage, kT0 + absl::Seconds(9), {&run, &other});
  EXPECT_TRUE(v[0].charge);
  EXPECT_EQ(v[0].reason, Reason::kTooOften);
}

TEST(CrashTriageTest, OldLossesAreForgottenByTheRunsToo) {
  CrashTriage triage(CrashTriageOptions{.storm_window = absl::Seconds(1)});
  LossHistory run;
  for (int i = 0; i < 100; ++i) Lose(triage, kT0 + absl::Seconds(10 * i), {&run});
  EXPECT_LE(run.losses.size(), 1u);
}

}  // namespace
}  // namespace sematic::scheduler
