// Steps for the worker's tests. Built twice: into test binaries directly, and as a shared
// library that sematic-worker loads with --load (it resolves the SDK from the host binary).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
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

// Logs bytes that are not UTF-8 (a step printing binary data): they must still travel.
int LogsRawBytes(int x) {
  sematic::Context::Current().Log("raw \xFF\xFE bytes");
  return x;
}
SEMATIC_FUNC(LogsRawBytes, "x");

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

// Runs only on workers labelled pool=gpu with a GPU free; returns the GPU ids it was given.
std::string GpuIds(int tag) {
  (void)tag;
  std::string ids;
  for (int id : sematic::Context::Current().gpu_ids()) ids += std::to_string(id) + ";";
  return ids;
}
SEMATIC_FUNC(GpuIds, "tag").Label("pool", "gpu").Gpus(1);

std::vector<std::string> Collect(const std::vector<std::string>& xs) { return xs; }
SEMATIC_FUNC(Collect, "xs");

// `n` GpuIds runs side by side.
Future<std::vector<std::string>> GpuIdsAll(int n) {
  std::vector<Future<std::string>> parts;
  for (int i = 0; i < n; ++i) parts.push_back(Call(GpuIds, i));
  return Call(Collect, parts);
}
SEMATIC_FUNC(GpuIdsAll, "n");

// No worker in the tests is labelled pool=tpu: this stays QUEUED.
int TpuOnly(int x) { return x; }
SEMATIC_FUNC(TpuOnly, "x").Label("pool", "tpu");

// Says on std::cout which attempt it is, then crashes (`how`: "segv" or "abort") on attempts
// up to `crashing_attempts`, then returns the attempt number.
int Crash(const std::string& how, int crashing_attempts) {
  const int attempt = sematic::Context::Current().attempt();
  std::cout << "Crash attempt " << attempt << " (" << how << ")\n";  // not flushed
  if (attempt <= crashing_attempts) {
    if (how == "abort") std::abort();
    raise(SIGSEGV);
  }
  return attempt;
}
SEMATIC_FUNC(Crash, "how", "crashing_attempts");

// `n` SlowDouble(i, millis) beside one Crash("segv", crashes) that segfaults its first `crashes`
// attempts, each summed on its own (Total of the doubles; the crash's result unused but for the
// job's end): which of them takes a thread-mode worker down.
Future<int> CrashAmong(int n, int millis, int crashes) {
  std::vector<Future<int>> parts;
  for (int i = 0; i < n; ++i) parts.push_back(Call(SlowDouble, i, millis));
  parts.push_back(Call(Crash, std::string("segv"), crashes));
  return Call(Total, parts);
}
SEMATIC_FUNC(CrashAmong, "n", "millis", "crashes");

// Writes the pid of the process running it to `marker`.pid.<attempt>, then returns after
// `millis` (early, with -1, when cancelled). A test kills that process mid-step.
int Hold(const std::string& marker, int millis) {
  sematic::Context& ctx = sematic::Context::Current();
  std::ofstream(marker + ".pid." + std::to_string(ctx.attempt())) << getpid() << "\n";
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(millis);
  while (std::chrono::steady_clock::now() < end) {
    if (ctx.Cancelled()) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return millis;
}
SEMATIC_FUNC(Hold, "marker", "millis");

// `n` WaitForCancel steps side by side, each with marker `marker`.<i>.
Future<int> WaitForCancelAll(const std::string& marker, int n) {
  std::vector<Future<int>> parts;
  for (int i = 0; i < n; ++i) {
    parts.push_back(Call(WaitForCancel, marker + "." + std::to_string(i)));
  }
  return Call(Total, parts);
}
SEMATIC_FUNC(WaitForCancelAll, "marker", "n");

// `mib` MiB of the byte `fill`: an output large enough to travel as an uploaded artifact.
std::string Filled(int mib, int fill) {
  return std::string(static_cast<size_t>(mib) << 20, static_cast<char>(fill));
}
SEMATIC_FUNC(Filled, "mib", "fill");

// A float32 tensor of `mib` MiB whose element i is float(i % 1000003), and its check.
sematic::Tensor BigTensor(int mib) {
  const int64_t n = (int64_t{mib} << 20) / 4;
  sematic::Tensor t(sematic::DType::kFloat32, {n});
  float* data = t.data<float>();
  for (int64_t i = 0; i < n; ++i) data[i] = static_cast<float>(i % 1000003);
  return t;
}
SEMATIC_FUNC(BigTensor, "mib").Label("tensor", "make");

// The number of elements when every one holds its expected value; -(1 + index) of the first
// that does not.
int64_t CheckTensor(const sematic::Tensor& t) {
  const float* data = t.data<float>();
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    if (data[i] != static_cast<float>(i % 1000003)) return -(1 + i);
  }
  return t.num_elements();
}
SEMATIC_FUNC(CheckTensor, "t").Label("tensor", "check");

Future<int64_t> TensorRoundTrip(int mib) { return Call(CheckTensor, Call(BigTensor, mib)); }
SEMATIC_FUNC(TensorRoundTrip, "mib");

}  // namespace worker_test_steps
