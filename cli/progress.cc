#include "cli/progress.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "cli/format.h"

namespace sematic::cli {
namespace {

int64_t* Bucket(ProgressCounts& counts, v1::RunState state) {
  switch (state) {
    case v1::SUCCEEDED:
      return &counts.done;
    case v1::ASSIGNED:
    case v1::RUNNING:
    case v1::WAITING:
      return &counts.running;
    case v1::CREATED:
    case v1::QUEUED:
      return &counts.queued;
    case v1::FAILED:
    case v1::CANCELED:
    case v1::TIMED_OUT:
      return &counts.failed;
    default:
      return nullptr;
  }
}

}  // namespace

void JobProgress::Apply(const v1::JobEvent& event) {
  if (event.sequence() > last_sequence_) last_sequence_ = event.sequence();
  if (event.has_job()) {
    job_ = event.job();
    return;
  }
  if (!event.has_run() || event.run().builtin()) return;
  const v1::Run& run = event.run();
  auto [it, inserted] = states_.try_emplace(run.id(), run.state());
  if (!inserted) {
    if (int64_t* old = Bucket(counts_, it->second)) --*old;
    it->second = run.state();
  }
  if (int64_t* now = Bucket(counts_, run.state())) ++*now;
}

std::optional<absl::Duration> JobProgress::Eta(absl::Time now) const {
  const int64_t left = counts_.running + counts_.queued;
  if (counts_.done == 0 || left == 0 || now <= started_) return std::nullopt;
  return (now - started_) * (static_cast<double>(left) / static_cast<double>(counts_.done));
}

std::string JobProgress::Line(absl::Time now) const {
  const int64_t total = counts_.done + counts_.running + counts_.queued + counts_.failed;
  // A finished job's elapsed time stops at its end.
  if (job_.has_value() && job_->ended_unix_micros() > 0) {
    now = std::min(now, absl::FromUnixMicros(job_->ended_unix_micros()));
  }
  std::string line =
      absl::StrCat(job_.has_value() ? JobStateName(job_->state()) : "RUNNING", "  ", counts_.done,
                   "/", total, " done, ", counts_.running, " running, ", counts_.queued,
                   " queued, ", counts_.failed, " failed  elapsed ", HumanDuration(now - started_));
  if (std::optional<absl::Duration> eta = Eta(now)) {
    absl::StrAppend(&line, "  ETA ", HumanDuration(*eta));
  }
  return line;
}

}  // namespace sematic::cli
