// Placement: which live worker takes a queued run. Policies are pluggable ("pack", "spread").
//
//   ASSIGN_OR_RETURN(std::unique_ptr<PlacementPolicy> policy, MakePlacementPolicy("pack"));
//   absl::StatusOr<std::string> worker = policy->Place(RunDemandFor(signature), workers);
//   if (worker.ok()) Reserve(demand, &view_of(*worker));        // before placing the next run
//   else if (absl::IsUnavailable(worker.status())) ...           // wait for capacity to free up
//   else show worker.status().message() on the QUEUED run          // until the workers change
//
// A worker is a candidate when it is alive, not draining, offers the function at the demanded
// version, carries every label of the selector, and has room: free cpus, memory, gpus and custom
// resources (capacity - in_use) at least the demand, and fewer runs than max_concurrent_runs.
// Ties between equally good workers go to the smallest worker id, so placement is deterministic
// whatever the order of `workers`.
//
// Thread-safety: policies hold no shared state; one instance must not be used concurrently.
#ifndef SEMATIC_SCHEDULER_POLICY_PLACEMENT_PLACEMENT_POLICY_H_
#define SEMATIC_SCHEDULER_POLICY_PLACEMENT_PLACEMENT_POLICY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "sematic/v1/worker_service.pb.h"

namespace sematic::scheduler {

// What the scheduler knows of one connected worker.
struct WorkerView {
  std::string id;
  v1::Resources capacity;  // announced in Hello
  v1::Resources in_use;    // the demands of the runs assigned to it and not finished
  std::map<std::string, std::string> labels;
  int running = 0;                  // runs assigned to it and not finished
  int max_concurrent_runs = 0;      // <= 0: no limit
  std::set<std::string> functions;  // "name@version"
  bool draining = false;
  bool alive = true;
};

// What one run needs (from its FunctionSignature).
struct RunDemand {
  std::string function;
  std::string version;  // resolved: matched exactly against the workers' "name@version"
  double cpus = 0;
  int64_t memory_bytes = 0;
  int gpus = 0;
  std::map<std::string, double> custom;
  std::map<std::string, std::string> label_selector;  // every pair must be among the labels
};

// The demand declared by `signature` (name, version, cpus, memory, gpus, resources, labels).
RunDemand RunDemandFor(const v1::FunctionSignature& signature);

// Whether `worker` can take `demand` right now. When not and `why_not` is not null, sets it to a
// short reason naming the worker, e.g. "worker w1 has 0 gpus" or "worker w2 lacks label pool=gpu".
bool Fits(const RunDemand& demand, const WorkerView& worker, std::string* why_not);

// Accounts for a run placed on (Reserve) or finished on (Release) `worker`: adds its demand to
// (subtracts it from) `worker->in_use` and `worker->running`.
void Reserve(const RunDemand& demand, WorkerView* worker);
void Release(const RunDemand& demand, WorkerView* worker);

class PlacementPolicy {
 public:
  virtual ~PlacementPolicy() = default;

  // The id of the worker among `workers` that takes `demand`. Errors, with a message meant for
  // the user (shown on the QUEUED run):
  //   UNAVAILABLE          some live worker could take the run but is at capacity now
  //                        ("all 3 workers able to run TrainEval@1 are at capacity (...)"):
  //                        place again when a run finishes there.
  //   FAILED_PRECONDITION  no live worker can ever take it as things are ("no live worker offers
  //                        TrainEval@1", "no worker offers TrainEval@1 with gpus>=1 (worker w1
  //                        has 0 gpus; ...)"): place again when workers join, leave or drain.
  //   INVALID_ARGUMENT     the demand is malformed (no function, a negative amount).
  // Per-worker detail is capped at a few workers.
  virtual absl::StatusOr<std::string> Place(const RunDemand& demand,
                                            absl::Span<const WorkerView> workers) = 0;
};

// "pack": the most loaded candidate first, filling one worker before using the next.
// "spread": the least loaded candidate first.
// A worker's load is its largest used fraction over cpus, memory, gpus, custom resources and
// run slots. INVALID_ARGUMENT for any other name.
absl::StatusOr<std::unique_ptr<PlacementPolicy>> MakePlacementPolicy(std::string_view name);

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_POLICY_PLACEMENT_PLACEMENT_POLICY_H_
