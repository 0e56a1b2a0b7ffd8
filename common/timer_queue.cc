#include "common/timer_queue.h"

namespace sematic {

TimerQueue::TimerQueue() : thread_([this] { Loop(); }) {}

TimerQueue::~TimerQueue() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void TimerQueue::RunAt(absl::Time when, std::function<void()> closure) {
  absl::MutexLock lock(&mu_);
  pending_.emplace(when, std::move(closure));
}

void TimerQueue::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    const absl::Time next =
        pending_.empty() ? absl::InfiniteFuture() : pending_.begin()->first;
    if (next > absl::Now()) {
      // Wakes early when a sooner timer is added or the queue stops.
      const size_t size = pending_.size();
      auto changed = [this, size, next]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || pending_.size() != size ||
               (!pending_.empty() && pending_.begin()->first < next);
      };
      mu_.AwaitWithDeadline(absl::Condition(&changed), next);
      continue;
    }
    std::function<void()> closure = std::move(pending_.begin()->second);
    pending_.erase(pending_.begin());
    mu_.Unlock();
    closure();
    mu_.Lock();
  }
}

}  // namespace sematic
