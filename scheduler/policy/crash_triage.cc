#include "scheduler/policy/crash_triage.h"

#include <algorithm>

namespace sematic::scheduler {

void CrashTriage::Forget(absl::Time now) {
  while (!recent_.empty() && recent_.front().at < now - options_.storm_window) {
    recent_.pop_front();
  }
}

std::vector<LossVerdict> CrashTriage::WorkerLost(absl::Time at,
                                                 absl::Span<LossHistory* const> aboard) {
  Forget(at);
  const uint64_t oldest = recent_.empty() ? next_id_ : recent_.front().id;
  const uint64_t id = next_id_++;
  const bool storm_evidence = aboard.size() != 1 || aboard[0]->charged_losses == 0;
  const size_t storm_losses = static_cast<size_t>(std::max(options_.storm_losses, 1));
  std::vector<LossVerdict> verdicts;
  verdicts.reserve(aboard.size());
  for (LossHistory* run : aboard) {
    // Only its losses still within the window matter; older ones are forgotten with them.
    std::erase_if(run->losses, [oldest](uint64_t loss) { return loss < oldest; });
    size_t others = 0;
    for (const Loss& loss : recent_) {
      if (loss.storm_evidence &&
          std::find(run->losses.begin(), run->losses.end(), loss.id) == run->losses.end()) {
        ++others;
      }
    }
    LossVerdict verdict;
    if (run->uncharged_losses >= options_.max_uncharged_losses) {
      verdict = {true, LossVerdict::Reason::kTooOften};
    } else if (aboard.size() > 1) {
      verdict = {false, LossVerdict::Reason::kWithOthers};
    } else if (others >= storm_losses) {
      verdict = {false, LossVerdict::Reason::kStorm};
    } else {
      verdict = {true, LossVerdict::Reason::kAlone};
    }
    ++(verdict.charge ? run->charged_losses : run->uncharged_losses);
    // Whoever was aboard a lost worker runs alone until an attempt of it ends: a suspect so
    // that the culprit is alone when it kills again, one charged so that it kills nobody else.
    run->run_alone = true;
    run->losses.push_back(id);
    verdicts.push_back(verdict);
  }
  recent_.push_back({id, at, storm_evidence});
  return verdicts;
}

void CrashTriage::AttemptEnded(LossHistory& history) { history.run_alone = false; }

}  // namespace sematic::scheduler
