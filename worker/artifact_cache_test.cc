#include "worker/artifact_cache.h"

#include <filesystem>
#include <fstream>

#include "common/digest.h"
#include "common/ids.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sematic::worker {
namespace {

using ::sematic::testing::IsOk;
using ::sematic::testing::StatusIs;
namespace fs = std::filesystem;

class ArtifactCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("cache-" + RandomHex64());
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

std::string Bytes(char c, size_t n) { return std::string(n, c); }

TEST_F(ArtifactCacheTest, EvictsLeastRecentlyUsedToStayUnderTheCap) {
  absl::StatusOr<std::unique_ptr<ArtifactCache>> cache = ArtifactCache::Open(dir_, 300);
  ASSERT_TRUE(cache.ok()) << cache.status();
  const std::string a = Bytes('a', 100), b = Bytes('b', 100), c = Bytes('c', 100),
                    d = Bytes('d', 100);
  ASSERT_THAT((*cache)->Insert(Sha256Hex(a), a), IsOk());
  ASSERT_THAT((*cache)->Insert(Sha256Hex(b), b), IsOk());
  ASSERT_THAT((*cache)->Insert(Sha256Hex(c), c), IsOk());
  EXPECT_EQ((*cache)->size_bytes(), 300);
  // Touch a: b is now the least recently used.
  EXPECT_EQ((*cache)->Get(Sha256Hex(a)), a);
  ASSERT_THAT((*cache)->Insert(Sha256Hex(d), d), IsOk());
  EXPECT_EQ((*cache)->size_bytes(), 300);
  EXPECT_FALSE((*cache)->Contains(Sha256Hex(b)));
  EXPECT_FALSE(fs::exists(dir_ / Sha256Hex(b)));
  EXPECT_EQ((*cache)->Get(Sha256Hex(b)), std::nullopt);
  EXPECT_EQ((*cache)->Get(Sha256Hex(a)), a);
  EXPECT_EQ((*cache)->Get(Sha256Hex(c)), c);
  EXPECT_EQ((*cache)->Get(Sha256Hex(d)), d);
}

TEST_F(ArtifactCacheTest, RejectsBytesThatDoNotMatchTheirDigest) {
  auto cache = *ArtifactCache::Open(dir_, 1000);
  EXPECT_THAT(cache->Insert(Sha256Hex("x"), "y"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(cache->Contains(Sha256Hex("x")));
  EXPECT_EQ(cache->size_bytes(), 0);
}

TEST_F(ArtifactCacheTest, AnEntryLargerThanTheCapIsNotStored) {
  auto cache = *ArtifactCache::Open(dir_, 10);
  const std::string big = Bytes('z', 11);
  EXPECT_THAT(cache->Insert(Sha256Hex(big), big), IsOk());
  EXPECT_FALSE(cache->Contains(Sha256Hex(big)));
  EXPECT_EQ(cache->size_bytes(), 0);
}

TEST_F(ArtifactCacheTest, ReopeningAdoptsFilesAndEnforcesASmallerCap) {
  const std::string a = Bytes('a', 100), b = Bytes('b', 100);
  {
    auto cache = *ArtifactCache::Open(dir_, 1000);
    ASSERT_THAT(cache->Insert(Sha256Hex(a), a), IsOk());
    ASSERT_THAT(cache->Insert(Sha256Hex(b), b), IsOk());
  }
  std::ofstream(dir_ / "leftover.tmp-123") << "partial";
  // Make b clearly newer than a.
  fs::last_write_time(dir_ / Sha256Hex(a), fs::file_time_type::clock::now() - std::chrono::hours(1));
  auto reopened = *ArtifactCache::Open(dir_, 150);
  EXPECT_EQ(reopened->size_bytes(), 100);
  EXPECT_TRUE(reopened->Contains(Sha256Hex(b)));
  EXPECT_FALSE(reopened->Contains(Sha256Hex(a)));
  EXPECT_FALSE(fs::exists(dir_ / "leftover.tmp-123"));
  EXPECT_EQ(reopened->Get(Sha256Hex(b)), b);
}

TEST_F(ArtifactCacheTest, NegativeCapIsInvalid) {
  EXPECT_THAT(ArtifactCache::Open(dir_, -1), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace sematic::worker
