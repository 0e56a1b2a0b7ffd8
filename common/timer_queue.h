// Runs closures at (or soon after) given times, on one background thread.
//
//   sematic::TimerQueue timers;
//   timers.RunAt(absl::Now() + absl::Seconds(5), [] { CheckDeadline(); });
//
// Thread-safe. Closures run one at a time on the queue's thread and must not block for long.
// Closures still pending at destruction are dropped.
#ifndef SEMATIC_COMMON_TIMER_QUEUE_H_
#define SEMATIC_COMMON_TIMER_QUEUE_H_

#include <functional>
#include <map>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace sematic {

class TimerQueue {
 public:
  TimerQueue();
  ~TimerQueue();
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  void RunAt(absl::Time when, std::function<void()> closure);

 private:
  void Loop();

  absl::Mutex mu_;
  std::multimap<absl::Time, std::function<void()>> pending_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace sematic

#endif  // SEMATIC_COMMON_TIMER_QUEUE_H_
