// Spreads: the least loaded candidate worker takes the run (even load, fewer runs lost per
// worker). Ties go to the smallest worker id.
#ifndef SEMATIC_SCHEDULER_POLICY_PLACEMENT_SPREAD_POLICY_H_
#define SEMATIC_SCHEDULER_POLICY_PLACEMENT_SPREAD_POLICY_H_

#include <string>

#include "scheduler/policy/placement/placement_policy.h"

namespace sematic::scheduler {

class SpreadPolicy final : public PlacementPolicy {
 public:
  absl::StatusOr<std::string> Place(const RunDemand& demand,
                                    absl::Span<const WorkerView> workers) override;
};

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_POLICY_PLACEMENT_SPREAD_POLICY_H_
