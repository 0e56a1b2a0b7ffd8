#include "worker/flags.h"

#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sematic::worker {
namespace {

using ::sematic::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ParseByteSizeTest, BinaryDecimalAndPlainUnits) {
  EXPECT_EQ(*ParseByteSize("8GiB"), int64_t{8} << 30);
  EXPECT_EQ(*ParseByteSize("512MiB"), int64_t{512} << 20);
  EXPECT_EQ(*ParseByteSize("512Mi"), int64_t{512} << 20);
  EXPECT_EQ(*ParseByteSize("1.5GiB"), int64_t{3} << 29);
  EXPECT_EQ(*ParseByteSize("2gib"), int64_t{2} << 30);
  EXPECT_EQ(*ParseByteSize("1KiB"), 1024);
  EXPECT_EQ(*ParseByteSize("2TiB"), int64_t{2} << 40);
  EXPECT_EQ(*ParseByteSize("100MB"), 100'000'000);
  EXPECT_EQ(*ParseByteSize("3G"), 3'000'000'000);
  EXPECT_EQ(*ParseByteSize("4096"), 4096);
  EXPECT_EQ(*ParseByteSize("4096B"), 4096);
  EXPECT_EQ(*ParseByteSize("0"), 0);
}

TEST(ParseByteSizeTest, RejectsMalformedSizes) {
  for (const char* bad : {"", "GiB", "8XB", "-1GiB", "8 GiB", "1e3", "8GiBs", "99999999TiB",
                          "1.2.3MiB"}) {
    EXPECT_THAT(ParseByteSize(bad), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
}

Machine TestMachine() {
  Machine m;
  m.cpus = 6;
  m.memory_bytes = int64_t{16} << 30;
  m.gpus = 0;
  return m;
}

TEST(ParseWorkerFlagsTest, EveryFlag) {
  absl::StatusOr<WorkerFlags> f = ParseWorkerFlags(
      {"--scheduler=127.0.0.1:7070", "--cpus=4", "--memory=8GiB", "--gpus", "1",
       "--resource=tpu=2", "--label=pool=gpu", "--label=zone=a", "--max-runs=3",
       "--cache-dir=/tmp/c", "--cache-size=1GiB", "--worker-id=w7", "--cancel-grace=2s",
       "--drain_timeout=30s", "--inline-limit=64KiB", "--isolate=process", "--result-hold=0"},
      TestMachine());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->scheduler, "127.0.0.1:7070");
  EXPECT_EQ(f->options.resources.cpus(), 4);
  EXPECT_EQ(f->options.resources.memory_bytes(), int64_t{8} << 30);
  EXPECT_EQ(f->options.resources.gpus(), 1);
  EXPECT_EQ(f->options.resources.custom().at("tpu"), 2);
  EXPECT_EQ(f->options.labels.at("pool"), "gpu");
  EXPECT_EQ(f->options.labels.at("zone"), "a");
  EXPECT_EQ(f->options.max_concurrent_runs, 3);
  EXPECT_EQ(f->options.cache_dir, "/tmp/c");
  EXPECT_EQ(f->options.cache_max_bytes, int64_t{1} << 30);
  EXPECT_EQ(f->options.worker_id, "w7");
  EXPECT_EQ(f->options.cancel_grace, absl::Seconds(2));
  EXPECT_EQ(f->drain_timeout, absl::Seconds(30));
  EXPECT_EQ(f->options.max_inline_output_bytes, 64 << 10);
  EXPECT_EQ(f->options.isolation, Isolation::kProcess);
  EXPECT_EQ(f->options.result_hold, absl::ZeroDuration());
}

TEST(ParseWorkerFlagsTest, DefaultsComeFromTheMachine) {
  absl::StatusOr<WorkerFlags> f = ParseWorkerFlags({"--scheduler=h:1"}, TestMachine());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->options.resources.cpus(), 6);
  EXPECT_EQ(f->options.resources.memory_bytes(), int64_t{16} << 30);
  EXPECT_EQ(f->options.resources.gpus(), 0);
  EXPECT_EQ(f->options.max_concurrent_runs, 6);
  EXPECT_FALSE(f->options.cache_dir.empty());
  EXPECT_EQ(f->options.isolation, Isolation::kThread);
}

TEST(ParseWorkerFlagsTest, ErrorsNameTheFlagAndTheExpectation) {
  const Machine m = TestMachine();
  EXPECT_THAT(ParseWorkerFlags({"--cpus=4"}, m),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--scheduler: expected")));
  EXPECT_THAT(ParseWorkerFlags({"--scheduler=h:1", "--memory=8XB"}, m),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--memory: expected a size like 8GiB, 512MiB or 1000000, got \"8XB\""));
  EXPECT_THAT(ParseWorkerFlags({"--scheduler=h:1", "--cpus=0"}, m),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--cpus: expected")));
  EXPECT_THAT(ParseWorkerFlags({"--scheduler=h:1", "--gpus=-1"}, m),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--gpus: expected")));
  EXPECT_THAT(ParseWorkerFlags({"--scheduler=h:1", "--resource=tpu"}, m),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--resource: expected NAME=COUNT")));
  EXPECT_THAT(ParseWorkerFlags({"--scheduler=h:1", "--max-runs=0"}, m),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--max-runs: expected")));
  EXPECT_THAT(ParseWorkerFlags({"--scheduler=h:1", "--bogus=1"}, m),
              StatusIs(absl::StatusCode::kInvalidArgument, "--bogus: unknown flag"));
  EXPECT_THAT(ParseWorkerFlags({"--scheduler=h:1", "--load=x.so"}, m),
              StatusIs(absl::StatusCode::kInvalidArgument, "--load: unknown flag"));
  EXPECT_THAT(ParseWorkerFlags({"--scheduler=h:1", "--cpus"}, m),
              StatusIs(absl::StatusCode::kInvalidArgument, "--cpus: expected a value"));
  EXPECT_THAT(ParseWorkerFlags({"--scheduler=h:1", "stray"}, m),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unexpected argument")));
  absl::StatusOr<WorkerFlags> load =
      ParseWorkerFlags({"--scheduler=h:1", "--load=a.so", "--load=b.so"}, m, true);
  ASSERT_TRUE(load.ok());
  EXPECT_THAT(load->load, ::testing::ElementsAre("a.so", "b.so"));
  // The step process of an isolated worker loads them too.
  EXPECT_THAT(load->options.step_process_libraries, ::testing::ElementsAre("a.so", "b.so"));
  EXPECT_THAT(ParseWorkerFlags({"--scheduler=h:1", "--isolate=vm"}, m),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--isolate: expected thread or process, got \"vm\""));
}

TEST(DetectMachineTest, FindsCpusAndMemory) {
  Machine m = DetectMachine();
  EXPECT_GE(m.cpus, 1);
  EXPECT_GT(m.memory_bytes, int64_t{64} << 20);
  EXPECT_GE(m.gpus, 0);
}

}  // namespace
}  // namespace sematic::worker
