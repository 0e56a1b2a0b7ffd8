#include "scheduler/core/commit_pipeline.h"

#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/time/clock.h"

namespace sematic::scheduler {

CommitPipeline::CommitPipeline(Store* store,
                               std::function<void(std::function<void()>)> post_to_loop,
                               LatencyHistogram* commit_latency)
    : store_(store),
      post_to_loop_(std::move(post_to_loop)),
      commit_latency_(commit_latency),
      committer_([this] { CommitLoop(); }) {}

CommitPipeline::~CommitPipeline() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  committer_.join();
}

void CommitPipeline::Submit(Store::Batch batch, std::function<void()> on_committed) {
  absl::MutexLock lock(&mu_);
  auto has_room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return entries_.size() - committed_count_ < kMaxQueued;
  };
  mu_.Await(absl::Condition(&has_room));
  entries_.push_back(Entry{std::move(batch), std::move(on_committed)});
}

void CommitPipeline::Drain() {
  {
    absl::MutexLock lock(&mu_);
    auto all_committed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return committed_count_ == entries_.size();
    };
    mu_.Await(absl::Condition(&all_committed));
  }
  ReleaseCommitted();
}

void CommitPipeline::ReleaseCommitted() {
  std::vector<std::function<void()>> ready;
  {
    absl::MutexLock lock(&mu_);
    for (; committed_count_ > 0; --committed_count_) {
      ready.push_back(std::move(entries_.front().on_committed));
      entries_.pop_front();
    }
  }
  for (auto& release : ready) {
    if (release) release();
  }
}

void CommitPipeline::WaitForBacklogAtMost(size_t batches) {
  absl::MutexLock lock(&mu_);
  auto has_room = [this, batches]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return entries_.size() - committed_count_ <= batches;
  };
  mu_.Await(absl::Condition(&has_room));
}

bool CommitPipeline::idle() const {
  absl::MutexLock lock(&mu_);
  return entries_.empty();
}

void CommitPipeline::CommitLoop() {
  while (true) {
    Store::Batch merged;
    size_t taken = 0;
    {
      absl::MutexLock lock(&mu_);
      auto work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || committed_count_ < entries_.size();
      };
      mu_.Await(absl::Condition(&work));
      if (committed_count_ == entries_.size()) return;  // stopping, nothing left
      // Elements stay put while the loop pushes more (a deque's push_back keeps references);
      // the loop pops only committed entries, so the uncommitted ones are counted, not indexed.
      for (size_t i = committed_count_; i < entries_.size(); ++i) {
        if (taken > 0 && merged.ByteSize() + entries_[i].batch.ByteSize() > kMaxMergedBytes) {
          break;
        }
        merged.Append(std::move(entries_[i].batch));
        ++taken;
      }
    }
    const absl::Time start = absl::Now();
    const absl::Status committed = store_->Commit(std::move(merged));
    if (commit_latency_ != nullptr) commit_latency_->Record(absl::Now() - start);
    if (!committed.ok()) {
      std::fprintf(stderr, "sematic-scheduler: store commit failed: %s\n",
                   committed.ToString().c_str());
      std::abort();
    }
    absl::MutexLock lock(&mu_);
    committed_count_ += taken;
    // Posted under the lock: once Drain has seen these batches committed, the post has been
    // made, so the loop may be destroyed safely afterwards.
    post_to_loop_([this] { ReleaseCommitted(); });
  }
}

}  // namespace sematic::scheduler
