// A fixed-size pool of threads running closures in FIFO order.
//
//   sematic::ThreadPool pool(4);
//   pool.Schedule([] { Work(); });
//   // ~ThreadPool runs what is queued, then joins.
//
// A closure goes to the thread that went idle last: its stack and caches are warm, and it is
// usually the thread that just finished on the CPU now free — on a virtual machine, where waking
// a thread on another CPU costs tens of microseconds, that matters for short steps.
//
// Thread-safe. Closures must not throw.
#ifndef SEMATIC_COMMON_THREAD_POOL_H_
#define SEMATIC_COMMON_THREAD_POOL_H_

#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace sematic {

class ThreadPool {
 public:
  // `num_threads` <= 0 means std::thread::hardware_concurrency().
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Schedule(std::function<void()> closure);
  // On one of this pool's threads, at the end of its closure: `closure` runs on this thread as
  // soon as the current one returns, ahead of the queue (one such per closure; a second, or a
  // call from any other thread, is Schedule). A step's successor starts where it ended, with
  // no other thread woken.
  void ScheduleHere(std::function<void()> closure);
  int size() const { return static_cast<int>(threads_.size()); }
  // Threads waiting for a closure now (a snapshot).
  int idle_threads();

 private:
  // One pool thread's place among the idle ones.
  struct Idler {
    const ThreadPool* pool = nullptr;
    absl::CondVar wake;
    bool idle = false;  // in idle_ (guarded by the pool's mu_)
    std::function<void()> next;  // ScheduleHere's closure (its own thread only)
  };

  void Loop(Idler* self);

  static thread_local Idler* current_;  // the pool thread this is, if it is one

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<Idler*> idle_ ABSL_GUARDED_BY(mu_);  // the last to go idle at the back
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::unique_ptr<Idler>> idlers_;
  std::vector<std::thread> threads_;
};

}  // namespace sematic

#endif  // SEMATIC_COMMON_THREAD_POOL_H_
