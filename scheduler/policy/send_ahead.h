// How many runs of a function may wait on a busy worker (Assignment.queued) per run it runs,
// from how long the function's runs take.
//
//   StepDurations& times = durations_of[function];
//   times.Add(absl::Microseconds(result.ended_unix_micros() - result.started_unix_micros()));
//   if (waiting_on_worker < SendAheadLimit(SendAheadPolicy{}, times.typical(), running)) ...
//
// Sending ahead saves the round trip between a run's end and its successor's start. For short
// steps that round trip is a large share of the step, and one run waiting is not enough: a
// scheduler kept off the CPU for a millisecond leaves a worker of 1 ms steps idle. For long
// steps it saves nothing worth having, and a run waiting behind a long one is a run that an
// idle worker could have started: they stay at the scheduler.
//
// Thread-safety: StepDurations is a plain value; SendAheadDepth and SendAheadLimit are pure
// functions.
#ifndef SEMATIC_SCHEDULER_POLICY_SEND_AHEAD_H_
#define SEMATIC_SCHEDULER_POLICY_SEND_AHEAD_H_

#include <optional>

#include "absl/time/time.h"

namespace sematic::scheduler {

struct SendAheadPolicy {
  // Work to keep waiting on a worker per running run: depth = horizon / typical duration. A
  // worker sends its results up in batches of about half of what waits (worker.h,
  // result_hold), so the deeper the queue, the fewer the messages per step.
  absl::Duration horizon = absl::Milliseconds(32);
  // Runs this long or longer are not sent ahead at all.
  absl::Duration longest_step = absl::Milliseconds(100);
  int max_depth = 32;
  // Runs waiting on one worker at most, whatever it runs (a worker running 64 no-op steps at
  // once needs no thousands behind them).
  int max_waiting = 256;
};

// The typical duration of one function's runs: an exponentially weighted mean (each new
// duration weighs 1/5), so it follows a function whose inputs change size.
class StepDurations {
 public:
  // Negative durations (a worker's clock stepped back mid-run) are ignored.
  void Add(absl::Duration duration);
  // None before the first run ended.
  std::optional<absl::Duration> typical() const;

 private:
  std::optional<absl::Duration> mean_;
};

// Runs that may wait per running run: 1 while the duration is unknown (the first runs), 0 from
// `longest_step` on, else horizon / typical rounded up, between 1 and max_depth.
int SendAheadDepth(const SendAheadPolicy& policy, std::optional<absl::Duration> typical);

// Runs of the function that may wait on a worker running `running` runs: depth per running run
// (at least one run counts), at most max_waiting (at least 1) — 0 when the function's runs are
// not sent ahead at all.
int SendAheadLimit(const SendAheadPolicy& policy, std::optional<absl::Duration> typical,
                   int running);

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_POLICY_SEND_AHEAD_H_
