// What a worker has promised to run at once: cpus, memory, GPUs (by id), custom resources and a
// number of concurrent runs. A run reserves its step's declared demand before it starts and
// releases it when its slot is freed, so the worker never runs more than it announced.
//
//   ResourceLedger ledger(capacity, /*max_runs=*/4);
//   absl::StatusOr<std::vector<int>> gpus = ledger.Reserve(DemandOf(info.options));
//   if (gpus.ok()) { ...run with *gpus...; ledger.Release(demand, *gpus); }
//
// Not thread-safe: the worker's event loop owns it.
#ifndef SEMATIC_WORKER_RESOURCE_LEDGER_H_
#define SEMATIC_WORKER_RESOURCE_LEDGER_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sematic/func.h"
#include "sematic/v1/function.pb.h"

namespace sematic::worker {

struct Demand {
  double cpus = 0;
  int64_t memory_bytes = 0;
  int gpus = 0;
  std::map<std::string, double> custom;
};

// A step's declared needs.
Demand DemandOf(const FuncOptions& options);

class ResourceLedger {
 public:
  // GPUs are numbered 0..capacity.gpus()-1. `max_runs` <= 0 means no limit on the run count.
  ResourceLedger(const v1::Resources& capacity, int max_runs);

  // Reserves `demand` and picks the lowest free GPU ids for it. RESOURCE_EXHAUSTED naming the
  // first resource that is short (the demand exceeds what is free now), or FAILED_PRECONDITION
  // when it exceeds the worker's whole capacity.
  absl::StatusOr<std::vector<int>> Reserve(const Demand& demand);
  // Returns what Reserve gave out. `gpu_ids` must be what Reserve returned for `demand`.
  void Release(const Demand& demand, const std::vector<int>& gpu_ids);

  int runs() const { return runs_; }
  double free_cpus() const { return capacity_.cpus() - cpus_; }
  int64_t free_memory_bytes() const { return capacity_.memory_bytes() - memory_; }
  int free_gpus() const { return static_cast<int>(free_gpu_ids_.size()); }
  double free_custom(const std::string& name) const;

 private:
  const v1::Resources capacity_;
  const int max_runs_;
  int runs_ = 0;
  double cpus_ = 0;
  int64_t memory_ = 0;
  std::set<int> free_gpu_ids_;
  std::map<std::string, double> custom_;
};

}  // namespace sematic::worker

#endif  // SEMATIC_WORKER_RESOURCE_LEDGER_H_
