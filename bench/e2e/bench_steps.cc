// Steps of the end-to-end benchmark (e2e_bench.cc), built as libbench_steps.so for
// `sematic-worker --load`: compiled against the SDK's headers, its SDK symbols resolved from
// the loading binary.
//
// Steps that do no work declare Cpus(0), so how many run at once on a worker is bounded by its
// --max-runs rather than by its cpus; Busy declares one cpu.
#include <time.h>

#include <cstdint>
#include <vector>

#include "sematic/sematic.h"

namespace bench_steps {

using ::sematic::Call;
using ::sematic::Future;

int NoOp(int x) { return x; }
SEMATIC_FUNC(NoOp, "x").Cpus(0);

int Count(const std::vector<int>& xs) { return static_cast<int>(xs.size()); }
SEMATIC_FUNC(Count, "xs").Cpus(0);

// Count(NoOp(0), ..., NoOp(n-1)) = n.
Future<int> FanOut(int n) {
  std::vector<Future<int>> parts;
  parts.reserve(n);
  for (int i = 0; i < n; ++i) parts.push_back(Call(NoOp, i));
  return Call(Count, parts);
}
SEMATIC_FUNC(FanOut, "n").Cpus(0);

// FanOut's graph, returned by a step whose last act is one log line: its time (the worker's
// clock, the same host's as the scheduler's) marks the graph leaving the step's hands, the start
// of e2e_bench's sub-graph registration latency.
Future<int> SubGraph(int n) {
  std::vector<Future<int>> parts;
  parts.reserve(n);
  for (int i = 0; i < n; ++i) parts.push_back(Call(NoOp, i));
  Future<int> count = Call(Count, parts);
  sematic::Context::Current().LogLine("graph built");
  return count;
}
SEMATIC_FUNC(SubGraph, "n").Cpus(0);

int Increment(int x) { return x + 1; }
SEMATIC_FUNC(Increment, "x").Cpus(0);

// Increment(Increment(...Increment(0))) = n: n steps, each waiting for the one before.
Future<int> Chain(int n) {
  Future<int> x = Call(Increment, 0);
  for (int i = 1; i < n; ++i) x = Call(Increment, x);
  return x;
}
SEMATIC_FUNC(Chain, "n").Cpus(0);

int64_t ThreadCpuMicros() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return int64_t{t.tv_sec} * 1'000'000 + t.tv_nsec / 1000;
}

// Spins until this thread has used `micros` of CPU (CPU time, not wall time, so that a
// preempted step still does the same work); returns `point`.
int Busy(int point, int micros) {
  const int64_t end = ThreadCpuMicros() + micros;
  volatile uint64_t sink = 0;
  while (ThreadCpuMicros() < end) {
    for (int i = 0; i < 1000; ++i) sink = sink + i;
  }
  return point;
}
SEMATIC_FUNC(Busy, "point", "micros");

int64_t Reduce(const std::vector<int>& points) {
  int64_t total = 0;
  for (int p : points) total += p;
  return total;
}
SEMATIC_FUNC(Reduce, "points").Cpus(0);

// Reduce(Busy(0, micros), ..., Busy(points-1, micros)) = points * (points - 1) / 2.
Future<int64_t> Sweep(int points, int micros) {
  std::vector<Future<int>> results;
  results.reserve(points);
  for (int i = 0; i < points; ++i) results.push_back(Call(Busy, i, micros));
  return Call(Reduce, results);
}
SEMATIC_FUNC(Sweep, "points", "micros").Cpus(0);

}  // namespace bench_steps
