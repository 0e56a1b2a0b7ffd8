// Steps the dashboard's browser tests submit (ui/e2e/run.mjs): one of every kind of artifact, a
// sweep with metrics, chatty logs, a failure, a cancellable wait and a wide fan-out. Built as the
// shared library sematic_ui_fixture_steps for `sematic-worker --load=...` (the SDK comes from the
// loading binary) and into fixture_steps_test directly. ui/e2e/run.mjs relies on what each returns;
// steps register under their unqualified C++ names ("Train", "Sweep", ...).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sematic/sematic.h"

namespace ui_fixture_steps {

using ::sematic::Call;
using ::sematic::Future;

namespace {

// Sleeps for `d` in short slices; false when the run was cancelled before the time was up.
bool SleepUnlessCancelled(std::chrono::milliseconds d) {
  const sematic::Context& ctx = sematic::Context::Current();
  const auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) {
    if (ctx.Cancelled()) return false;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(5), end - std::chrono::steady_clock::now()));
  }
  return !ctx.Cancelled();
}

}  // namespace

// A pretend training run: loss 1 / (epoch * (1 + 10 * learning_rate)) at each epoch (logged as a
// metric and a line, ~100 ms apart), then the accuracy 0.9 - |learning_rate - 0.3| as a metric
// at step `epochs` and as the result. Returns early (-1, discarded) when cancelled.
double Train(double learning_rate, int32_t epochs) {
  sematic::Context& ctx = sematic::Context::Current();
  for (int32_t epoch = 1; epoch <= epochs; ++epoch) {
    if (!SleepUnlessCancelled(std::chrono::milliseconds(100))) return -1;
    const double loss = 1.0 / (epoch * (1 + 10 * learning_rate));
    ctx.LogMetric("loss", loss, epoch);
    ctx.Log("epoch ", epoch, " loss ", loss);
  }
  const double accuracy = 0.9 - std::abs(learning_rate - 0.3);
  ctx.LogMetric("accuracy", accuracy, epochs);
  return accuracy;
}
SEMATIC_FUNC(Train, "learning_rate", "epochs");

// The largest of `accuracies`; -infinity for none.
double Best(const std::vector<double>& accuracies) {
  double best = -std::numeric_limits<double>::infinity();
  for (double a : accuracies) best = std::max(best, a);
  return best;
}
SEMATIC_FUNC(Best, "accuracies");

// Nested: Train(0.1 * (i + 1), 5) for i in [0, n), then Best of them all. The rates are computed
// as (i + 1) / 10.0 so that they are the doubles nearest 0.1, 0.2, ... (0.1 * 3 is not 0.3).
Future<double> Sweep(int32_t n) {
  std::vector<Future<double>> accuracies;
  accuracies.reserve(n);
  for (int32_t i = 0; i < n; ++i) accuracies.push_back(Call(Train, (i + 1) / 10.0, 5));
  return Call(Best, accuracies);
}
SEMATIC_FUNC(Sweep, "n");

// An 8x8 RGB PNG: columns 0-3 pure red, columns 4-7 pure blue.
absl::StatusOr<sematic::Image> MakeImage() {
  constexpr uint32_t kSide = 8;
  std::vector<uint8_t> rgb(kSide * kSide * 3, 0);
  for (uint32_t y = 0; y < kSide; ++y) {
    for (uint32_t x = 0; x < kSide; ++x) {
      uint8_t* pixel = &rgb[(y * kSide + x) * 3];
      (x < kSide / 2 ? pixel[0] : pixel[2]) = 255;
    }
  }
  return sematic::Image::FromRgb8(kSide, kSide, rgb.data());
}
SEMATIC_FUNC(MakeImage);

// A Vega-Lite bar chart of (a,1) (b,2) (c,3), data inlined.
sematic::Plot MakePlot() {
  return sematic::Plot{R"({"$schema":"https://vega.github.io/schema/vega-lite/v5.json",)"
                       R"("title":"fixture bars","mark":"bar",)"
                       R"("data":{"values":[{"category":"a","value":1},{"category":"b","value":2},)"
                       R"({"category":"c","value":3}]},)"
                       R"("encoding":{"x":{"field":"category","type":"nominal"},)"
                       R"("y":{"field":"value","type":"quantitative"}}})"};
}
SEMATIC_FUNC(MakePlot);

// Columns name (string), score (float64) and count (int64), four rows.
absl::StatusOr<sematic::Table> MakeTable() {
  sematic::Table table;
  RETURN_IF_ERROR(table.AddColumn<std::string>("name", {"alpha", "beta", "gamma", "delta"}));
  RETURN_IF_ERROR(table.AddColumn<double>("score", {0.5, 0.25, 1.0, 0.75}));
  RETURN_IF_ERROR(table.AddColumn<int64_t>("count", {1, 2, 3, 4}));
  return table;
}
SEMATIC_FUNC(MakeTable);

// A float32 4x4 tensor whose element (i, j) is i * 4 + j.
sematic::Tensor MakeTensor() {
  std::vector<float> values(16);
  for (int i = 0; i < 16; ++i) values[i] = static_cast<float>(i);
  return sematic::Tensor::FromVector<float>({4, 4}, values);
}
SEMATIC_FUNC(MakeTensor);

// Logs "line I of N" for I = 1..lines, `millis_between` ms apart; returns `lines` (or -1,
// discarded, when cancelled first).
int32_t Chatty(int32_t lines, int32_t millis_between) {
  sematic::Context& ctx = sematic::Context::Current();
  for (int32_t i = 1; i <= lines; ++i) {
    if (i > 1 && !SleepUnlessCancelled(std::chrono::milliseconds(millis_between))) return -1;
    ctx.Log("line ", i, " of ", lines);
  }
  return lines;
}
SEMATIC_FUNC(Chatty, "lines", "millis_between");

// Always fails, with `message` as the error (FAILED_PRECONDITION). The SDK marks a returned
// status retryable; the step has no retries, so the run fails on its first attempt.
absl::StatusOr<int32_t> Fails(std::string message) {
  return absl::FailedPreconditionError(message);
}
SEMATIC_FUNC(Fails, "message");

int32_t Noop(int32_t i) { return i; }
SEMATIC_FUNC(Noop, "i");

int64_t Count(const std::vector<int32_t>& xs) { return static_cast<int64_t>(xs.size()); }
SEMATIC_FUNC(Count, "xs");

// Nested: Noop(0..n-1), then Count of them (n).
Future<int64_t> FanOut(int32_t n) {
  std::vector<Future<int32_t>> parts;
  parts.reserve(n);
  for (int32_t i = 0; i < n; ++i) parts.push_back(Call(Noop, i));
  return Call(Count, parts);
}
SEMATIC_FUNC(FanOut, "n");

// Logs "waiting", then waits until the run is cancelled (at most 120 s). Returns 1 when it saw
// the cancellation, 0 when the 120 s ran out.
int32_t WaitForCancel() {
  sematic::Context& ctx = sematic::Context::Current();
  ctx.Log("waiting");
  return SleepUnlessCancelled(std::chrono::seconds(120)) ? 0 : 1;
}
SEMATIC_FUNC(WaitForCancel);

}  // namespace ui_fixture_steps
