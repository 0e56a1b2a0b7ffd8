// A fixed-size pool of threads running closures in FIFO order.
//
//   sematic::ThreadPool pool(4);
//   pool.Schedule([] { Work(); });
//   // ~ThreadPool runs what is queued, then joins.
//
// Thread-safe. Closures must not throw.
#ifndef SEMATIC_COMMON_THREAD_POOL_H_
#define SEMATIC_COMMON_THREAD_POOL_H_

#include <deque>
#include <functional>
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
  int size() const { return static_cast<int>(threads_.size()); }

 private:
  void Loop();

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace sematic

#endif  // SEMATIC_COMMON_THREAD_POOL_H_
