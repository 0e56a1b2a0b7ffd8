// What a running step can learn about its run, and how it reports progress.
//
//   EvalResult TrainEval(const Config& config, const Dataset& data) {
//     sematic::Context& ctx = sematic::Context::Current();
//     for (int epoch = 0; epoch < config.epochs && !ctx.Cancelled(); ++epoch) {
//       double loss = TrainEpoch(...);
//       ctx.LogMetric("loss", loss, epoch);
//       ctx.Log("epoch ", epoch, " loss ", loss);
//     }
//     ...
//   }
//
// Outside a step, Current() returns a detached context whose logs go to stderr.
// A Context belongs to the thread running the step; its methods may be called from that thread
// and from threads the step starts while the step runs.
#ifndef SEMATIC_CONTEXT_H_
#define SEMATIC_CONTEXT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"

namespace sematic {

class Context;

// Where a runner wants a step's logs and metrics. Implementations are thread-safe.
class ContextSink {
 public:
  virtual ~ContextSink() = default;
  virtual void OnLog(const Context& context, std::string_view line) = 0;
  virtual void OnMetric(const Context& context, std::string_view name, double value,
                        int64_t step) = 0;
};

class Context {
 public:
  struct Info {
    std::string run_id;
    std::string parent_id;  // empty for a root run
    std::string job_id;
    std::string function;
    int attempt = 1;
    std::vector<int> gpu_ids;
    bool gpus_assigned = false;  // a worker chose gpu_ids: child processes see only those
  };

  // For runners. `sink` and `cancelled` must outlive the context; either may be null.
  Context(Info info, ContextSink* sink, std::shared_ptr<const std::atomic<bool>> cancelled);
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // The context of the step running on this thread, or a detached one.
  static Context& Current();

  const std::string& run_id() const { return info_.run_id; }
  const std::string& parent_id() const { return info_.parent_id; }
  const std::string& job_id() const { return info_.job_id; }
  const std::string& function() const { return info_.function; }
  int attempt() const { return info_.attempt; }
  const std::vector<int>& gpu_ids() const { return info_.gpu_ids; }

  // The environment for a child process the step starts ("NAME=value" entries for execve or
  // posix_spawn): this process's environment, with CUDA_VISIBLE_DEVICES listing gpu_ids() when a
  // worker assigned the GPUs (empty when it assigned none). The process's own environment is
  // left alone: setenv races with every other thread, and other steps run concurrently.
  std::vector<std::string> ChildEnvironment() const;

  // Appends one log line made of `parts` (anything absl::StrCat takes).
  template <typename... Parts>
  void Log(const Parts&... parts) {
    LogLine(absl::StrCat(parts...));
  }
  void LogLine(std::string_view line);

  // Records `value` of metric `name` at `step` (an epoch, an iteration).
  void LogMetric(std::string_view name, double value, int64_t step = 0);

  // True once the run is cancelled or has timed out: the step should stop soon and return
  // (any value; it is discarded).
  bool Cancelled() const;

 private:
  Info info_;
  ContextSink* sink_;
  std::shared_ptr<const std::atomic<bool>> cancelled_;
};

namespace internal {

// Makes `context` this thread's current one for the scope's lifetime.
class ScopedContext {
 public:
  explicit ScopedContext(Context* context);
  ~ScopedContext();
  ScopedContext(const ScopedContext&) = delete;
  ScopedContext& operator=(const ScopedContext&) = delete;

 private:
  Context* previous_;
};

}  // namespace internal
}  // namespace sematic

#endif  // SEMATIC_CONTEXT_H_
