#include "scheduler/policy/placement/placement_policy.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "scheduler/policy/placement/internal/feasibility.h"
#include "scheduler/policy/placement/pack_policy.h"
#include "scheduler/policy/placement/spread_policy.h"

namespace sematic::scheduler {

RunDemand RunDemandFor(const v1::FunctionSignature& signature) {
  RunDemand demand;
  demand.function = signature.name();
  demand.version = signature.version();
  demand.cpus = signature.cpus();
  demand.memory_bytes = signature.memory_bytes();
  demand.gpus = signature.gpus();
  demand.custom.insert(signature.resources().begin(), signature.resources().end());
  demand.label_selector.insert(signature.labels().begin(), signature.labels().end());
  return demand;
}

bool Fits(const RunDemand& demand, const WorkerView& worker, std::string* why_not) {
  placement_internal::FitResult fit = placement_internal::CheckFit(demand, worker);
  if (fit.kind == placement_internal::FitKind::kFits) return true;
  if (why_not != nullptr) *why_not = std::move(fit.why_not);
  return false;
}

void Reserve(const RunDemand& demand, WorkerView* worker) {
  v1::Resources& used = worker->in_use;
  used.set_cpus(used.cpus() + demand.cpus);
  used.set_memory_bytes(used.memory_bytes() + demand.memory_bytes);
  used.set_gpus(used.gpus() + demand.gpus);
  for (const auto& [name, amount] : demand.custom) (*used.mutable_custom())[name] += amount;
  ++worker->running;
}

void Release(const RunDemand& demand, WorkerView* worker) {
  v1::Resources& used = worker->in_use;
  // Clamped at zero so that rounding in fractional amounts never leaves a negative residue.
  used.set_cpus(std::max(0.0, used.cpus() - demand.cpus));
  used.set_memory_bytes(std::max<int64_t>(0, used.memory_bytes() - demand.memory_bytes));
  used.set_gpus(std::max(0, used.gpus() - demand.gpus));
  for (const auto& [name, amount] : demand.custom) {
    double& left = (*used.mutable_custom())[name];
    left = std::max(0.0, left - amount);
  }
  worker->running = std::max(0, worker->running - 1);
}

absl::StatusOr<std::unique_ptr<PlacementPolicy>> MakePlacementPolicy(std::string_view name) {
  if (name == "pack") return std::make_unique<PackPolicy>();
  if (name == "spread") return std::make_unique<SpreadPolicy>();
  return absl::InvalidArgumentError(
      absl::StrCat("unknown placement policy \"", AsAbsl(name), "\" (expected pack or spread)"));
}

}  // namespace sematic::scheduler
