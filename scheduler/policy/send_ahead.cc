#include "scheduler/policy/send_ahead.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace sematic::scheduler {

void StepDurations::Add(absl::Duration duration) {
  if (duration < absl::ZeroDuration()) return;
  mean_ = mean_.has_value() ? *mean_ + (duration - *mean_) / 5 : duration;
}

std::optional<absl::Duration> StepDurations::typical() const { return mean_; }

int SendAheadDepth(const SendAheadPolicy& policy, std::optional<absl::Duration> typical) {
  if (!typical.has_value()) return 1;
  if (*typical >= policy.longest_step) return 0;
  if (*typical <= absl::ZeroDuration()) return std::max(1, policy.max_depth);
  const double runs = std::ceil(absl::FDivDuration(policy.horizon, *typical));
  return static_cast<int>(
      std::clamp(runs, 1.0, static_cast<double>(std::max(1, policy.max_depth))));
}

int SendAheadLimit(const SendAheadPolicy& policy, std::optional<absl::Duration> typical,
                   int running) {
  const int depth = SendAheadDepth(policy, typical);
  if (depth == 0) return 0;
  const int64_t limit = int64_t{std::max(1, running)} * depth;
  return static_cast<int>(std::min<int64_t>(limit, std::max(1, policy.max_waiting)));
}

}  // namespace sematic::scheduler
