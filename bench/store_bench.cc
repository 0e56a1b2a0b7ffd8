// The scheduler store: commit throughput of run records by batch size, with and without fsync,
// and the restart-recovery scan (ScanAllRuns) over 1M stored runs (budget: <= 5 s).
//
//   build-store/bench/store_bench                                  # all
//   build-store/bench/store_bench --benchmark_filter=ScanAllRuns   # recovery only
//
// Stores live under $TMPDIR (default /tmp): the numbers are those of that file system.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "common/ids.h"
#include "scheduler/store/store.h"

namespace sematic::scheduler {
namespace {

std::filesystem::path TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  return std::filesystem::path(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") /
         ("store_bench-" + RandomHex64());
}

std::unique_ptr<Store> OpenOrDie(const std::filesystem::path& dir, bool sync) {
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open({.path = dir.string(), .sync = sync});
  if (!store.ok()) {
    std::fprintf(stderr, "opening %s: %s\n", dir.c_str(), store.status().ToString().c_str());
    std::abort();
  }
  return *std::move(store);
}

void CommitOrDie(Store& store, Store::Batch batch) {
  absl::Status status = store.Commit(std::move(batch));
  if (!status.ok()) {
    std::fprintf(stderr, "commit: %s\n", status.ToString().c_str());
    std::abort();
  }
}

// A run record shaped like the scheduler's: a step with two inputs from upstream runs, its call
// node, timestamps and an output digest (about 600 bytes serialized).
internal::StoredRun RealisticRun(RunKey key) {
  internal::StoredRun stored;
  v1::Run& run = *stored.mutable_run();
  run.set_id(FormatRunId(key));
  run.set_parent_id(FormatRunId({key.job, 0}));
  run.set_job_id(FormatJobId(key.job));
  run.set_function("examples.mnist.train_eval");
  run.set_version("3f2a9c1e");
  run.set_node_id(absl::StrCat("n", key.index));
  run.set_label("examples/mnist/pipeline.cc:42");
  run.set_state(v1::SUCCEEDED);
  run.set_attempt(1);
  for (const char* name : {"dataset", "config"}) {
    v1::RunInput& input = *run.add_inputs();
    input.set_name(name);
    input.set_digest(std::string(64, 'a'));
  }
  run.set_output_digest(std::string(64, 'b'));
  run.set_created_unix_micros(1700000000000000 + static_cast<int64_t>(key.index));
  run.set_started_unix_micros(run.created_unix_micros() + 1000);
  run.set_ended_unix_micros(run.created_unix_micros() + 2000);
  v1::CallNode& node = *stored.mutable_node();
  node.set_id(run.node_id());
  node.set_function(run.function());
  node.set_version(run.version());
  node.set_created_at(run.label());
  for (const char* name : {"dataset", "config"}) {
    v1::Arg& arg = *node.add_args();
    arg.set_name(name);
    arg.set_node(absl::StrCat("n", key.index / 2));
  }
  node.mutable_output_type()->set_kind(v1::TypeDesc::FLOAT);
  stored.add_input_run_ids(FormatRunId({key.job, key.index / 2}));
  stored.add_input_run_ids(FormatRunId({key.job, key.index / 2 + 1}));
  stored.set_worker_id("worker-7f3a");
  return stored;
}

// Commits batches of state(0) run records (sync = state(1)); reports records/s and, per
// commit, the latency in the time column.
void BM_CommitRuns(benchmark::State& state) {
  const int64_t batch_size = state.range(0);
  const bool sync = state.range(1) != 0;
  const std::filesystem::path dir = TempDir();
  {
    std::unique_ptr<Store> store = OpenOrDie(dir, sync);
    internal::StoredRun run = RealisticRun({1, 0});
    uint64_t index = 0;
    for (auto _ : state) {
      Store::Batch batch;
      for (int64_t i = 0; i < batch_size; ++i) {
        run.mutable_run()->set_id(FormatRunId({1, ++index}));
        batch.PutRun(run);
      }
      CommitOrDie(*store, std::move(batch));
    }
    state.counters["records/s"] = benchmark::Counter(
        static_cast<double>(state.iterations() * batch_size), benchmark::Counter::kIsRate);
    state.counters["record_bytes"] = static_cast<double>(run.ByteSizeLong());
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_CommitRuns)
    ->ArgNames({"batch", "sync"})
    ->ArgsProduct({{1, 64, 1024}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// Restart recovery: ScanAllRuns over 1M runs (10 jobs x 100k) written in 10k-run batches,
// flushed, and reopened (a fresh process would find them like this). The time column is the
// whole scan.
void BM_ScanAllRuns(benchmark::State& state) {
  const uint64_t runs = static_cast<uint64_t>(state.range(0));
  const std::filesystem::path dir = TempDir();
  {
    std::unique_ptr<Store> store = OpenOrDie(dir, /*sync=*/false);
    constexpr uint64_t kJobs = 10;
    Store::Batch batch;
    for (uint64_t job = 1; job <= kJobs; ++job) {
      for (uint64_t i = 0; i < runs / kJobs; ++i) {
        batch.PutRun(RealisticRun({job, i}));
        if (batch.size() == 10000) CommitOrDie(*store, std::move(batch));
      }
    }
    CommitOrDie(*store, std::move(batch));
    if (!store->Flush().ok()) std::abort();
    store.reset();
    store = OpenOrDie(dir, /*sync=*/false);
    uint64_t seen = 0;
    for (auto _ : state) {
      seen = 0;
      absl::Status status = store->ScanAllRuns([&](const internal::StoredRun& run) {
        seen += run.run().state() == v1::SUCCEEDED ? 1 : 0;
        return true;
      });
      if (!status.ok() || seen != runs) {
        state.SkipWithError("the scan did not see every run");
        break;
      }
    }
    state.counters["runs/s"] = benchmark::Counter(static_cast<double>(state.iterations() * seen),
                                                  benchmark::Counter::kIsRate);
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_ScanAllRuns)
    ->Arg(1000000)
    ->ArgNames({"runs"})
    ->Unit(benchmark::kSecond)
    ->UseRealTime()
    ->Iterations(3);

}  // namespace
}  // namespace sematic::scheduler
