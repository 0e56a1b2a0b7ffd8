#include "scheduler/policy/placement/spread_policy.h"

#include "scheduler/policy/placement/internal/feasibility.h"

namespace sematic::scheduler {

absl::StatusOr<std::string> SpreadPolicy::Place(const RunDemand& demand,
                                                absl::Span<const WorkerView> workers) {
  return placement_internal::PickByLoad(demand, workers, /*most_loaded=*/false);
}

}  // namespace sematic::scheduler
