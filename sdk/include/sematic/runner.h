// Runners resolve futures: they run the graph of calls behind a Future and return its value.
//
//   void RunPipeline(sematic::Runner& runner) {              // any runner: see below
//     absl::StatusOr<EvalResult> best = runner.Resolve(sematic::Call(Sweep, grid));
//   }
//
// `Runner` is the interface pipelines are written against. This header's SilentRunner runs
// everything inside the process; the embedded engine and the cluster runner (sematic/engine.h,
// library sematic_engine) submit the root call as a job to a scheduler, so the same code runs in
// all three places, chosen at run time by sematic::RunnerFromFlags.
//
//   sematic::SilentRunner runner;                         // in-process, hardware_concurrency threads
//   absl::StatusOr<EvalResult> best = runner.Resolve(sematic::Call(Sweep, grid));
//   for (const sematic::v1::Run& run : runner.Runs()) { ... }   // the recorded run tree
//
// The silent runner needs no server: independent steps run in parallel on a thread pool, nested
// steps are expanded as they return their graphs, failed attempts are retried per the step's
// RetryPolicy, and timeouts are enforced (the late attempt is told through Context::Cancelled()
// and its result is discarded). Every run is recorded with its inputs and output as artifact ids;
// every value is kept as an artifact, addressable by id.
//
// Failure: with fail_fast (the default) the first step that fails for good fails the resolution
// with an error naming the step, its run id and the cause, and runs still going are cancelled.
// Without it, independent branches run to completion first.
//
// A runner resolves one graph at a time (concurrent Resolve calls wait their turn); its accessors
// are thread-safe. Destruction waits for steps still running to return.
#ifndef SEMATIC_RUNNER_H_
#define SEMATIC_RUNNER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/status_macros.h"
#include "sematic/codec.h"
#include "sematic/future.h"
#include "sematic/v1/graph.pb.h"
#include "sematic/v1/run.pb.h"
#include "sematic/v1/value.pb.h"

namespace sematic {

// Where a pipeline runs. Resolve returns the future's typed value, or the first failure.
// Implementations say which calls are thread-safe.
class Runner {
 public:
  virtual ~Runner() = default;

  template <typename T>
  absl::StatusOr<T> Resolve(const Future<T>& future) {
    ASSIGN_OR_RETURN(v1::TypedValue result, ResolveNode(future.node()));
    return Decode<T>(result.value(), "result");
  }

  // Runs everything `output` depends on; returns its value and type.
  virtual absl::StatusOr<v1::TypedValue> ResolveNode(
      const std::shared_ptr<const internal::Node>& output) = 0;

  // The id of the job the last Resolve ran ("j-..."); empty before the first.
  virtual std::string last_job_id() const = 0;
  // How many runs the last Resolve's job recorded.
  virtual size_t last_job_run_count() const = 0;
};

struct RunnerOptions {
  int parallelism = 0;  // threads running steps; <= 0: std::thread::hardware_concurrency()
  bool fail_fast = true;
};

class SilentRunner final : public Runner {
 public:
  explicit SilentRunner(RunnerOptions options = {});
  ~SilentRunner();
  SilentRunner(const SilentRunner&) = delete;
  SilentRunner& operator=(const SilentRunner&) = delete;

  // Resolve(future) (from Runner) runs everything `future` depends on in this process.

  // Runs a graph built elsewhere (JSON, another process): validated first (see graph.h).
  absl::StatusOr<v1::TypedValue> ResolveGraph(v1::Graph graph) {
    return RunGraph(std::make_shared<const v1::Graph>(std::move(graph)), /*trusted=*/false);
  }

  // Fails the current resolution with CANCELLED and cancels its running steps. Thread-safe.
  void Cancel();

  // Every run recorded so far, in creation order.
  std::vector<v1::Run> Runs() const;
  // One run; NOT_FOUND for an unknown id.
  absl::StatusOr<v1::Run> GetRun(std::string_view run_id) const;
  // A stored value by artifact id; NOT_FOUND when this runner has not seen it.
  absl::StatusOr<v1::TypedValue> GetArtifact(std::string_view digest) const;

  absl::StatusOr<v1::TypedValue> ResolveNode(
      const std::shared_ptr<const internal::Node>& output) override {
    if (output->error != nullptr) return *output->error;
    return RunGraph(internal::BuildSharedGraph(output), /*trusted=*/true);
  }

  // The id of the job the last Resolve ran ("j-...").
  std::string last_job_id() const override;
  size_t last_job_run_count() const override;

 private:
  class Impl;
  absl::StatusOr<v1::TypedValue> RunGraph(std::shared_ptr<const v1::Graph> graph, bool trusted);

  std::unique_ptr<Impl> impl_;
};

template <typename T>
absl::StatusOr<T> Future<T>::Resolve() const {
  SilentRunner runner;
  return runner.Resolve(*this);
}

}  // namespace sematic

#endif  // SEMATIC_RUNNER_H_
