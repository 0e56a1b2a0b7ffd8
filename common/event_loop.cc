#include "common/event_loop.h"

#include <utility>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/check.h"

namespace sematic {
namespace {

// The loop whose turn this thread runs by PostOrRunHere, if any.
thread_local const EventLoop* lent_turn_of = nullptr;

}  // namespace

EventLoop::EventLoop(std::function<void()> on_turn_end, std::function<bool()> turn_is_full)
    : on_turn_end_(std::move(on_turn_end)),
      turn_is_full_(std::move(turn_is_full)),
      thread_([this] { Loop(); }) {}

EventLoop::~EventLoop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void EventLoop::Post(std::function<void()> closure) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(closure));
}

void EventLoop::RunAt(absl::Time when, std::function<void()> closure) {
  absl::MutexLock lock(&mu_);
  timers_.emplace(when, std::move(closure));
}

bool EventLoop::PostOrRunHere(std::function<void()> closure) {
  {
    absl::MutexLock lock(&mu_);
    // Only when the loop thread waits between turns with nothing to do: the turn it would run
    // next is this closure alone.
    if (stopping_ || in_turn_ || lent_turn_ || !queue_.empty() ||
        (!timers_.empty() && timers_.begin()->first <= absl::Now())) {
      queue_.push_back(std::move(closure));
      return false;
    }
    lent_turn_ = true;  // the loop thread starts no turn until it is cleared
  }
  const EventLoop* outer = std::exchange(lent_turn_of, this);  // another loop's lent turn, if any
  closure();
  if (on_turn_end_) on_turn_end_();
  lent_turn_of = outer;
  absl::MutexLock lock(&mu_);
  lent_turn_ = false;
  return true;
}

bool EventLoop::InLoop() const {
  return std::this_thread::get_id() == thread_.get_id() || lent_turn_of == this;
}

bool EventLoop::HasQueuedClosures() {
  if (left_in_turn_ > 0) return true;
  absl::MutexLock lock(&mu_);
  return !queue_.empty();
}

void EventLoop::RunSync(std::function<void()> closure) {
  SEMATIC_CHECK(!InLoop(), "EventLoop::RunSync on the loop thread would deadlock");
  absl::Notification done;
  Post([&] {
    closure();
    done.Notify();
  });
  done.WaitForNotification();
}

void EventLoop::Loop() {
  std::vector<std::function<void()>> turn;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      while (true) {
        // Due timers join this turn, after the closures already posted.
        const absl::Time now = absl::Now();
        while (!timers_.empty() && timers_.begin()->first <= now) {
          queue_.push_back(std::move(timers_.begin()->second));
          timers_.erase(timers_.begin());
        }
        if (lent_turn_) {  // wait for the lent turn (one closure long) to end
          mu_.Await(absl::Condition(
              +[](bool* lent) { return !*lent; }, &lent_turn_));
          continue;
        }
        if (!queue_.empty() || stopping_) break;
        const absl::Time next = timers_.empty() ? absl::InfiniteFuture() : timers_.begin()->first;
        const size_t timer_count = timers_.size();
        auto wake = [this, timer_count, next]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stopping_ || !queue_.empty() || timers_.size() != timer_count ||
                 (!timers_.empty() && timers_.begin()->first < next);
        };
        mu_.AwaitWithDeadline(absl::Condition(&wake), next);
      }
      if (queue_.empty() && stopping_) return;
      turn.swap(queue_);
      in_turn_ = true;
    }
    for (size_t i = 0; i < turn.size(); ++i) {
      left_in_turn_ = turn.size() - i - 1;
      turn[i]();
      if (left_in_turn_ > 0 && turn_is_full_ && turn_is_full_() && on_turn_end_) on_turn_end_();
    }
    left_in_turn_ = 0;
    turn.clear();
    if (on_turn_end_) on_turn_end_();
    absl::MutexLock lock(&mu_);
    in_turn_ = false;
  }
}

}  // namespace sematic
