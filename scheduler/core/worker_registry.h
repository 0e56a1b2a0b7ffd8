// The live workers as the scheduler sees them: what each offers, what it has in use, and the
// runs it holds. Owned by the scheduler's event loop; not thread-safe.
#ifndef SEMATIC_SCHEDULER_CORE_WORKER_REGISTRY_H_
#define SEMATIC_SCHEDULER_CORE_WORKER_REGISTRY_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "scheduler/core/scheduler.h"
#include "scheduler/policy/placement/placement_policy.h"
#include "scheduler/store/keys.h"
#include "sematic/v1/admin_service.pb.h"
#include "sematic/v1/worker_service.pb.h"

namespace sematic::scheduler {

struct WorkerSession {
  WorkerSessionId id = 0;
  std::unique_ptr<WorkerConnection> connection;
  bool greeted = false;  // Hello received
  v1::Hello hello;
  std::string peer;
  WorkerView view;             // capacity, use and offers, as placement sees them
  std::set<std::string> runs;  // run ids assigned to it
  // Runs sent ahead (Assignment.queued), in the order sent: assigned, waiting on the worker for
  // room, and not counted in `view` until they start there (SchedulerImpl::StartSentAhead).
  std::deque<RunKey> sent_ahead;
  // Runs on it that must be alone (crash_triage.h), and whether it is kept empty for one to
  // come: either way nothing else is placed or sent ahead here.
  int alone_runs = 0;
  bool set_aside = false;
  absl::Time connected;
  absl::Time last_heard;
  // Results answered in this turn: one ResultAck per worker per turn, sent after the commit.
  v1::ResultAck unsent_ack;
};

// "name@version".
std::string FunctionKey(std::string_view name, std::string_view version);

// Checks a Hello: worker id, function names and versions, resources; INVALID_ARGUMENT naming
// the field.
absl::Status ValidateHello(const v1::Hello& hello, size_t max_name_bytes);

v1::WorkerInfo InfoOf(const WorkerSession& session);

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_CORE_WORKER_REGISTRY_H_
