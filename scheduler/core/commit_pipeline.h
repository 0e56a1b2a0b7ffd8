// Commits the scheduler's store batches in order on a thread of their own, so that the event
// loop builds its next turn while the previous turn is being written (pipelined group commit).
// What a turn promised — replies, worker messages, events — is released on the loop only once
// its batch is durable, and turns are released in the order they were submitted.
//
//   CommitPipeline commits(store, [&](std::function<void()> f) { loop.Post(std::move(f)); });
//   commits.Submit(std::move(batch), [outbox] { for (auto& send : outbox) send(); });  // loop
//   commits.Drain();  // loop: every submitted batch committed and released, in order
//
// Thread-safety: Submit, Drain and ReleaseCommitted are called from the loop thread only; the
// committer thread touches nothing but the queue (under mu_) and the store.
#ifndef SEMATIC_SCHEDULER_CORE_COMMIT_PIPELINE_H_
#define SEMATIC_SCHEDULER_CORE_COMMIT_PIPELINE_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/latency_histogram.h"
#include "scheduler/store/store.h"

namespace sematic::scheduler {

class CommitPipeline {
 public:
  // `store` must outlive the pipeline. `post_to_loop` schedules a closure on the loop thread;
  // the pipeline uses it to run ReleaseCommitted after each commit.
  // Each store write's duration goes into `commit_latency` when given (it must outlive this).
  CommitPipeline(Store* store, std::function<void(std::function<void()>)> post_to_loop,
                 LatencyHistogram* commit_latency = nullptr);
  // Commits what is still queued and joins the committer. Releases nothing: call Drain first
  // from the loop if the closures must run.
  ~CommitPipeline();
  CommitPipeline(const CommitPipeline&) = delete;
  CommitPipeline& operator=(const CommitPipeline&) = delete;

  // Queues `batch` (may be empty) behind every batch submitted before. `on_committed` runs on
  // the loop once the batch is in the store, after the closures of all earlier batches. When
  // kMaxQueued batches are waiting, blocks until the committer catches up (back-pressure).
  void Submit(Store::Batch batch, std::function<void()> on_committed);

  // Waits until every submitted batch is committed, then runs the outstanding `on_committed`
  // closures in order. Afterwards the store holds everything the loop has written.
  void Drain();

  // Runs the `on_committed` closures of the batches committed so far, in order.
  void ReleaseCommitted();

  // Nothing submitted is waiting to be committed or released.
  bool idle() const;

  // Blocks until at most `batches` submitted batches wait for the committer. A producer of many
  // large batches in one turn (a big sub-graph's registration) calls it to bound what it holds
  // in memory to a few batches rather than kMaxQueued.
  void WaitForBacklogAtMost(size_t batches);

  // Submit blocks while this many batches wait for the committer.
  static constexpr size_t kMaxQueued = 16;
  // The committer merges waiting batches into one write only up to this size: RocksDB puts a
  // write whole into the memtables (past their size limits) and copies it first, so a merged
  // write of many large batches would cost several times their bytes at once.
  static constexpr size_t kMaxMergedBytes = size_t{32} << 20;

 private:
  struct Entry {
    Store::Batch batch;
    std::function<void()> on_committed;
    bool committed = false;
  };

  // The committer thread: takes every waiting batch, commits them as one write, marks them
  // committed and asks the loop to release them. A failed commit aborts the process: what the
  // turns promised is not durable, so it restarts from the last committed state rather than
  // release it.
  void CommitLoop();

  Store* const store_;
  const std::function<void(std::function<void()>)> post_to_loop_;
  mutable absl::Mutex mu_;
  // Submitted and not yet released, oldest first; the committer marks a prefix committed.
  std::deque<Entry> entries_ ABSL_GUARDED_BY(mu_);
  size_t committed_count_ ABSL_GUARDED_BY(mu_) = 0;  // entries_ prefix that is committed
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  LatencyHistogram* const commit_latency_;
  std::thread committer_;
};

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_CORE_COMMIT_PIPELINE_H_
