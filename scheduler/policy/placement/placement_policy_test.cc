#include "scheduler/policy/placement/placement_policy.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sematic::scheduler {
namespace {

using ::sematic::testing::IsOk;
using ::sematic::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kGiB = int64_t{1} << 30;

WorkerView Worker(std::string id, double cpus = 8, int64_t memory = 32 * kGiB, int gpus = 0) {
  WorkerView w;
  w.id = std::move(id);
  w.capacity.set_cpus(cpus);
  w.capacity.set_memory_bytes(memory);
  w.capacity.set_gpus(gpus);
  w.functions = {"TrainEval@1"};
  return w;
}

RunDemand Demand(double cpus = 1, int64_t memory = kGiB, int gpus = 0) {
  RunDemand d;
  d.function = "TrainEval";
  d.version = "1";
  d.cpus = cpus;
  d.memory_bytes = memory;
  d.gpus = gpus;
  return d;
}

std::unique_ptr<PlacementPolicy> Policy(std::string_view name) {
  absl::StatusOr<std::unique_ptr<PlacementPolicy>> policy = MakePlacementPolicy(name);
  EXPECT_TRUE(policy.ok()) << policy.status();
  return std::move(policy).value();
}

absl::StatusOr<std::string> Pack(const RunDemand& d, const std::vector<WorkerView>& w) {
  return Policy("pack")->Place(d, w);
}

TEST(MakePlacementPolicyTest, KnowsPackAndSpread) {
  EXPECT_THAT(MakePlacementPolicy("pack"), IsOk());
  EXPECT_THAT(MakePlacementPolicy("spread"), IsOk());
  EXPECT_THAT(MakePlacementPolicy("random"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"random\"")));
  EXPECT_THAT(MakePlacementPolicy(""), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(PlacementTest, FunctionAndVersionMustMatch) {
  std::vector<WorkerView> workers = {Worker("w1")};
  workers[0].functions = {"TrainEval@1", "Other@2"};
  EXPECT_EQ(Pack(Demand(), workers).value_or(""), "w1");
  RunDemand v2 = Demand();
  v2.version = "2";
  EXPECT_THAT(Pack(v2, workers),
              StatusIs(absl::StatusCode::kFailedPrecondition, "no live worker offers TrainEval@2"));
  RunDemand other = Demand();
  other.function = "Other";
  EXPECT_THAT(Pack(other, workers),
              StatusIs(absl::StatusCode::kFailedPrecondition, "no live worker offers Other@1"));
  other.version = "2";
  EXPECT_EQ(Pack(other, workers).value_or(""), "w1");
  EXPECT_THAT(Pack(Demand(), {}),
              StatusIs(absl::StatusCode::kFailedPrecondition, "no live worker offers TrainEval@1"));
}

TEST(PlacementTest, Cpus) {
  std::vector<WorkerView> workers = {Worker("w1", /*cpus=*/4)};
  EXPECT_THAT(Pack(Demand(8), workers),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "no worker offers TrainEval@1 with cpus>=8 (worker w1 has 4 cpus)"));
  workers[0].in_use.set_cpus(3);
  EXPECT_THAT(Pack(Demand(2), workers),
              StatusIs(absl::StatusCode::kUnavailable,
                       "the only worker able to run TrainEval@1 is at capacity "
                       "(worker w1 has 1 of 4 cpus free)"));
  EXPECT_EQ(Pack(Demand(1), workers).value_or(""), "w1");
}

TEST(PlacementTest, Memory) {
  std::vector<WorkerView> workers = {Worker("w1", 8, /*memory=*/8 * kGiB)};
  EXPECT_THAT(Pack(Demand(1, 16 * kGiB), workers),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "no worker offers TrainEval@1 with memory>=16GiB "
                       "(worker w1 has 8GiB memory)"));
  workers[0].in_use.set_memory_bytes(7 * kGiB);
  EXPECT_THAT(Pack(Demand(1, kGiB + kGiB / 2), workers),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("has 1GiB of 8GiB memory free")));
  EXPECT_EQ(Pack(Demand(1, kGiB), workers).value_or(""), "w1");
}

TEST(PlacementTest, Gpus) {
  std::vector<WorkerView> workers = {Worker("w1", 8, 32 * kGiB, /*gpus=*/0),
                                     Worker("w2", 8, 32 * kGiB, /*gpus=*/2)};
  EXPECT_EQ(Pack(Demand(1, kGiB, 1), workers).value_or(""), "w2");
  workers[1].in_use.set_gpus(2);
  EXPECT_THAT(Pack(Demand(1, kGiB, 1), workers),
              StatusIs(absl::StatusCode::kUnavailable,
                       "the only worker able to run TrainEval@1 is at capacity "
                       "(worker w2 has 0 of 2 gpus free); 1 other worker offering it can never "
                       "take it"));
  EXPECT_THAT(Pack(Demand(1, kGiB, 3), workers),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "no worker offers TrainEval@1 with gpus>=3 "
                       "(worker w1 has 0 gpus; worker w2 has 2 gpus)"));
  // A run needing no gpu may use either.
  EXPECT_THAT(Pack(Demand(1, kGiB, 0), workers), IsOk());
}

TEST(PlacementTest, CustomResources) {
  std::vector<WorkerView> workers = {Worker("w1"), Worker("w2")};
  (*workers[1].capacity.mutable_custom())["tpu"] = 2;
  RunDemand d = Demand();
  d.custom["tpu"] = 3;
  EXPECT_THAT(Pack(d, workers), StatusIs(absl::StatusCode::kFailedPrecondition,
                                         "no worker offers TrainEval@1 with tpu>=3 "
                                         "(worker w1 has no tpu; worker w2 has 2 tpu)"));
  d.custom["tpu"] = 1.5;
  EXPECT_EQ(Pack(d, workers).value_or(""), "w2");
  (*workers[1].in_use.mutable_custom())["tpu"] = 1;
  EXPECT_THAT(Pack(d, workers),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("worker w2 has 1 of 2 tpu free")));
  d.custom["tpu"] = 0;  // asking for none of a resource is no constraint
  EXPECT_THAT(Pack(d, workers), IsOk());
}

TEST(PlacementTest, LabelSelector) {
  std::vector<WorkerView> workers = {Worker("w1"), Worker("w2"), Worker("w3")};
  workers[1].labels = {{"pool", "cpu"}};
  workers[2].labels = {{"pool", "gpu"}, {"zone", "a"}};
  RunDemand d = Demand();
  d.label_selector = {{"pool", "gpu"}};
  EXPECT_EQ(Pack(d, workers).value_or(""), "w3");
  d.label_selector["zone"] = "b";
  EXPECT_THAT(Pack(d, workers),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "no worker offers TrainEval@1 with label pool=gpu, label zone=b "
                       "(worker w1 lacks label pool=gpu; worker w2 has label pool=cpu; "
                       "worker w3 has label zone=a)"));
}

TEST(PlacementTest, TheDesignExampleMessage) {
  std::vector<WorkerView> workers = {Worker("w1"), Worker("w2", 8, 32 * kGiB, 4)};
  RunDemand d = Demand(1, kGiB, 1);
  d.label_selector = {{"pool", "gpu"}};
  EXPECT_THAT(Pack(d, workers),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "no worker offers TrainEval@1 with label pool=gpu "
                       "(worker w1 lacks label pool=gpu; worker w2 lacks label pool=gpu)"));
  workers[0].labels = {{"pool", "gpu"}};
  EXPECT_THAT(Pack(d, workers),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "no worker offers TrainEval@1 with gpus>=1, label pool=gpu "
                       "(worker w1 has 0 gpus; worker w2 lacks label pool=gpu)"));
}

TEST(PlacementTest, DeadAndDrainingWorkersAreSkipped) {
  std::vector<WorkerView> workers = {Worker("w1"), Worker("w2"), Worker("w3")};
  workers[0].alive = false;
  workers[1].draining = true;
  workers[2].capacity.set_cpus(64);  // the least loaded: pack would prefer the others
  workers[0].in_use.set_cpus(4);
  workers[1].in_use.set_cpus(4);
  EXPECT_EQ(Pack(Demand(), workers).value_or(""), "w3");
  EXPECT_EQ(Policy("spread")->Place(Demand(), workers).value_or(""), "w3");
  workers[2].functions.clear();
  EXPECT_THAT(Pack(Demand(), workers), StatusIs(absl::StatusCode::kFailedPrecondition,
                                                "no live worker offers TrainEval@1 "
                                                "(worker w1 is dead; worker w2 is draining)"));
}

TEST(PlacementTest, DetailIsCapped) {
  std::vector<WorkerView> workers;
  for (int i = 1; i <= 6; ++i) workers.push_back(Worker("w" + std::to_string(i), 2));
  EXPECT_THAT(Pack(Demand(4), workers),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "no worker offers TrainEval@1 with cpus>=4 (worker w1 has 2 cpus; "
                       "worker w2 has 2 cpus; worker w3 has 2 cpus; and 3 more)"));
  for (WorkerView& w : workers) w.in_use.set_cpus(2);
  EXPECT_THAT(Pack(Demand(1), workers),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("all 6 workers able to run TrainEval@1 are at capacity (")));
}

TEST(PlacementTest, InvalidDemand) {
  std::vector<WorkerView> workers = {Worker("w1")};
  EXPECT_THAT(Pack(Demand(-1), workers),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cpus")));
  EXPECT_THAT(Pack(Demand(std::nan("")), workers), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Pack(Demand(1, -1), workers),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("memory")));
  EXPECT_THAT(Pack(Demand(1, 1, -1), workers),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("gpus")));
  RunDemand d = Demand();
  d.custom["tpu"] = -2;
  EXPECT_THAT(Pack(d, workers), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tpu")));
  d = Demand();
  d.function.clear();
  EXPECT_THAT(Pack(d, workers), StatusIs(absl::StatusCode::kInvalidArgument));
}

// Places `n` runs one after another, reserving each on its worker; the chosen ids in order.
std::vector<std::string> PlaceMany(PlacementPolicy& policy, const RunDemand& d,
                                   std::vector<WorkerView>& workers, int n) {
  std::vector<std::string> chosen;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<std::string> id = policy.Place(d, workers);
    if (!id.ok()) {
      chosen.push_back(std::string(absl::StatusCodeToString(id.status().code())));
      continue;
    }
    chosen.push_back(*id);
    for (WorkerView& w : workers) {
      if (w.id == *id) Reserve(d, &w);
    }
  }
  return chosen;
}

TEST(PlacementTest, PackFillsOneWorkerBeforeTheNext) {
  std::vector<WorkerView> workers = {Worker("w2", 2), Worker("w1", 2)};
  EXPECT_THAT(PlaceMany(*Policy("pack"), Demand(1), workers, 5),
              ::testing::ElementsAre("w1", "w1", "w2", "w2", "UNAVAILABLE"));
}

TEST(PlacementTest, SpreadAlternates) {
  std::vector<WorkerView> workers = {Worker("w2", 2), Worker("w1", 2)};
  EXPECT_THAT(PlaceMany(*Policy("spread"), Demand(1), workers, 5),
              ::testing::ElementsAre("w1", "w2", "w1", "w2", "UNAVAILABLE"));
}

TEST(PlacementTest, PackAndSpreadDisagreeOnTheSameInput) {
  std::vector<WorkerView> workers = {Worker("a", 8), Worker("b", 8), Worker("c", 8)};
  workers[0].in_use.set_cpus(2);
  workers[1].in_use.set_cpus(6);
  EXPECT_EQ(Policy("pack")->Place(Demand(), workers).value_or(""), "b");
  EXPECT_EQ(Policy("spread")->Place(Demand(), workers).value_or(""), "c");
  // The load is the largest used fraction of any dimension, run slots included.
  workers[2].max_concurrent_runs = 4;
  workers[2].running = 3;
  EXPECT_EQ(Policy("pack")->Place(Demand(), workers).value_or(""), "b");  // 0.75 == 0.75: by id
  EXPECT_EQ(Policy("spread")->Place(Demand(), workers).value_or(""), "a");
}

TEST(PlacementTest, ConcurrencyLimit) {
  std::vector<WorkerView> workers = {Worker("w1", 1000)};
  workers[0].max_concurrent_runs = 2;
  EXPECT_THAT(PlaceMany(*Policy("pack"), Demand(0.5), workers, 3),
              ::testing::ElementsAre("w1", "w1", "UNAVAILABLE"));
  EXPECT_THAT(Pack(Demand(0.5), workers),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("worker w1 runs 2 of at most 2")));
  workers[0].max_concurrent_runs = 0;  // no limit
  EXPECT_THAT(Pack(Demand(0.5), workers), IsOk());
}

TEST(PlacementTest, CapacityAccountingWithFractionsReserveAndRelease) {
  std::vector<WorkerView> workers = {Worker("w1", 1, 10 * kGiB)};
  RunDemand d = Demand(0.1, kGiB / 2);
  RunDemand mixed = d;
  mixed.custom["lic"] = 0.25;
  (*workers[0].capacity.mutable_custom())["lic"] = 1;
  // 0.1 cpu ten times adds up to (nearly) 1: all ten fit, the eleventh does not.
  std::vector<std::string> chosen = PlaceMany(*Policy("pack"), d, workers, 11);
  EXPECT_EQ(std::count(chosen.begin(), chosen.end(), "w1"), 10);
  EXPECT_EQ(chosen.back(), "UNAVAILABLE");
  EXPECT_EQ(workers[0].running, 10);
  EXPECT_EQ(workers[0].in_use.memory_bytes(), 5 * kGiB);
  Release(d, &workers[0]);
  EXPECT_EQ(workers[0].running, 9);
  EXPECT_EQ(workers[0].in_use.memory_bytes(), 9 * kGiB / 2);
  EXPECT_EQ(Pack(d, workers).value_or(""), "w1");
  for (int i = 0; i < 9; ++i) Release(d, &workers[0]);
  EXPECT_EQ(workers[0].running, 0);
  EXPECT_NEAR(workers[0].in_use.cpus(), 0, 1e-9);
  EXPECT_EQ(workers[0].in_use.memory_bytes(), 0);
  // Custom amounts are accounted for too.
  chosen = PlaceMany(*Policy("pack"), mixed, workers, 5);
  EXPECT_EQ(std::count(chosen.begin(), chosen.end(), "w1"), 4);
  EXPECT_DOUBLE_EQ(workers[0].in_use.custom().at("lic"), 1);
}

TEST(PlacementTest, DeterministicWhateverTheInputOrder) {
  std::vector<WorkerView> workers;
  for (int i = 0; i < 8; ++i) {
    workers.push_back(Worker("w" + std::to_string(i), 4));
    workers.back().in_use.set_cpus(i % 3);  // several ties on load
  }
  std::mt19937_64 rng(5);
  std::vector<WorkerView> busy = workers;
  for (WorkerView& w : busy) w.in_use.set_cpus(4);
  for (int round = 0; round < 50; ++round) {
    std::shuffle(workers.begin(), workers.end(), rng);
    std::shuffle(busy.begin(), busy.end(), rng);
    EXPECT_EQ(Policy("pack")->Place(Demand(), workers).value_or(""), "w2");
    EXPECT_EQ(Policy("spread")->Place(Demand(), workers).value_or(""), "w0");
    EXPECT_THAT(Pack(Demand(), busy),
                StatusIs(absl::StatusCode::kUnavailable,
                         "all 8 workers able to run TrainEval@1 are at capacity (worker w0 has 0 "
                         "of 4 cpus free; worker w1 has 0 of 4 cpus free; worker w2 has 0 of 4 "
                         "cpus free; and 5 more)"));
  }
}

TEST(FitsTest, ExplainsWhyNot) {
  WorkerView w = Worker("w1", 2);
  std::string why;
  EXPECT_TRUE(Fits(Demand(2), w, &why));
  EXPECT_TRUE(Fits(Demand(2), w, nullptr));
  EXPECT_FALSE(Fits(Demand(3), w, &why));
  EXPECT_EQ(why, "worker w1 has 2 cpus");
  EXPECT_FALSE(Fits(Demand(3), w, nullptr));
  w.alive = false;
  EXPECT_FALSE(Fits(Demand(1), w, &why));
  EXPECT_EQ(why, "worker w1 is dead");
  w.alive = true;
  w.functions.clear();
  EXPECT_FALSE(Fits(Demand(1), w, &why));
  EXPECT_EQ(why, "worker w1 does not offer TrainEval@1");
}

TEST(RunDemandForTest, CopiesTheSignature) {
  v1::FunctionSignature sig;
  sig.set_name("TrainEval");
  sig.set_version("3");
  sig.set_cpus(2.5);
  sig.set_memory_bytes(kGiB);
  sig.set_gpus(1);
  (*sig.mutable_resources())["tpu"] = 4;
  (*sig.mutable_labels())["pool"] = "gpu";
  RunDemand d = RunDemandFor(sig);
  EXPECT_EQ(d.function, "TrainEval");
  EXPECT_EQ(d.version, "3");
  EXPECT_EQ(d.cpus, 2.5);
  EXPECT_EQ(d.memory_bytes, kGiB);
  EXPECT_EQ(d.gpus, 1);
  EXPECT_EQ(d.custom, (std::map<std::string, double>{{"tpu", 4}}));
  EXPECT_EQ(d.label_selector, (std::map<std::string, std::string>{{"pool", "gpu"}}));
}

// A brute-force reference for both policies over random clusters, written without the
// implementation's helpers: amounts are multiples of 1/4 so sums are exact.
struct Model {
  static bool Live(const WorkerView& w, const RunDemand& d) {
    return w.alive && !w.draining && w.functions.contains(d.function + "@" + d.version);
  }
  static bool FitsIdle(const WorkerView& w, const RunDemand& d) {
    for (const auto& [k, v] : d.label_selector) {
      if (!w.labels.contains(k) || w.labels.at(k) != v) return false;
    }
    const double tpu = w.capacity.custom().contains("tpu") ? w.capacity.custom().at("tpu") : 0;
    const double want_tpu = d.custom.contains("tpu") ? d.custom.at("tpu") : 0;
    return d.cpus <= w.capacity.cpus() && d.memory_bytes <= w.capacity.memory_bytes() &&
           d.gpus <= w.capacity.gpus() && want_tpu <= tpu;
  }
  static bool FitsNow(const WorkerView& w, const RunDemand& d) {
    const double tpu = w.capacity.custom().contains("tpu") ? w.capacity.custom().at("tpu") : 0;
    const double used_tpu = w.in_use.custom().contains("tpu") ? w.in_use.custom().at("tpu") : 0;
    const double want_tpu = d.custom.contains("tpu") ? d.custom.at("tpu") : 0;
    return FitsIdle(w, d) && (w.max_concurrent_runs <= 0 || w.running < w.max_concurrent_runs) &&
           d.cpus <= w.capacity.cpus() - w.in_use.cpus() &&
           d.memory_bytes <= w.capacity.memory_bytes() - w.in_use.memory_bytes() &&
           d.gpus <= w.capacity.gpus() - w.in_use.gpus() && want_tpu <= tpu - used_tpu;
  }
  static double Load(const WorkerView& w) {
    std::vector<double> fractions = {0};
    if (w.max_concurrent_runs > 0) fractions.push_back(1.0 * w.running / w.max_concurrent_runs);
    if (w.capacity.cpus() > 0) fractions.push_back(w.in_use.cpus() / w.capacity.cpus());
    if (w.capacity.memory_bytes() > 0) {
      fractions.push_back(1.0 * w.in_use.memory_bytes() / w.capacity.memory_bytes());
    }
    if (w.capacity.gpus() > 0) fractions.push_back(1.0 * w.in_use.gpus() / w.capacity.gpus());
    if (w.capacity.custom().contains("tpu") && w.capacity.custom().at("tpu") > 0) {
      const double used = w.in_use.custom().contains("tpu") ? w.in_use.custom().at("tpu") : 0;
      fractions.push_back(used / w.capacity.custom().at("tpu"));
    }
    return *std::max_element(fractions.begin(), fractions.end());
  }
  // The expected worker id, or the expected error code.
  static std::pair<std::string, absl::StatusCode> Place(bool pack, const RunDemand& d,
                                                        const std::vector<WorkerView>& workers) {
    const WorkerView* best = nullptr;
    bool any_busy = false;
    for (const WorkerView& w : workers) {
      if (!Live(w, d) || !FitsIdle(w, d)) continue;
      if (!FitsNow(w, d)) {
        any_busy = true;
        continue;
      }
      if (best == nullptr) {
        best = &w;
        continue;
      }
      const double a = Load(w), b = Load(*best);
      const bool better = pack ? a > b : a < b;
      if (better || (a == b && w.id < best->id)) best = &w;
    }
    if (best != nullptr) return {best->id, absl::StatusCode::kOk};
    return {"", any_busy ? absl::StatusCode::kUnavailable : absl::StatusCode::kFailedPrecondition};
  }
};

TEST(PlacementTest, RandomClustersAgreeWithTheModel) {
  std::mt19937_64 rng(424242);
  auto quarter = [&rng](int max_quarters) { return (rng() % (max_quarters + 1)) / 4.0; };
  int placed = 0, busy = 0, impossible = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<WorkerView> workers;
    const int n = static_cast<int>(rng() % 6);
    for (int i = 0; i < n; ++i) {
      WorkerView w;
      w.id = "w" + std::to_string(rng() % 100);  // ids may repeat: a tie the model also breaks
      w.capacity.set_cpus(quarter(32));
      w.capacity.set_memory_bytes(static_cast<int64_t>(rng() % 8) * kGiB);
      w.capacity.set_gpus(static_cast<int>(rng() % 3));
      if (rng() % 2) (*w.capacity.mutable_custom())["tpu"] = quarter(8);
      w.in_use.set_cpus(std::min(w.capacity.cpus(), quarter(32)));
      w.in_use.set_memory_bytes(
          std::min(w.capacity.memory_bytes(), static_cast<int64_t>(rng() % 8) * kGiB));
      w.in_use.set_gpus(std::min(w.capacity.gpus(), static_cast<int>(rng() % 3)));
      w.max_concurrent_runs = static_cast<int>(rng() % 4);
      w.running = static_cast<int>(rng() % 4);
      if (rng() % 3 == 0) w.labels["pool"] = rng() % 2 ? "gpu" : "cpu";
      w.functions = {rng() % 4 ? "F@1" : "F@2"};
      w.alive = rng() % 8 != 0;
      w.draining = rng() % 8 == 0;
      workers.push_back(std::move(w));
    }
    RunDemand d;
    d.function = "F";
    d.version = "1";
    d.cpus = quarter(12);
    d.memory_bytes = static_cast<int64_t>(rng() % 4) * kGiB;
    d.gpus = static_cast<int>(rng() % 2);
    if (rng() % 3 == 0) d.custom["tpu"] = quarter(4);
    if (rng() % 4 == 0) d.label_selector["pool"] = "gpu";

    for (bool pack : {true, false}) {
      SCOPED_TRACE("round " + std::to_string(round) + (pack ? " pack" : " spread"));
      const auto [id, code] = Model::Place(pack, d, workers);
      absl::StatusOr<std::string> got = Policy(pack ? "pack" : "spread")->Place(d, workers);
      ASSERT_EQ(got.status().code(), code) << got.status();
      if (got.ok()) {
        ASSERT_EQ(*got, id);
        ++placed;
      } else if (code == absl::StatusCode::kUnavailable) {
        ++busy;
      } else {
        ++impossible;
      }
    }
  }
  EXPECT_GT(placed, 300) << busy << " " << impossible;
  EXPECT_GT(busy, 300) << placed << " " << impossible;
  EXPECT_GT(impossible, 300) << placed << " " << busy;
}

}  // namespace
}  // namespace sematic::scheduler
