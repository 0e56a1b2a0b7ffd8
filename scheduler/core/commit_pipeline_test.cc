#include "scheduler/core/commit_pipeline.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/event_loop.h"
#include "common/ids.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sematic::scheduler {
namespace {

using ::testing::ElementsAre;

class CommitPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / ("commit_pipeline_test-" + RandomHex64());
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open({.path = dir_.string()});
    ASSERT_OK(store.status());
    store_ = *std::move(store);
    loop_ = std::make_unique<EventLoop>();
    commits_ = std::make_unique<CommitPipeline>(
        store_.get(), [this](std::function<void()> f) { loop_->Post(std::move(f)); });
  }
  void TearDown() override {
    loop_->RunSync([this] { commits_->Drain(); });
    loop_.reset();
    commits_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  static Store::Batch BatchWithCache(const std::string& key, const std::string& digest) {
    Store::Batch batch;
    batch.PutCache(key, digest);
    return batch;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<CommitPipeline> commits_;
};

TEST_F(CommitPipelineTest, ReleasesEachBatchAfterItIsStoredInSubmissionOrder) {
  std::vector<int> released;  // loop-owned
  std::vector<bool> stored_when_released;
  absl::Notification all_released;
  constexpr int kBatches = 50;
  loop_->RunSync([&] {
    for (int i = 0; i < kBatches; ++i) {
      const std::string key = "key-" + std::to_string(i);
      commits_->Submit(BatchWithCache(key, "digest"), [&, i, key] {
        released.push_back(i);
        stored_when_released.push_back(store_->GetCache(key).ok());
        if (i == kBatches - 1) all_released.Notify();
      });
    }
  });
  ASSERT_TRUE(all_released.WaitForNotificationWithTimeout(absl::Seconds(30)));
  loop_->RunSync([&] {
    ASSERT_EQ(released.size(), static_cast<size_t>(kBatches));
    for (int i = 0; i < kBatches; ++i) {
      EXPECT_EQ(released[i], i);
      EXPECT_TRUE(stored_when_released[i]) << "batch " << i << " released before its commit";
    }
    EXPECT_TRUE(commits_->idle());
  });
}

// Batches too large to merge (over kMaxMergedBytes together) are still committed in order,
// and WaitForBacklogAtMost(0) returns only once every submitted batch is in the store.
TEST_F(CommitPipelineTest, LargeBatchesCommitInOrderAndTheBacklogCanBeAwaited) {
  constexpr int kBatches = 3;
  const std::string bytes(CommitPipeline::kMaxMergedBytes / 2 + 1, 'x');
  std::vector<int> released;  // loop-owned
  absl::Notification all_released;
  loop_->RunSync([&] {
    for (int i = 0; i < kBatches; ++i) {
      Store::Batch batch;
      v1::ArtifactMeta meta;
      meta.set_digest("digest-" + std::to_string(i));
      batch.PutArtifact(meta, bytes);
      commits_->Submit(std::move(batch), [&, i] {
        released.push_back(i);
        if (i == kBatches - 1) all_released.Notify();
      });
    }
    commits_->WaitForBacklogAtMost(0);
    for (int i = 0; i < kBatches; ++i) {
      EXPECT_TRUE(store_->GetValueBytes("digest-" + std::to_string(i)).ok()) << i;
    }
  });
  ASSERT_TRUE(all_released.WaitForNotificationWithTimeout(absl::Seconds(60)));
  loop_->RunSync([&] { EXPECT_THAT(released, ElementsAre(0, 1, 2)); });
}

TEST_F(CommitPipelineTest, DrainCommitsAndReleasesEverythingBeforeReturning) {
  std::vector<std::string> order;
  loop_->RunSync([&] {
    commits_->Submit(BatchWithCache("a", "1"), [&] { order.push_back("a"); });
    commits_->Submit(Store::Batch(), [&] { order.push_back("empty"); });
    commits_->Submit(BatchWithCache("b", "2"), [&] { order.push_back("b"); });
    commits_->Drain();
    EXPECT_THAT(order, ElementsAre("a", "empty", "b"));
    EXPECT_TRUE(commits_->idle());
    EXPECT_EQ(store_->GetCache("a").value_or(""), "1");
    EXPECT_EQ(store_->GetCache("b").value_or(""), "2");
    commits_->ReleaseCommitted();  // a release posted by the committer later finds nothing
    EXPECT_EQ(order.size(), 3u);
  });
}

TEST_F(CommitPipelineTest, ALaterWriteToTheSameKeyWinsAcrossMergedBatches) {
  loop_->RunSync([&] {
    for (int i = 0; i < 20; ++i) {
      commits_->Submit(BatchWithCache("same", std::to_string(i)), nullptr);
    }
    commits_->Drain();
    EXPECT_EQ(store_->GetCache("same").value_or(""), "19");
  });
}

TEST(StoreBatchTest, AppendKeepsTheFirstErrorAndAllWrites) {
  Store::Batch first;
  first.PutCache("a", "1");
  Store::Batch poisoned;
  internal::StoredJob bad;
  bad.mutable_job()->set_id("not-a-job-id");
  poisoned.PutJob(bad);
  poisoned.PutCache("b", "2");
  first.Append(std::move(poisoned));
  EXPECT_EQ(first.size(), 2u);
  EXPECT_EQ(first.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(poisoned.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
}

}  // namespace
}  // namespace sematic::scheduler
