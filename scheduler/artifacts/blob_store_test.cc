#include "scheduler/artifacts/blob_store.h"

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
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

// Every test runs with direct I/O (the default) and through the page cache.
class BlobStoreTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / ("blobs-" + RandomHex64());
    ASSERT_OK_AND_ASSIGN(store_, BlobStore::Open(Options()));
  }
  BlobStoreOptions Options() const {
    BlobStoreOptions options;
    options.dir = dir_.string();
    options.direct_io = GetParam();
    return options;
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

TEST_P(BlobStoreTest, ChunkedUploadThenRangedDownload) {
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

TEST_P(BlobStoreTest, RejectsWrongDigestOrSizeAndKeepsNothing) {
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

TEST_P(BlobStoreTest, MalformedDigestsNeverTouchTheFileSystem) {
  EXPECT_THAT(store_->NewWriter("../../etc/passwd", 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("digest")));
  EXPECT_THAT(store_->Size("ABC"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(store_->Contains("../x"));
  EXPECT_THAT(store_->FindMissing({"zz", Sha256Hex("a")}), ElementsAre("zz", Sha256Hex("a")));
}

TEST_P(BlobStoreTest, ErrorsForMissingBlobsAndBadRanges) {
  EXPECT_THAT(store_->Size(Sha256Hex("nope")), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->ReadAll(Sha256Hex("nope")), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(std::string digest, store_->Put("hello"));
  EXPECT_THAT(store_->Read(digest, 6, 0, 10, [](std::string_view, uint64_t) { return true; }),
              StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(store_->FindMissing({digest, Sha256Hex("x")}), ElementsAre(Sha256Hex("x")));
  EXPECT_THAT(store_->NewWriter(digest, uint64_t{1} << 62),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
}

TEST_P(BlobStoreTest, ConcurrentWritersOfOneDigestAgree) {
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

// Sizes around the 4 KiB blocks direct I/O writes and the stages the writer fills, appended in
// chunks that straddle stage boundaries: the file holds exactly the bytes, no padding.
TEST_P(BlobStoreTest, SizesAroundBlockAndStageBoundariesAreStoredExactly) {
  const size_t stage = BlobStore::kStageBytes;
  for (size_t size : {size_t{1}, size_t{4095}, size_t{4096}, size_t{4097}, stage - 1, stage,
                      stage + 1, 3 * stage, 4 * stage + 12345}) {
    SCOPED_TRACE(size);
    const std::string data = Pattern(size);
    const std::string digest = Sha256Hex(data);
    ASSERT_OK_AND_ASSIGN(auto writer, store_->NewWriter(digest, data.size()));
    for (size_t at = 0; at < data.size(); at += 1000003) {
      ASSERT_OK(writer->Append(std::string_view(data).substr(at, 1000003)));
    }
    ASSERT_OK_AND_ASSIGN(uint64_t committed, writer->Commit());
    EXPECT_EQ(committed, size);
    EXPECT_EQ(std::filesystem::file_size(dir_ / digest.substr(0, 2) / digest), size);
    EXPECT_EQ(store_->ReadAll(digest).value(), data);
  }
  EXPECT_EQ(TempFiles(), 0u);
}

TEST_P(BlobStoreTest, AWrongDigestOverSeveralStagesKeepsNothing) {
  const std::string data = Pattern(2 * BlobStore::kStageBytes + 100);
  std::string other = data;
  other[BlobStore::kStageBytes + 7] ^= 1;
  ASSERT_OK_AND_ASSIGN(auto writer, store_->NewWriter(Sha256Hex(other), data.size()));
  ASSERT_OK(writer->Append(data));
  EXPECT_THAT(writer->Commit(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("digest")));
  writer.reset();
  EXPECT_FALSE(store_->Contains(Sha256Hex(other)));
  EXPECT_EQ(TempFiles(), 0u);
}

TEST_P(BlobStoreTest, AWriterDroppedWithStagesInFlightLeavesNoFile) {
  const std::string data = Pattern(3 * BlobStore::kStageBytes);
  ASSERT_OK_AND_ASSIGN(auto writer, store_->NewWriter(Sha256Hex(data), data.size() + 1));
  ASSERT_OK(writer->Append(data));
  writer.reset();
  EXPECT_EQ(TempFiles(), 0u);
  EXPECT_FALSE(store_->Contains(Sha256Hex(data)));
}

// Ranges that start and end off block and stage boundaries, read in pieces of odd sizes.
TEST_P(BlobStoreTest, AReaderHandsOutExactlyItsRange) {
  const size_t stage = BlobStore::kStageBytes;
  const std::string data = Pattern(3 * stage + 5000);
  ASSERT_OK_AND_ASSIGN(std::string digest, store_->Put(data));
  struct Range {
    uint64_t offset, limit;
    size_t piece;
  };
  for (const Range& r : {Range{0, 0, 1 << 20}, Range{1, 0, 777777}, Range{4095, 4098, 1000},
                         Range{stage - 3, stage + 6, 1 << 20}, Range{data.size() - 1, 0, 10},
                         Range{data.size(), 0, 10}, Range{12345, 1, 1},
                         Range{100, data.size() * 2, 3 * stage}}) {
    SCOPED_TRACE(absl::StrCat(r.offset, "+", r.limit));
    ASSERT_OK_AND_ASSIGN(auto reader, store_->OpenReader(digest, r.offset, r.limit));
    const std::string want =
        data.substr(r.offset, r.limit == 0 ? std::string::npos : r.limit);
    std::string got;
    while (true) {
      ASSERT_OK_AND_ASSIGN(size_t n, reader->Next(r.piece, &got));
      if (n == 0) break;
      ASSERT_LE(n, r.piece);
    }
    EXPECT_EQ(got.size(), want.size());
    EXPECT_TRUE(got == want);
  }
  EXPECT_THAT(store_->OpenReader(digest, data.size() + 1, 0),
              StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(store_->OpenReader(Sha256Hex("nope"), 0, 0), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(BlobStoreTest, AReaderAbandonedEarlyStopsReadingAhead) {
  const std::string data = Pattern(5 * BlobStore::kStageBytes);
  ASSERT_OK_AND_ASSIGN(std::string digest, store_->Put(data));
  ASSERT_OK_AND_ASSIGN(auto reader, store_->OpenReader(digest, 0, 0));
  std::string got;
  ASSERT_OK_AND_ASSIGN(size_t n, reader->Next(10, &got));
  EXPECT_EQ(n, 10u);
  EXPECT_EQ(got, data.substr(0, 10));
  reader.reset();  // must return although the read-ahead is blocked on a full pipe
}

TEST_P(BlobStoreTest, AReaderOfAFileShorterThanItsRangeReportsDataLoss) {
  const std::string data = Pattern(BlobStore::kStageBytes + 9000);
  ASSERT_OK_AND_ASSIGN(std::string digest, store_->Put(data));
  ASSERT_OK_AND_ASSIGN(auto reader, store_->OpenReader(digest, 0, 0));
  std::filesystem::resize_file(dir_ / digest.substr(0, 2) / digest, 5000);
  std::string got;
  absl::StatusOr<size_t> n;
  do {
    n = reader->Next(1 << 20, &got);
  } while (n.ok() && *n > 0);
  EXPECT_THAT(n, StatusIs(absl::StatusCode::kDataLoss, HasSubstr("shorter")));
}

TEST_P(BlobStoreTest, ReopenDropsInterruptedUploadsAndKeepsBlobs) {
  ASSERT_OK_AND_ASSIGN(std::string digest, store_->Put("kept"));
  {
    ASSERT_OK_AND_ASSIGN(auto writer, store_->NewWriter(Sha256Hex("partial!"), 8));
    ASSERT_OK(writer->Append("part"));
    // Simulate a crash: the temporary file stays while the writer is alive.
    ASSERT_EQ(TempFiles(), 1u);
    ASSERT_OK_AND_ASSIGN(auto reopened, BlobStore::Open(Options()));
    EXPECT_EQ(TempFiles(), 0u);
    EXPECT_EQ(reopened->ReadAll(digest).value(), "kept");
    EXPECT_FALSE(reopened->Contains(Sha256Hex("partial!")));
  }
}

INSTANTIATE_TEST_SUITE_P(DirectAndBuffered, BlobStoreTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Direct" : "Buffered";
                         });

}  // namespace
}  // namespace sematic::scheduler
