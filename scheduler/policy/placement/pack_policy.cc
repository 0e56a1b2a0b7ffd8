#include "scheduler/policy/placement/pack_policy.h"

#include "scheduler/policy/placement/internal/feasibility.h"

namespace sematic::scheduler {

absl::StatusOr<std::string> PackPolicy::Place(const RunDemand& demand,
                                              absl::Span<const WorkerView> workers) {
  return placement_internal::PickByLoad(demand, workers, /*most_loaded=*/true);
}

}  // namespace sematic::scheduler
