#include "worker/resource_ledger.h"

#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sematic::worker {
namespace {

using ::sematic::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Demand Need(double cpus, int64_t memory = 0, int gpus = 0,
            std::map<std::string, double> custom = {}) {
  return Demand{cpus, memory, gpus, std::move(custom)};
}

v1::Resources Capacity() {
  v1::Resources r;
  r.set_cpus(4);
  r.set_memory_bytes(1000);
  r.set_gpus(3);
  (*r.mutable_custom())["tpu"] = 2;
  return r;
}

TEST(ResourceLedgerTest, ReservesUntilAResourceRunsOutAndReleases) {
  ResourceLedger ledger(Capacity(), /*max_runs=*/10);
  Demand d = Need(1.5, 400, 1, {{"tpu", 1}});
  absl::StatusOr<std::vector<int>> a = ledger.Reserve(d);
  absl::StatusOr<std::vector<int>> b = ledger.Reserve(d);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_THAT(*a, ElementsAre(0));
  EXPECT_THAT(*b, ElementsAre(1));
  EXPECT_DOUBLE_EQ(ledger.free_cpus(), 1);
  EXPECT_EQ(ledger.free_memory_bytes(), 200);
  EXPECT_EQ(ledger.free_custom("tpu"), 0);
  // cpus: 1 free of 1.5.
  EXPECT_THAT(ledger.Reserve(d),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("cpus")));
  // Memory fits, cpus fit, but tpu is gone.
  EXPECT_THAT(ledger.Reserve(Need(0.5, 0, 0, {{"tpu", 1}})),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("resource tpu")));
  ledger.Release(d, *a);
  EXPECT_EQ(ledger.runs(), 1);
  EXPECT_EQ(ledger.free_gpus(), 2);
  // GPU 0 is free again and is handed out first.
  absl::StatusOr<std::vector<int>> c = ledger.Reserve(Need(1, 0, 2));
  ASSERT_TRUE(c.ok());
  EXPECT_THAT(*c, ElementsAre(0, 2));
}

TEST(ResourceLedgerTest, MoreThanTheWholeWorkerIsAPreconditionFailure) {
  ResourceLedger ledger(Capacity(), 10);
  EXPECT_THAT(ledger.Reserve(Need(0, 0, 4)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("gpus: needs 4")));
  EXPECT_THAT(ledger.Reserve(Need(0, 0, 0, {{"fpga", 1}})),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("resource fpga")));
  EXPECT_EQ(ledger.runs(), 0);
}

TEST(ResourceLedgerTest, MaxRunsCapsTheRunCount) {
  ResourceLedger ledger(Capacity(), /*max_runs=*/2);
  Demand zero;
  ASSERT_TRUE(ledger.Reserve(zero).ok());
  ASSERT_TRUE(ledger.Reserve(zero).ok());
  EXPECT_THAT(ledger.Reserve(zero),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("runs")));
  ledger.Release(zero, {});
  EXPECT_TRUE(ledger.Reserve(zero).ok());
}

TEST(ResourceLedgerTest, FractionalCpusAddUpExactly) {
  v1::Resources r;
  r.set_cpus(1);
  ResourceLedger ledger(r, 0);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(ledger.Reserve(Need(0.1)).ok()) << i;
  EXPECT_FALSE(ledger.Reserve(Need(0.1)).ok());
}

}  // namespace
}  // namespace sematic::worker
