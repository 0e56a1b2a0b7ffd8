// Overhead of the in-process runner per no-op step: a nested step fans out N no-op calls and a
// gather feeds them to one reducer. Everything the runner does per step is included: graph
// building, scheduling on the pool, decoding/encoding, SHA-256 artifact ids, run records.
//
//   build/bench/runner_bench --benchmark_counters_tabular=true
#include <vector>

#include "benchmark/benchmark.h"
#include "sematic/sematic.h"

namespace {

int Noop(int x) { return x; }
SEMATIC_FUNC(Noop, "x");

int Count(const std::vector<int>& xs) { return static_cast<int>(xs.size()); }
SEMATIC_FUNC(Count, "xs");

sematic::Future<int> FanOut(int n) {
  std::vector<sematic::Future<int>> parts;
  parts.reserve(n);
  for (int i = 0; i < n; ++i) parts.push_back(sematic::Call(Noop, i));
  return sematic::Call(Count, parts);
}
SEMATIC_FUNC(FanOut, "n");

void BM_FanOutNoop(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    sematic::SilentRunner runner(sematic::RunnerOptions{.parallelism = static_cast<int>(state.range(1))});
    absl::StatusOr<int> count = runner.Resolve(sematic::Call(FanOut, n));
    if (!count.ok() || *count != n) state.SkipWithError("resolution failed");
  }
  state.SetItemsProcessed(state.iterations() * n);
  // Seconds of wall time per step (printed with an SI suffix: "3.2u" is 3.2 µs).
  state.counters["per_step"] = benchmark::Counter(
      static_cast<double>(n) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_FanOutNoop)
    ->ArgsProduct({{100000}, {1, 2}})
    ->ArgNames({"steps", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
