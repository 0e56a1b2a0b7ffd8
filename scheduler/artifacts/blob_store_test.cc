#include "scheduler/artifacts/blob_store.h"

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/digest.h"
#include "common/ids.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sematic::scheduler {
namespace {

using ::sematic::testing::IsOk;
using ::sematic::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / ("blobs-" + RandomHex64());
    ASSERT_OK_AND_ASSIGN(store_, BlobStore::Open({dir_.string()}));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  size_t TempFiles() const {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_ / "tmp")) n += e.exists();
    return n;
  }

  std::filesystem::path dir_;
  std::unique_ptr<BlobStore> store_;
};

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7919) >> 3);
  return s;
}

TEST_F(BlobStoreTest, ChunkedUploadThenRangedDownload) {
  const std::string data = Pattern(3 * 1024 * 1024 + 17);
  const std::string digest = Sha256Hex(data);
  EXPECT_FALSE(store_->Contains(digest));
  ASSERT_OK_AND_ASSIGN(auto writer, store_->NewWriter(digest, data.size()));
  for (size_t at = 0; at < data.size(); at += 65536) {
    ASSERT_OK(writer->Append(std::string_view(data).substr(at, 65536)));
  }
  ASSERT_OK_AND_ASSIGN(uint64_t size, writer->Commit());
  EXPECT_EQ(size, data.size());
  EXPECT_TRUE(store_->Contains(digest));
  EXPECT_EQ(store_->Size(digest).value(), data.size());

  std::string got;
  std::vector<uint64_t> offsets;
  ASSERT_OK(store_->Read(digest, 1000, 2'000'000, 1 << 20, [&](std::string_view c, uint64_t o) {
    offsets.push_back(o);
    got.append(c);
    return true;
  }));
  EXPECT_EQ(got, data.substr(1000, 2'000'000));
  EXPECT_THAT(offsets, ElementsAre(1000, 1000 + (1 << 20)));
  EXPECT_EQ(store_->ReadAll(digest).value(), data);
  EXPECT_EQ(TempFiles(), 0u);
}

TEST_F(BlobStoreTest, RejectsWrongDigestOrSizeAndKeepsNothing) {
  const std::string data = Pattern(1000);
  ASSERT_OK_AND_ASSIGN(auto writer, store_->NewWriter(Sha256Hex("other"), data.size()));
  ASSERT_OK(writer->Append(data));
  EXPECT_THAT(writer->Commit(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("digest")));
  writer.reset();
  EXPECT_FALSE(store_->Contains(Sha256Hex("other")));
  EXPECT_EQ(TempFiles(), 0u);

  ASSERT_OK_AND_ASSIGN(writer, store_->NewWriter(Sha256Hex(data), data.size() + 1));
  ASSERT_OK(writer->Append(data));
  EXPECT_THAT(writer->Commit(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("total_size")));

  ASSERT_OK_AND_ASSIGN(writer, store_->NewWriter(Sha256Hex(data), 10));
  EXPECT_THAT(writer->Append(data),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("announced size")));
}

TEST_F(BlobStoreTest, MalformedDigestsNeverTouchTheFileSystem) {
  EXPECT_THAT(store_->NewWriter("../../etc/passwd", 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("digest")));
  EXPECT_THAT(store_->Size("ABC"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(store_->Contains("../x"));
  EXPECT_THAT(store_->FindMissing({"zz", Sha256Hex("a")}), ElementsAre("zz", Sha256Hex("a")));
}

TEST_F(BlobStoreTest, ErrorsForMissingBlobsAndBadRanges) {
  EXPECT_THAT(store_->Size(Sha256Hex("nope")), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->ReadAll(Sha256Hex("nope")), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(std::string digest, store_->Put("hello"));
  EXPECT_THAT(store_->Read(digest, 6, 0, 10, [](std::string_view, uint64_t) { return true; }),
              StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(store_->FindMissing({digest, Sha256Hex("x")}), ElementsAre(Sha256Hex("x")));
  EXPECT_THAT(store_->NewWriter(digest, uint64_t{1} << 62),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
}

TEST_F(BlobStoreTest, ConcurrentWritersOfOneDigestAgree) {
  const std::string data = Pattern(500000);
  const std::string digest = Sha256Hex(data);
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto writer = store_->NewWriter(digest, data.size());
      if (!writer.ok()) {
        results[t] = writer.status();
        return;
      }
      for (size_t at = 0; at < data.size() && results[t].ok(); at += 4096) {
        results[t] = (*writer)->Append(std::string_view(data).substr(at, 4096));
      }
      if (results[t].ok()) results[t] = (*writer)->Commit().status();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_OK(r);
  EXPECT_EQ(store_->ReadAll(digest).value(), data);
  EXPECT_EQ(TempFiles(), 0u);
}

TEST_F(BlobStoreTest, ReopenDropsInterruptedUploadsAndKeepsBlobs) {
  ASSERT_OK_AND_ASSIGN(std::string digest, store_->Put("kept"));
  {
    ASSERT_OK_AND_ASSIGN(auto writer, store_->NewWriter(Sha256Hex("partial!"), 8));
    ASSERT_OK(writer->Append("part"));
    // Simulate a crash: the temporary file stays while the writer is alive.
    ASSERT_EQ(TempFiles(), 1u);
    ASSERT_OK_AND_ASSIGN(auto reopened, BlobStore::Open({dir_.string()}));
    EXPECT_EQ(TempFiles(), 0u);
    EXPECT_EQ(reopened->ReadAll(digest).value(), "kept");
    EXPECT_FALSE(reopened->Contains(Sha256Hex("partial!")));
  }
}

}  // namespace
}  // namespace sematic::scheduler
