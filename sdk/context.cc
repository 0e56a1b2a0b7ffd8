#include "sematic/context.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_join.h"

namespace sematic {
namespace {

thread_local Context* current_context = nullptr;

// Logs of code running outside any step.
class StderrSink : public ContextSink {
 public:
  void OnLog(const Context&, std::string_view line) override {
    std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
  }
  void OnMetric(const Context&, std::string_view name, double value, int64_t step) override {
    std::fprintf(stderr, "metric %.*s[%lld] = %g\n", static_cast<int>(name.size()), name.data(),
                 static_cast<long long>(step), value);
  }
};

}  // namespace

Context::Context(Info info, ContextSink* sink, std::shared_ptr<const std::atomic<bool>> cancelled)
    : info_(std::move(info)), sink_(sink), cancelled_(std::move(cancelled)) {}

Context& Context::Current() {
  if (current_context != nullptr) return *current_context;
  static StderrSink* sink = new StderrSink();
  static Context* detached = new Context(Info{}, sink, nullptr);
  return *detached;
}

void Context::LogLine(std::string_view line) {
  if (sink_ != nullptr) sink_->OnLog(*this, line);
}

void Context::LogMetric(std::string_view name, double value, int64_t step) {
  if (sink_ != nullptr) sink_->OnMetric(*this, name, value, step);
}

std::vector<std::string> Context::ChildEnvironment() const {
  constexpr std::string_view kCuda = "CUDA_VISIBLE_DEVICES=";
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (info_.gpus_assigned && std::string_view(*e).starts_with(kCuda)) continue;
    env.emplace_back(*e);
  }
  if (info_.gpus_assigned) {
    env.push_back(absl::StrCat("CUDA_VISIBLE_DEVICES=", absl::StrJoin(info_.gpu_ids, ",")));
  }
  return env;
}

bool Context::Cancelled() const {
  return cancelled_ != nullptr && cancelled_->load(std::memory_order_relaxed);
}

namespace internal {

ScopedContext::ScopedContext(Context* context) : previous_(current_context) {
  current_context = context;
}

ScopedContext::~ScopedContext() { current_context = previous_; }

}  // namespace internal
}  // namespace sematic
