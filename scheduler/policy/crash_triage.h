// Which of a lost worker's runs pays for the loss. A worker that dies with several runs in flight
// says nothing about which of them killed it, and a worker killed from outside says nothing
// about any of them: charging every run aboard one infrastructure retry let a crashing step use
// up its innocent neighbours' budgets (and a kill storm everybody's).
//
//   CrashTriage triage;                                        // one per scheduler, loop-owned
//   std::vector<LossHistory*> aboard = ...;                    // the runs that may have started
//   std::vector<LossVerdict> v = triage.WorkerLost(absl::Now(), aboard);
//   if (v[i].charge) AttemptFailed(run, kInfrastructure, ...) else requeue without a retry;
//   dispatch runs with history.run_alone on a worker of their own;
//   CrashTriage::AttemptEnded(history);                        // a result came back
//
// The rule:
//  * A run lost together with others is a suspect: not charged, and run alone next, so that a
//    culprit is soon alone when it kills again.
//  * A run lost while alone is charged (one infrastructure retry; "crashed its worker") and keeps
//    running alone — unless the loss looks like a storm: at least `storm_losses` other workers,
//    none of which it was aboard, were lost within `storm_window` before, not counting losses of
//    a run alone that had been charged before (a repeat offender explains those). A crashing
//    step only kills the workers it runs on; kills from outside hit many runs' workers.
//  * Bound: after `max_uncharged_losses` losses that cost it nothing, every further loss of the
//    run is charged, so nothing is re-queued forever; a true crasher fails after at most
//    max_uncharged_losses + max_infra_retries + 1 losses, normally after max_infra_retries + 2.
//
// Thread-safety: not thread-safe; pure logic (no clock of its own, no store, no network).
#ifndef SEMATIC_SCHEDULER_POLICY_CRASH_TRIAGE_H_
#define SEMATIC_SCHEDULER_POLICY_CRASH_TRIAGE_H_

#include <cstdint>
#include <deque>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/span.h"

namespace sematic::scheduler {

// What one run's worker losses have shown so far; kept with the run (in memory only: a
// scheduler restart forgets suspicion, and recovered runs are charged as before).
struct LossHistory {
  bool run_alone = false;    // place it on a worker with nothing else until an attempt ends
  int uncharged_losses = 0;  // losses that spent no retry
  int charged_losses = 0;    // losses that spent one
  std::vector<uint64_t> losses;  // the worker losses it was aboard (CrashTriage's ids), recent
};

struct LossVerdict {
  // Spend an infrastructure retry. False: queue it again at once, with no retry spent.
  bool charge = false;
  // Why, for the run's log: "lost alone", "lost with 2 other runs", "storm", "lost too often".
  enum class Reason { kAlone, kWithOthers, kStorm, kTooOften } reason = Reason::kAlone;
};

struct CrashTriageOptions {
  absl::Duration storm_window = absl::Seconds(30);
  int storm_losses = 2;            // other workers lost within the window that make a storm
  int max_uncharged_losses = 32;   // per run
};

class CrashTriage {
 public:
  explicit CrashTriage(CrashTriageOptions options = {}) : options_(options) {}
  CrashTriage(const CrashTriage&) = delete;
  CrashTriage& operator=(const CrashTriage&) = delete;

  // A worker was lost at `at` with `aboard` (the runs that may have been running there; empty
  // is fine — an idle worker lost still counts towards a storm). Updates each run's history and
  // returns one verdict per run, in order. `at` should not go backwards between calls.
  std::vector<LossVerdict> WorkerLost(absl::Time at, absl::Span<LossHistory* const> aboard);

  // An attempt of the run ended with a result (value, graph, error) or was cancelled: it ran
  // without killing its worker, so it is no longer suspected.
  static void AttemptEnded(LossHistory& history);

 private:
  struct Loss {
    uint64_t id;
    absl::Time at;
    bool storm_evidence;  // not explained by a run alone that had been charged before
  };
  // Drops losses older than the window before `now`.
  void Forget(absl::Time now);

  const CrashTriageOptions options_;
  uint64_t next_id_ = 1;
  std::deque<Loss> recent_;  // within storm_window, oldest first
};

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_POLICY_CRASH_TRIAGE_H_
