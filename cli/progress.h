// Progress of a job from its event stream, for `sematic watch`.
//
//   JobProgress progress(absl::Now());
//   for (const v1::JobEvent& e : events) progress.Apply(e);
//   std::string line = progress.Line(absl::Now());  // "RUNNING  3 done, 2 running, 5 queued, ..."
//
// Counts user steps only: built-in nodes (gather, field, ...) are bookkeeping. A run retried
// after a failed attempt counts by its latest state. Not thread-safe.
#ifndef SEMATIC_CLI_PROGRESS_H_
#define SEMATIC_CLI_PROGRESS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "sematic/v1/job.pb.h"

namespace sematic::cli {

struct ProgressCounts {
  int64_t done = 0;     // SUCCEEDED
  int64_t running = 0;  // ASSIGNED, RUNNING, WAITING
  int64_t queued = 0;   // CREATED, QUEUED
  int64_t failed = 0;   // FAILED, CANCELED, TIMED_OUT
  friend bool operator==(const ProgressCounts&, const ProgressCounts&) = default;
};

class JobProgress {
 public:
  explicit JobProgress(absl::Time started) : started_(started) {}

  void Apply(const v1::JobEvent& event);

  const ProgressCounts& counts() const { return counts_; }
  uint64_t last_sequence() const { return last_sequence_; }
  // The latest job state seen, if any event carried the job.
  const std::optional<v1::Job>& job() const { return job_; }

  // The estimated time to finish the steps known so far, from the rate at which they finished
  // since `started`; nullopt before the first finishes or once nothing is left. A nested step
  // may add steps later, so this is a lower bound.
  std::optional<absl::Duration> Eta(absl::Time now) const;

  // One line: "RUNNING  3/10 done, 2 running, 5 queued, 0 failed  elapsed 4.0s  ETA 9.3s".
  std::string Line(absl::Time now) const;

 private:
  absl::Time started_;
  absl::flat_hash_map<std::string, v1::RunState> states_;
  ProgressCounts counts_;
  uint64_t last_sequence_ = 0;
  std::optional<v1::Job> job_;
};

}  // namespace sematic::cli

#endif  // SEMATIC_CLI_PROGRESS_H_
