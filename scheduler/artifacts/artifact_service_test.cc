#include "scheduler/artifacts/artifact_service.h"

#include <filesystem>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/ids.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sematic/sematic.h"

namespace sematic::scheduler {
namespace {

using ::sematic::testing::IsOk;
using ::sematic::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// A value of about `bytes` bytes, and its canonical serialization and digest.
struct Artifact {
  v1::TypeDesc type;
  v1::Value value;
  std::string bytes;
  std::string digest;
};

Artifact MakeArtifact(size_t bytes, char fill = 'x') {
  Artifact a;
  a.type = TypeOf<Bytes>();
  std::string data(bytes, fill);
  for (size_t i = 0; i < data.size(); i += 97) data[i] = static_cast<char>(i % 251);
  a.value = Encode(Bytes{std::move(data)});
  // Kept in a named StatusOr: `a.bytes = *CanonicalBytes(...)` read garbage in this file under
  // GCC 12 -O1 with ASan+UBSan (cause not found; the same pattern passes elsewhere).
  absl::StatusOr<std::string> canonical = CanonicalBytes(a.type, a.value);
  a.bytes = *canonical;
  a.digest = ArtifactId(a.type, a.value);
  return a;
}

class ArtifactServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / ("artifacts-" + RandomHex64());
    ASSERT_OK_AND_ASSIGN(store_, Store::Open({.path = (dir_ / "db").string()}));
    ASSERT_OK_AND_ASSIGN(blobs_, BlobStore::Open({.dir = (dir_ / "blobs").string(),
                                                  .sync = false}));
    ArtifactServiceOptions options;
    options.max_artifact_bytes = 8 << 20;
    service_ = std::make_unique<ArtifactService>(store_.get(), blobs_.get(), options);
  }
  void TearDown() override {
    service_.reset();
    blobs_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Uploads `bytes` in chunks of `chunk` bytes, announcing `digest` and `total_size`.
  // With `payload`, as a raw payload.
  absl::StatusOr<v1::UploadResponse> UploadBytes(const std::string& bytes,
                                                 const std::string& digest, uint64_t total_size,
                                                 size_t chunk, bool payload = false) {
    std::unique_ptr<ArtifactService::Upload> upload = service_->StartUpload();
    for (size_t at = 0; at == 0 || at < bytes.size(); at += chunk) {
      v1::UploadChunk c;
      if (at == 0) {
        c.set_digest(digest);
        c.set_total_size(total_size);
        c.set_payload(payload);
      }
      c.set_data(bytes.substr(at, chunk));
      if (absl::Status s = upload->Append(c); !s.ok()) return s;
    }
    return upload->Finish();
  }

  absl::StatusOr<v1::UploadResponse> Upload(const Artifact& a, size_t chunk) {
    return UploadBytes(a.bytes, a.digest, a.bytes.size(), chunk);
  }

  // Downloads [offset, offset + limit) and returns the bytes; checks offsets are contiguous.
  absl::StatusOr<std::string> Download(const std::string& digest, uint64_t offset,
                                       uint64_t limit) {
    v1::DownloadRequest request;
    request.set_digest(digest);
    request.set_offset(offset);
    request.set_limit(limit);
    ASSIGN_OR_RETURN(std::unique_ptr<ArtifactService::Download> download,
                     service_->StartDownload(request));
    std::string out;
    v1::DownloadChunk chunk;
    while (true) {
      ASSIGN_OR_RETURN(bool more, download->Next(&chunk));
      if (!more) break;
      EXPECT_EQ(chunk.offset(), offset + out.size());
      EXPECT_LE(chunk.data().size(), size_t{1} << 20);
      out += chunk.data();
    }
    return out;
  }

  size_t BlobFiles() const {
    size_t n = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_ / "blobs")) {
      if (e.is_regular_file()) ++n;
    }
    return n;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<ArtifactService> service_;
};

TEST_F(ArtifactServiceTest, AnUploadInSeveralChunksIsStoredWithItsType) {
  const Artifact a = MakeArtifact(3 << 20);
  ASSERT_OK_AND_ASSIGN(v1::UploadResponse done, Upload(a, 1 << 20));
  EXPECT_EQ(done.digest(), a.digest);
  EXPECT_EQ(done.committed_size(), a.bytes.size());
  ASSERT_OK_AND_ASSIGN(v1::ArtifactMeta meta, store_->GetArtifact(a.digest));
  EXPECT_TRUE(SameType(meta.type(), a.type));
  EXPECT_EQ(meta.size_bytes(), a.bytes.size());
  EXPECT_GT(meta.created_unix_micros(), 0);
  EXPECT_TRUE(blobs_->Contains(a.digest));
  ASSERT_OK_AND_ASSIGN(std::string back, Download(a.digest, 0, 0));
  EXPECT_TRUE(back == a.bytes);
}

TEST_F(ArtifactServiceTest, ASmallUploadGoesToTheValuesFamily) {
  const Artifact a = MakeArtifact(1000);
  ASSERT_OK_AND_ASSIGN(v1::UploadResponse done, Upload(a, 100));
  EXPECT_EQ(done.committed_size(), a.bytes.size());
  ASSERT_OK_AND_ASSIGN(std::string stored, store_->GetValueBytes(a.digest));
  EXPECT_TRUE(stored == a.bytes);
  EXPECT_FALSE(blobs_->Contains(a.digest));
  ASSERT_OK_AND_ASSIGN(std::string back, Download(a.digest, 10, 20));
  EXPECT_EQ(back, a.bytes.substr(10, 20));
}

TEST_F(ArtifactServiceTest, AWrongDigestKeepsNothing) {
  for (size_t size : {size_t{1000}, size_t{2} << 20}) {
    const Artifact a = MakeArtifact(size);
    const std::string wrong = Sha256Hex("something else");
    EXPECT_THAT(UploadBytes(a.bytes, wrong, a.bytes.size(), 256 << 10),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("digest")));
    EXPECT_THAT(store_->GetArtifact(wrong), StatusIs(absl::StatusCode::kNotFound));
    EXPECT_FALSE(blobs_->Contains(wrong));
  }
  EXPECT_EQ(BlobFiles(), 0u);
}

TEST_F(ArtifactServiceTest, AWrongSizeIsRejectedNamingTheField) {
  const Artifact a = MakeArtifact(2 << 20);
  // Announced larger than sent.
  EXPECT_THAT(UploadBytes(a.bytes, a.digest, a.bytes.size() + 10, 1 << 20),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("total_size")));
  // Announced smaller than sent.
  EXPECT_THAT(UploadBytes(a.bytes, a.digest, a.bytes.size() - 10, 1 << 20),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("total_size")));
  // No size at all.
  EXPECT_THAT(UploadBytes(a.bytes, a.digest, 0, 1 << 20),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("total_size: required")));
  EXPECT_THAT(store_->GetArtifact(a.digest), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(BlobFiles(), 0u);
}

TEST_F(ArtifactServiceTest, ChunksOverFourMiBAndArtifactsOverTheLimitAreRefused) {
  const Artifact a = MakeArtifact(6 << 20);
  EXPECT_THAT(Upload(a, (4 << 20) + 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("data: a chunk of")));
  const Artifact big = MakeArtifact(9 << 20);  // the test's limit is 8 MiB
  EXPECT_THAT(Upload(big, 1 << 20),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("total_size")));
  EXPECT_EQ(BlobFiles(), 0u);
}

TEST_F(ArtifactServiceTest, BytesThatAreNotATypedValueAreRefused) {
  std::string junk(100 << 10, '\x7f');
  EXPECT_THAT(UploadBytes(junk, Sha256Hex(junk), junk.size(), 1 << 20),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("data: not a")));
  // A valid head, then a value longer than the upload.
  const Artifact a = MakeArtifact(200 << 10);
  const std::string cut = a.bytes.substr(0, a.bytes.size() - 1);
  EXPECT_THAT(UploadBytes(cut, Sha256Hex(cut), cut.size(), 64 << 10),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("framing")));
  EXPECT_EQ(BlobFiles(), 0u);
}

TEST_F(ArtifactServiceTest, ReUploadingAnExistingArtifactIsIdempotent) {
  const Artifact a = MakeArtifact(2 << 20);
  ASSERT_THAT(Upload(a, 1 << 20).status(), IsOk());
  ASSERT_OK_AND_ASSIGN(v1::ArtifactMeta first, store_->GetArtifact(a.digest));
  const auto mtime =
      std::filesystem::last_write_time(dir_ / "blobs" / a.digest.substr(0, 2) / a.digest);
  ASSERT_OK_AND_ASSIGN(v1::UploadResponse again, Upload(a, 512 << 10));
  EXPECT_EQ(again.committed_size(), a.bytes.size());
  ASSERT_OK_AND_ASSIGN(v1::ArtifactMeta second, store_->GetArtifact(a.digest));
  EXPECT_EQ(second.created_unix_micros(), first.created_unix_micros());  // not rewritten
  EXPECT_EQ(std::filesystem::last_write_time(dir_ / "blobs" / a.digest.substr(0, 2) / a.digest),
            mtime);
  // Claiming another size for the same digest is an error.
  EXPECT_THAT(UploadBytes(a.bytes, a.digest, a.bytes.size() + 1, 1 << 20),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("total_size")));
}

TEST_F(ArtifactServiceTest, FindMissingListsWhatIsNotStoredAndNamesBadDigests) {
  const Artifact small = MakeArtifact(100);
  const Artifact large = MakeArtifact(1 << 20);
  ASSERT_THAT(Upload(small, 1 << 20).status(), IsOk());
  ASSERT_THAT(Upload(large, 1 << 20).status(), IsOk());
  const std::string absent = Sha256Hex("absent");
  v1::FindMissingRequest request;
  request.add_digests(small.digest);
  request.add_digests(absent);
  request.add_digests(large.digest);
  ASSERT_OK_AND_ASSIGN(v1::FindMissingResponse response, service_->FindMissing(request));
  EXPECT_THAT(response.missing(), ElementsAre(absent));

  request.add_digests(std::string(64, 'A'));  // upper case
  EXPECT_THAT(service_->FindMissing(request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("digests[3]")));
  v1::FindMissingRequest many;
  for (int i = 0; i < 10'001; ++i) many.add_digests(absent);
  EXPECT_THAT(service_->FindMissing(many),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at most 10000")));
}

TEST_F(ArtifactServiceTest, RangedDownloadsAndTheirErrors) {
  const Artifact a = MakeArtifact((2 << 20) + 12345);
  ASSERT_THAT(Upload(a, 1 << 20).status(), IsOk());
  const uint64_t size = a.bytes.size();
  ASSERT_OK_AND_ASSIGN(std::string tail, Download(a.digest, 1'500'000, 0));
  EXPECT_TRUE(tail == a.bytes.substr(1'500'000));
  ASSERT_OK_AND_ASSIGN(std::string middle, Download(a.digest, 1000, (1 << 20) + 7));
  EXPECT_TRUE(middle == a.bytes.substr(1000, (1 << 20) + 7));
  ASSERT_OK_AND_ASSIGN(std::string at_end, Download(a.digest, size, 0));
  EXPECT_EQ(at_end, "");
  EXPECT_THAT(Download(a.digest, size + 1, 0),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("offset")));
  EXPECT_THAT(Download(Sha256Hex("nothing"), 0, 0), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Download("../../etc/passwd", 0, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("digest")));
}

TEST_F(ArtifactServiceTest, GetArtifactShowsMetadataAndATruncatedJsonView) {
  std::vector<float> values(5000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  const Tensor t = Tensor::FromVector<float>({50, 100}, values);
  Artifact a;
  a.type = TypeOf<Tensor>();
  a.value = Encode(t);
  // Kept in a named StatusOr: `a.bytes = *CanonicalBytes(...)` read garbage in this file under
  // GCC 12 -O1 with ASan+UBSan (cause not found; the same pattern passes elsewhere).
  absl::StatusOr<std::string> canonical = CanonicalBytes(a.type, a.value);
  a.bytes = *canonical;
  a.digest = ArtifactId(a.type, a.value);
  ASSERT_THAT(Upload(a, 4096).status(), IsOk());

  v1::GetArtifactRequest request;
  request.set_digest(a.digest);
  ASSERT_OK_AND_ASSIGN(v1::GetArtifactResponse plain, service_->GetArtifact(request));
  EXPECT_EQ(plain.meta().size_bytes(), a.bytes.size());
  EXPECT_EQ(plain.json(), "");

  request.set_include_json(true);
  request.set_json_max_elements(3);
  ASSERT_OK_AND_ASSIGN(v1::GetArtifactResponse view, service_->GetArtifact(request));
  EXPECT_THAT(view.json(), HasSubstr("\"truncated\":true"));
  EXPECT_THAT(view.json(), HasSubstr("[0,1,2]"));
  EXPECT_THAT(view.json(), Not(HasSubstr(",3")));
  request.set_json_max_elements(0);  // the default: 1000
  ASSERT_OK_AND_ASSIGN(v1::GetArtifactResponse defaults, service_->GetArtifact(request));
  EXPECT_THAT(defaults.json(), HasSubstr(",999]"));

  request.set_digest(Sha256Hex("nothing"));
  EXPECT_THAT(service_->GetArtifact(request), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(ArtifactServiceTest, ValuesOverThePreviewLimitAreNotLoadedForJson) {
  ArtifactServiceOptions options;
  options.max_json_source_bytes = 1 << 20;
  ArtifactService capped(store_.get(), blobs_.get(), options);
  const Artifact a = MakeArtifact(2 << 20);
  ASSERT_THAT(Upload(a, 1 << 20).status(), IsOk());
  v1::GetArtifactRequest request;
  request.set_digest(a.digest);
  request.set_include_json(true);
  ASSERT_OK_AND_ASSIGN(v1::GetArtifactResponse view, capped.GetArtifact(request));
  EXPECT_THAT(view.json(), HasSubstr("preview_unavailable"));
  EXPECT_EQ(view.meta().size_bytes(), a.bytes.size());
}

// Raw payloads (sematic/payload.h): what a value's PayloadRef points at.
std::string PayloadBytes(size_t size) {
  std::string bytes(size, 'p');
  for (size_t i = 0; i < bytes.size(); i += 101) bytes[i] = static_cast<char>(i % 253);
  return bytes;
}

TEST_F(ArtifactServiceTest, ARawPayloadIsStoredAsABlobWithoutAType) {
  const std::string bytes = PayloadBytes(kPayloadThresholdBytes + 5);
  const std::string digest = Sha256Hex(bytes);
  ASSERT_OK_AND_ASSIGN(v1::UploadResponse done,
                       UploadBytes(bytes, digest, bytes.size(), 300 << 10, /*payload=*/true));
  EXPECT_EQ(done.committed_size(), bytes.size());
  EXPECT_TRUE(blobs_->Contains(digest));
  v1::FindMissingRequest find;
  find.add_digests(digest);
  ASSERT_OK_AND_ASSIGN(v1::FindMissingResponse missing, service_->FindMissing(find));
  EXPECT_THAT(missing.missing(), ElementsAre());
  ASSERT_OK_AND_ASSIGN(std::string back, Download(digest, 0, 0));
  EXPECT_TRUE(back == bytes);

  v1::GetArtifactRequest request;
  request.set_digest(digest);
  request.set_include_json(true);
  ASSERT_OK_AND_ASSIGN(v1::GetArtifactResponse view, service_->GetArtifact(request));
  EXPECT_TRUE(view.meta().payload());
  EXPECT_EQ(view.meta().type().kind(), v1::TypeDesc::KIND_UNSPECIFIED);
  EXPECT_EQ(view.meta().size_bytes(), bytes.size());
  EXPECT_EQ(view.json(), absl::StrCat(R"({"payload":{"size_bytes":)", bytes.size(), "}}"));

  // Again: accepted and dropped; but not as a value.
  EXPECT_THAT(UploadBytes(bytes, digest, bytes.size(), 1 << 20, true).status(), IsOk());
  EXPECT_THAT(
      UploadBytes(bytes, digest, bytes.size(), 1 << 20, false).status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("payload: not set, but artifact " + digest + " is stored as a payload")));
}

TEST_F(ArtifactServiceTest, ARawPayloadIsCheckedByDigestAndSizeOnly) {
  const std::string bytes = PayloadBytes(kPayloadThresholdBytes);
  // Not a TypedValue, and not refused for that; but a wrong digest keeps nothing.
  const std::string wrong = Sha256Hex("something else");
  EXPECT_THAT(UploadBytes(bytes, wrong, bytes.size(), 1 << 20, true).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("digest")));
  EXPECT_FALSE(service_->Contains(wrong));
  EXPECT_EQ(BlobFiles(), 0u);
  // Small payloads belong inline in their value.
  const std::string small = bytes.substr(1);
  EXPECT_THAT(UploadBytes(small, Sha256Hex(small), small.size(), 1 << 20, true).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("payloads under 1048576 bytes are stored inline")));
  // Without the flag the same bytes are refused as not being a TypedValue.
  EXPECT_THAT(UploadBytes(bytes, Sha256Hex(bytes), bytes.size(), 1 << 20, false).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("TypedValue")));
}

TEST_F(ArtifactServiceTest, AValueWithARefUploadsAndItsPayloadToo) {
  v1::Value value = Encode(Blob{PayloadBytes(2 << 20)});
  std::vector<Payload> payloads = ExternalizePayloads(&value);
  ASSERT_EQ(payloads.size(), 1u);
  ASSERT_THAT(
      UploadBytes(payloads[0].bytes, payloads[0].digest, payloads[0].bytes.size(), 1 << 20, true)
          .status(),
      IsOk());
  absl::StatusOr<std::string> bytes = CanonicalBytes(TypeOf<Blob>(), value);
  ASSERT_THAT(bytes.status(), IsOk());
  const std::string id = ArtifactId(TypeOf<Blob>(), value);
  ASSERT_THAT(UploadBytes(*bytes, id, bytes->size(), 1 << 20).status(), IsOk());
  v1::GetArtifactRequest request;
  request.set_digest(id);
  request.set_include_json(true);
  ASSERT_OK_AND_ASSIGN(v1::GetArtifactResponse view, service_->GetArtifact(request));
  EXPECT_FALSE(view.meta().payload());
  EXPECT_THAT(view.json(), HasSubstr(payloads[0].digest));
}

// Canonical form at the door: what the scheduler stores never holds a large payload inline nor
// names a payload it lacks (a consumer would fail on it only when it runs). Nothing is kept.
TEST_F(ArtifactServiceTest, ValuesMustBeCanonicalWithTheirPayloadsStoredFirst) {
  const v1::Value inline_value =
      Encode(std::vector<Blob>{Blob{"small"}, Blob{PayloadBytes(2 << 20)}});
  v1::TypedValue typed;
  *typed.mutable_type() = TypeOf<std::vector<Blob>>();
  *typed.mutable_value() = inline_value;
  const std::string inline_bytes = typed.SerializeAsString();
  for (const size_t chunk : {size_t{1} << 20, size_t{4} << 20}) {
    EXPECT_THAT(UploadBytes(inline_bytes, Sha256Hex(inline_bytes), inline_bytes.size(), chunk)
                    .status(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("data.value[1]: a BLOB of 2097152 bytes inline")))
        << chunk;
  }
  EXPECT_FALSE(service_->Contains(Sha256Hex(inline_bytes)));

  v1::Value value = inline_value;
  std::vector<Payload> payloads = ExternalizePayloads(&value);
  ASSERT_EQ(payloads.size(), 1u);
  ASSERT_OK_AND_ASSIGN(const std::string bytes, CanonicalBytes(typed.type(), value));
  const std::string id = ArtifactId(typed.type(), value);
  EXPECT_THAT(UploadBytes(bytes, id, bytes.size(), 7).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("data.value[1]: payload " + payloads[0].digest +
                                 " (2097152 bytes) was never uploaded")));
  EXPECT_FALSE(service_->Contains(id));

  // A large value (stored as a file) is checked as it streams too.
  v1::Value large = Encode(std::make_tuple(std::string(200 << 10, 'x'), Blob{}));
  *large.mutable_list_value()->mutable_items(1) = value.list_value().items(1);
  v1::TypedValue large_typed;
  *large_typed.mutable_type() = TypeOf<std::tuple<std::string, Blob>>();
  *large_typed.mutable_value() = large;
  const std::string large_bytes = large_typed.SerializeAsString();
  ASSERT_GT(large_bytes.size(), kSmallArtifactBytes);
  EXPECT_THAT(UploadBytes(large_bytes, Sha256Hex(large_bytes), large_bytes.size(), 4096).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("data.value[1]: payload")));

  ASSERT_OK(UploadBytes(payloads[0].bytes, payloads[0].digest, payloads[0].bytes.size(), 1 << 20,
                        true)
                .status());
  EXPECT_OK(UploadBytes(bytes, id, bytes.size(), 7).status());
  EXPECT_OK(UploadBytes(large_bytes, Sha256Hex(large_bytes), large_bytes.size(), 4096).status());
}

}  // namespace
}  // namespace sematic::scheduler
