// Shared by the placement policies: which workers can take a run now, why the others cannot,
// and how loaded each is. Not for use outside scheduler/policy/placement/.
#ifndef SEMATIC_SCHEDULER_POLICY_PLACEMENT_INTERNAL_FEASIBILITY_H_
#define SEMATIC_SCHEDULER_POLICY_PLACEMENT_INTERNAL_FEASIBILITY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "scheduler/policy/placement/placement_policy.h"

namespace sematic::scheduler::placement_internal {

enum class FitKind {
  kFits,
  kNotLive,     // dead or draining
  kNotOffered,  // the function at that version is not among the worker's
  kNever,       // a label is missing or the total capacity is below the demand
  kBusy,        // it would fit an idle worker, but not with the runs it has now
};

struct FitResult {
  FitKind kind = FitKind::kFits;
  std::string requirement;  // for kNever: the unmet requirement, e.g. "gpus>=1", "label pool=gpu"
  std::string why_not;      // for all but kFits: e.g. "worker w1 has 0 gpus"
};

FitResult CheckFit(const RunDemand& demand, const WorkerView& worker);

// The largest used fraction of the worker's cpus, memory, gpus, custom resources and run slots.
double Load(const WorkerView& worker);

// INVALID_ARGUMENT when `demand` has no function or a negative or NaN amount.
absl::Status ValidateDemand(const RunDemand& demand);

// The workers that can take `demand` now (non-empty), or the status PlacementPolicy::Place
// documents, explaining why none can.
absl::StatusOr<std::vector<const WorkerView*>> Candidates(const RunDemand& demand,
                                                          absl::Span<const WorkerView> workers);

// Among the workers able to take `demand`, the most loaded (`most_loaded`, packing) or the least
// loaded (spreading); ties go to the smallest id. Errors as Candidates.
absl::StatusOr<std::string> PickByLoad(const RunDemand& demand,
                                       absl::Span<const WorkerView> workers, bool most_loaded);

}  // namespace sematic::scheduler::placement_internal

#endif  // SEMATIC_SCHEDULER_POLICY_PLACEMENT_INTERNAL_FEASIBILITY_H_
