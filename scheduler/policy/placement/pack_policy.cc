#include "scheduler/policy/placement/pack_policy.h"

#include <vector>

#include "common/status_macros.h"
#include "scheduler/policy/placement/internal/feasibility.h"

namespace sematic::scheduler {

absl::StatusOr<std::string> PackPolicy::Place(const RunDemand& demand,
                                              absl::Span<const WorkerView> workers) {
  ASSIGN_OR_RETURN(std::vector<const WorkerView*> candidates,
                   placement_internal::Candidates(demand, workers));
  // Candidates come sorted by id: a strictly higher load is needed to beat an earlier one.
  const WorkerView* best = candidates.front();
  double best_load = placement_internal::Load(*best);
  for (const WorkerView* w : candidates) {
    const double load = placement_internal::Load(*w);
    if (load > best_load) {
      best = w;
      best_load = load;
    }
  }
  return best->id;
}

}  // namespace sematic::scheduler
