#include "common/thread_pool.h"

#include <algorithm>

namespace sematic {

thread_local ThreadPool::Idler* ThreadPool::current_ = nullptr;

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) {
    num_threads = std::max(1u, std::thread::hardware_concurrency());
  }
  idlers_.reserve(num_threads);
  threads_.reserve(num_threads);
  for (int i = 0; i < num_threads; ++i) {
    Idler* idler = idlers_.emplace_back(std::make_unique<Idler>()).get();
    idler->pool = this;
    threads_.emplace_back([this, idler] { Loop(idler); });
  }
}

ThreadPool::~ThreadPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (Idler* idler : idle_) {
      idler->idle = false;
      idler->wake.Signal();
    }
    idle_.clear();
  }
  for (auto& t : threads_) t.join();
}

void ThreadPool::Schedule(std::function<void()> closure) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(closure));
  if (!idle_.empty()) {
    Idler* last = idle_.back();
    idle_.pop_back();
    last->idle = false;
    last->wake.Signal();
  }
}

void ThreadPool::ScheduleHere(std::function<void()> closure) {
  Idler* self = current_;
  if (self == nullptr || self->pool != this || self->next) {
    Schedule(std::move(closure));
    return;
  }
  self->next = std::move(closure);
}

int ThreadPool::idle_threads() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(idle_.size());
}

void ThreadPool::Loop(Idler* self) {
  current_ = self;
  while (true) {
    std::function<void()> closure;
    {
      absl::MutexLock lock(&mu_);
      while (queue_.empty() && !stopping_) {
        if (!self->idle) {
          self->idle = true;
          idle_.push_back(self);
        }
        self->wake.Wait(&mu_);  // may return spuriously: still idle, it waits again
      }
      if (queue_.empty()) return;  // stopping, and nothing left to run
      closure = std::move(queue_.front());
      queue_.pop_front();
      if (self->idle) {  // woken for another's closure, or spuriously: leave the idle stack
        self->idle = false;
        idle_.erase(std::find(idle_.begin(), idle_.end(), self));
      }
    }
    closure();
    while (self->next) {
      std::function<void()> next = std::move(self->next);
      self->next = nullptr;
      next();
    }
  }
}

}  // namespace sematic
