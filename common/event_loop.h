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
// Thread-safe: Post and RunAt may be called from any thread, including the loop's own. Closures
// run on the loop thread only, never concurrently. Destruction stops the loop: closures still
// queued are run first (so no posted work is silently dropped); timers not yet due are dropped.
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

  // True on the loop's thread.
  bool InLoop() const { return std::this_thread::get_id() == thread_.get_id(); }

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
  std::thread thread_;
};

}  // namespace sematic

#endif  // SEMATIC_COMMON_EVENT_LOOP_H_
