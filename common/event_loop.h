// A single thread that owns some state: other threads post closures to it, and it runs them in
// order, in turns. After each turn (every closure that was queued when the turn began) it calls
// the turn-end hook, which is where an owner commits the turn's writes as one batch (group commit)
// and only then releases the replies the turn produced.
//
//   EventLoop loop([&] { store.Commit(std::move(batch)); FlushReplies(); });
//   loop.Post([&] { state.Apply(event); });     // from any thread
//   loop.RunAt(absl::Now() + absl::Seconds(5), [&] { CheckHeartbeats(); });
//
// An owner that batches work may also end a turn early: `turn_is_full` is asked after each
// closure, and when it says so the turn ends there and the closures left over form the next turn
// (order is kept).
//
// A thread that would otherwise wake the loop and then wait for it may lend itself instead:
// PostOrRunHere runs the closure as a turn of its own on the calling thread when the loop is idle
// (a worker's step thread reporting its result: no wake-up of another thread, ~20 µs on a VM).
//
// Thread-safe: Post and RunAt may be called from any thread, including the loop's own. Closures
// run on the loop thread (or a thread lent by PostOrRunHere), never concurrently. Destruction
// stops the loop: closures still queued are run first (so no posted work is silently dropped);
// timers not yet due are dropped.
#ifndef SEMATIC_COMMON_EVENT_LOOP_H_
#define SEMATIC_COMMON_EVENT_LOOP_H_

#include <functional>
#include <map>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace sematic {

class EventLoop {
 public:
  explicit EventLoop(std::function<void()> on_turn_end = nullptr,
                     std::function<bool()> turn_is_full = nullptr);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  void Post(std::function<void()> closure);
  void RunAt(absl::Time when, std::function<void()> closure);
  // When no turn is running and nothing is queued: runs `closure` here, as a turn of its own (the
  // turn-end hook follows it, on this thread), and returns true. Otherwise (also when called from
  // within one of this loop's turns) posts it and returns false.
  bool PostOrRunHere(std::function<void()> closure);

  // True on the loop's thread, and on a thread running a turn lent by PostOrRunHere.
  bool InLoop() const;

  // From the loop thread: closures are waiting for the next turn (posted and not started, or left
  // over from a turn that ended early). Due timers are not counted.
  bool HasQueuedClosures();

  // Runs `closure` on the loop and waits for it (not from the loop thread).
  void RunSync(std::function<void()> closure);

 private:
  void Loop();

  std::function<void()> on_turn_end_;
  std::function<bool()> turn_is_full_;
  size_t left_in_turn_ = 0;  // loop thread only
  absl::Mutex mu_;
  std::vector<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  std::multimap<absl::Time, std::function<void()>> timers_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool in_turn_ ABSL_GUARDED_BY(mu_) = false;    // the loop thread runs a turn
  bool lent_turn_ ABSL_GUARDED_BY(mu_) = false;  // a PostOrRunHere turn runs
  std::thread thread_;
};

}  // namespace sematic

#endif  // SEMATIC_COMMON_EVENT_LOOP_H_
