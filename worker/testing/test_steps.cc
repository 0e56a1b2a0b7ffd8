// Steps for the worker's tests. Built twice: into test binaries directly, and as a shared
// library that sematic-worker loads with --load (it resolves the SDK from the host binary).
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "sematic/sematic.h"

namespace worker_test_steps {

using ::sematic::Call;
using ::sematic::Future;

int Double(int x) { return 2 * x; }
SEMATIC_FUNC(Double, "x");

int Total(const std::vector<int>& xs) {
  int t = 0;
  for (int x : xs) t += x;
  return t;
}
SEMATIC_FUNC(Total, "xs");

// Nested: Total(Double(0), ..., Double(n-1)).
Future<int> DoubleAll(int n) {
  std::vector<Future<int>> parts;
  for (int i = 0; i < n; ++i) parts.push_back(Call(Double, i));
  return Call(Total, parts);
}
SEMATIC_FUNC(DoubleAll, "n");

// Work that takes a while: 2 * x after `millis`, logging as it goes; stops early (returning
// -1, which is discarded) when cancelled.
int SlowDouble(int x, int millis) {
  sematic::Context& ctx = sematic::Context::Current();
  ctx.Log("slow double of ", x);
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(millis);
  while (std::chrono::steady_clock::now() < end) {
    if (ctx.Cancelled()) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ctx.LogMetric("x", x, 0);
  return 2 * x;
}
SEMATIC_FUNC(SlowDouble, "x", "millis");

Future<int> SlowDoubleAll(int n, int millis) {
  std::vector<Future<int>> parts;
  for (int i = 0; i < n; ++i) parts.push_back(Call(SlowDouble, i, millis));
  return Call(Total, parts);
}
SEMATIC_FUNC(SlowDoubleAll, "n", "millis");

// Writes `marker`.started, waits (at most 60 s) until the run is cancelled, then writes
// `marker`.cancelled: a test outside the process sees that the step observed Cancelled().
int WaitForCancel(const std::string& marker) {
  std::ofstream(marker + ".started") << "started\n";
  sematic::Context& ctx = sematic::Context::Current();
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!ctx.Cancelled() && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (ctx.Cancelled()) std::ofstream(marker + ".cancelled") << "cancelled\n";
  return 0;
}
SEMATIC_FUNC(WaitForCancel, "marker");

// Ignores cancellation: returns after `millis` whatever happens.
int Stubborn(int millis) {
  std::this_thread::sleep_for(std::chrono::milliseconds(millis));
  return millis;
}
SEMATIC_FUNC(Stubborn, "millis");

// The GPU ids the worker assigned, and what a child process would see (`tag` is unused).
std::string GpuEnv(int tag) {
  (void)tag;
  const sematic::Context& ctx = sematic::Context::Current();
  std::string ids;
  for (int id : ctx.gpu_ids()) ids += std::to_string(id) + ";";
  for (const std::string& e : ctx.ChildEnvironment()) {
    if (e.starts_with("CUDA_VISIBLE_DEVICES=")) return ids + "|" + e;
  }
  return ids + "|";
}
SEMATIC_FUNC(GpuEnv, "tag").Gpus(2);

}  // namespace worker_test_steps
