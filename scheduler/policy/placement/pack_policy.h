// Packs: the most loaded candidate worker takes the run, so one worker fills before the next is
// used (fewer, busier workers; the rest can scale down). Ties go to the smallest worker id.
#ifndef SEMATIC_SCHEDULER_POLICY_PLACEMENT_PACK_POLICY_H_
#define SEMATIC_SCHEDULER_POLICY_PLACEMENT_PACK_POLICY_H_

#include <string>

#include "scheduler/policy/placement/placement_policy.h"

namespace sematic::scheduler {

class PackPolicy final : public PlacementPolicy {
 public:
  absl::StatusOr<std::string> Place(const RunDemand& demand,
                                    absl::Span<const WorkerView> workers) override;
};

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_POLICY_PLACEMENT_PACK_POLICY_H_
