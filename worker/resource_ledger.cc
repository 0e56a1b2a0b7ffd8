#include "worker/resource_ledger.h"

#include "absl/strings/str_cat.h"
#include "common/check.h"

namespace sematic::worker {
namespace {

// Fractional cpus add up with rounding error; a demand within this of what is free fits.
constexpr double kEpsilon = 1e-9;

}  // namespace

Demand DemandOf(const FuncOptions& options) {
  Demand d;
  d.cpus = options.cpus;
  d.memory_bytes = options.memory_bytes;
  d.gpus = options.gpus;
  d.custom = options.resources;
  return d;
}

ResourceLedger::ResourceLedger(const v1::Resources& capacity, int max_runs)
    : capacity_(capacity), max_runs_(max_runs) {
  for (int i = 0; i < capacity.gpus(); ++i) free_gpu_ids_.insert(i);
}

double ResourceLedger::free_custom(const std::string& name) const {
  auto cap = capacity_.custom().find(name);
  const double total = cap == capacity_.custom().end() ? 0 : cap->second;
  auto used = custom_.find(name);
  return total - (used == custom_.end() ? 0 : used->second);
}

absl::StatusOr<std::vector<int>> ResourceLedger::Reserve(const Demand& demand) {
  auto check = [](absl::string_view what, double need, double free,
                  double total) -> absl::Status {
    if (need <= free + kEpsilon) return absl::OkStatus();
    if (need > total + kEpsilon) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, ": needs ", need, ", the worker has ", total));
    }
    return absl::ResourceExhaustedError(absl::StrCat(what, ": needs ", need, ", ", free, " free"));
  };
  if (max_runs_ > 0 && runs_ >= max_runs_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("runs: ", runs_, " of at most ", max_runs_, " already running"));
  }
  if (absl::Status s = check("cpus", demand.cpus, free_cpus(), capacity_.cpus()); !s.ok()) {
    return s;
  }
  if (absl::Status s = check("memory bytes", static_cast<double>(demand.memory_bytes),
                             static_cast<double>(free_memory_bytes()),
                             static_cast<double>(capacity_.memory_bytes()));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = check("gpus", demand.gpus, free_gpus(), capacity_.gpus()); !s.ok()) {
    return s;
  }
  for (const auto& [name, need] : demand.custom) {
    auto cap = capacity_.custom().find(name);
    const double total = cap == capacity_.custom().end() ? 0 : cap->second;
    if (absl::Status s = check(absl::StrCat("resource ", name), need, free_custom(name), total);
        !s.ok()) {
      return s;
    }
  }
  ++runs_;
  cpus_ += demand.cpus;
  memory_ += demand.memory_bytes;
  for (const auto& [name, need] : demand.custom) custom_[name] += need;
  std::vector<int> gpu_ids;
  for (int i = 0; i < demand.gpus; ++i) {
    gpu_ids.push_back(*free_gpu_ids_.begin());
    free_gpu_ids_.erase(free_gpu_ids_.begin());
  }
  return gpu_ids;
}

void ResourceLedger::Release(const Demand& demand, const std::vector<int>& gpu_ids) {
  SEMATIC_CHECK(runs_ > 0, "ResourceLedger::Release without a reservation");
  --runs_;
  cpus_ -= demand.cpus;
  memory_ -= demand.memory_bytes;
  for (const auto& [name, need] : demand.custom) custom_[name] -= need;
  for (int id : gpu_ids) {
    SEMATIC_CHECK(id >= 0 && id < capacity_.gpus() && !free_gpu_ids_.contains(id),
                  "ResourceLedger::Release of a GPU that was not reserved");
    free_gpu_ids_.insert(id);
  }
}

}  // namespace sematic::worker
