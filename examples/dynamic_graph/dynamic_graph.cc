// A graph shaped while it runs: the fan-out width comes from a step's output, a branch depends on
// a computed value, and a nested step recurses.
//
//   build/examples/dynamic_graph [n] [--runner=silent|embedded|cluster] [--scheduler=HOST:PORT]
//   build/examples/dynamic_graph worker --scheduler=127.0.0.1:50051   # serve the steps
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "sematic/engine.h"
#include "sematic/sematic.h"
#include "worker/worker_main.h"

namespace {

using sematic::Call;
using sematic::Future;

// How many shards to process: known only at run time.
int CountShards(int n) { return n % 7 + 3; }
SEMATIC_FUNC(CountShards, "n");

double ProcessShard(int shard) { return shard * 1.5; }
SEMATIC_FUNC(ProcessShard, "shard");

double Mean(const std::vector<double>& xs) {
  double total = 0;
  for (double x : xs) total += x;
  return xs.empty() ? 0 : total / static_cast<double>(xs.size());
}
SEMATIC_FUNC(Mean, "xs");

// Fan-out decided by an upstream value: this nested step runs once `shards` is known.
Future<double> ProcessAll(int shards) {
  std::vector<Future<double>> parts;
  for (int s = 0; s < shards; ++s) parts.push_back(Call(ProcessShard, s));
  return Call(Mean, parts);
}
SEMATIC_FUNC(ProcessAll, "shards");

double Double(double x) { return 2 * x; }
SEMATIC_FUNC(Double, "x");

double Negate(double x) { return -x; }
SEMATIC_FUNC(Negate, "x");

// A branch on a computed value.
Future<double> Adjust(double mean) {
  if (mean > 3) return Call(Negate, mean);
  return Call(Double, mean);
}
SEMATIC_FUNC(Adjust, "mean");

// Recursion: Fibonacci as a tree of nested steps.
int Plus(int a, int b) { return a + b; }
SEMATIC_FUNC(Plus, "a", "b");

Future<int> Fib(int n) {
  if (n < 2) return n;
  return Call(Plus, Call(Fib, n - 1), Call(Fib, n - 2));
}
SEMATIC_FUNC(Fib, "n");

// The first pipeline as one nested step: the root of a job is a call with literal arguments,
// so the composition of calls lives in a step (see sematic/engine.h).
Future<double> AdjustedMean(int n) { return Call(Adjust, Call(ProcessAll, Call(CountShards, n))); }
SEMATIC_FUNC(AdjustedMean, "n");

}  // namespace

int main(int argc, char** argv) {
  if (sematic::worker::IsWorkerCommand(argc, argv)) return sematic::worker::Main(argc, argv);
  absl::StatusOr<std::unique_ptr<sematic::Runner>> runner = sematic::RunnerFromFlags(argc, argv);
  if (!runner.ok()) {
    std::fprintf(stderr, "%s\n", std::string(runner.status().message()).c_str());
    return 2;
  }
  const int n = argc > 1 ? std::atoi(argv[1]) : 12;
  absl::StatusOr<double> adjusted = (*runner)->Resolve(Call(AdjustedMean, n));
  const size_t adjusted_runs = (*runner)->last_job_run_count();
  absl::StatusOr<int> fib = (*runner)->Resolve(Call(Fib, n));
  if (!adjusted.ok() || !fib.ok()) {
    std::fprintf(stderr, "pipeline failed: %s %s\n", adjusted.status().ToString().c_str(),
                 fib.status().ToString().c_str());
    return 1;
  }
  std::printf("shards: %d, adjusted mean: %g, fib(%d) = %d\n", CountShards(n), *adjusted, n, *fib);
  std::printf("runs: %zu + %zu\n", adjusted_runs, (*runner)->last_job_run_count());
  return 0;
}
