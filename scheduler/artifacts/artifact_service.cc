#include "scheduler/artifacts/artifact_service.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/digest.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "sematic/codec.h"
#include "sematic/json.h"
#include "scheduler/artifacts/payload_scanner.h"
#include "sematic/payload.h"

namespace sematic::scheduler {
namespace {

// Wire-format tags of TypedValue's fields (both length-delimited). A deterministic
// serialization writes the type first, then the value.
constexpr uint8_t kTypeTag = (1 << 3) | 2;
constexpr uint8_t kValueTag = (2 << 3) | 2;
constexpr size_t kMaxVarintBytes = 10;
// A GetArtifact response must stay well under gRPC's default 4 MiB message limit.
constexpr size_t kMaxJsonBytes = size_t{3} << 20;

absl::Status CheckDigest(std::string_view digest, std::string_view field) {
  if (IsSha256Hex(digest)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(AsAbsl(field),
                                                 ": expected 64 lowercase hex characters, got \"",
                                                 AsAbsl(digest.substr(0, 80)), "\""));
}

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// The head of a serialized TypedValue: its type, and the size the value field's framing implies
// for the whole serialization.
struct TypedValueHead {
  v1::TypeDesc type;
  uint64_t implied_size = 0;
};

// Parses the head from the first bytes of an upload, reading only the leading type field and the
// value field's tag and length: nothing of a multi-GiB value. Returns nullopt while `head` is too
// short to tell (and shorter than `total_size`), INVALID_ARGUMENT when it cannot be a TypedValue.
absl::StatusOr<std::optional<TypedValueHead>> ParseHead(std::string_view head,
                                                        uint64_t total_size,
                                                        size_t max_type_bytes) {
  const bool complete = head.size() >= total_size;
  auto need_more = [&](std::string_view what) -> absl::StatusOr<std::optional<TypedValueHead>> {
    if (complete) {
      return absl::InvalidArgumentError(
          absl::StrCat("data: not a TypedValue (it ends inside ", AsAbsl(what), ")"));
    }
    return std::nullopt;
  };
  if (head.empty()) return need_more("its type");
  if (static_cast<uint8_t>(head[0]) != kTypeTag) {
    return absl::InvalidArgumentError(
        "data: not a serialized TypedValue (it must start with its type, field 1)");
  }
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(head.data()),
                                            static_cast<int>(head.size()));
  in.Skip(1);
  uint32_t type_size = 0;
  if (!in.ReadVarint32(&type_size)) {
    if (head.size() > kMaxVarintBytes) {
      return absl::InvalidArgumentError("data: the type's length is malformed");
    }
    return need_more("the type's length");
  }
  if (type_size > max_type_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("data: the type is ", type_size, " bytes; at most ", max_type_bytes));
  }
  const size_t type_start = static_cast<size_t>(in.CurrentPosition());
  if (head.size() < type_start + type_size) return need_more("its type");
  TypedValueHead out;
  if (!out.type.ParseFromArray(head.data() + type_start, static_cast<int>(type_size))) {
    return absl::InvalidArgumentError("data: the TypedValue's type does not parse");
  }
  const size_t type_end = type_start + type_size;
  if (type_end == total_size) {  // no value field
    out.implied_size = type_end;
    return out;
  }
  if (head.size() == type_end) return need_more("the value's tag");
  if (static_cast<uint8_t>(head[type_end]) != kValueTag) {
    return absl::InvalidArgumentError(
        "data: not a serialized TypedValue (the type must be followed by the value, field 2)");
  }
  google::protobuf::io::CodedInputStream value_in(
      reinterpret_cast<const uint8_t*>(head.data() + type_end + 1),
      static_cast<int>(head.size() - type_end - 1));
  uint64_t value_size = 0;
  if (!value_in.ReadVarint64(&value_size)) {
    if (head.size() - type_end - 1 >= kMaxVarintBytes) {
      return absl::InvalidArgumentError("data: the value's length is malformed");
    }
    return need_more("the value's length");
  }
  out.implied_size = type_end + 1 + static_cast<uint64_t>(value_in.CurrentPosition()) + value_size;
  return out;
}

absl::Status CheckFraming(const TypedValueHead& head, uint64_t total_size) {
  if (head.implied_size == total_size) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("data: not a single TypedValue: its framing says ", head.implied_size,
                   " bytes, total_size says ", total_size));
}

}  // namespace

bool SameType(const v1::TypeDesc& a, const v1::TypeDesc& b) {
  std::string sa, sb;
  {
    google::protobuf::io::StringOutputStream out_a(&sa);
    google::protobuf::io::CodedOutputStream coded_a(&out_a);
    coded_a.SetSerializationDeterministic(true);
    a.SerializeToCodedStream(&coded_a);
  }
  {
    google::protobuf::io::StringOutputStream out_b(&sb);
    google::protobuf::io::CodedOutputStream coded_b(&out_b);
    coded_b.SetSerializationDeterministic(true);
    b.SerializeToCodedStream(&coded_b);
  }
  return sa == sb;
}

// ---- Upload -------------------------------------------------------------------------------------

class ArtifactService::UploadImpl : public ArtifactService::Upload {
 public:
  UploadImpl(Store* store, BlobStore* blobs, const ArtifactServiceOptions& options)
      : store_(store), blobs_(blobs), options_(options) {}

  absl::Status Append(const v1::UploadChunk& chunk) override {
    if (!error_.ok()) return error_;
    error_ = DoAppend(chunk);
    if (!error_.ok()) writer_.reset();  // discards the temporary file
    return error_;
  }

  absl::StatusOr<v1::UploadResponse> Finish() override {
    if (!error_.ok()) return error_;
    absl::StatusOr<v1::UploadResponse> done = DoFinish();
    writer_.reset();
    error_ = done.ok() ? absl::FailedPreconditionError("the upload is finished") : done.status();
    return done;
  }

 private:
  absl::Status DoAppend(const v1::UploadChunk& chunk) {
    if (chunk.data().size() > options_.max_chunk_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("data: a chunk of ", chunk.data().size(),
                                                     " bytes; at most ", options_.max_chunk_bytes));
    }
    if (!started_) {
      RETURN_IF_ERROR(Begin(chunk));
    } else {
      if (chunk.payload() && !payload_) {
        return absl::InvalidArgumentError("payload: set after the first chunk");
      }
      if (!chunk.digest().empty() && chunk.digest() != digest_) {
        return absl::InvalidArgumentError("digest: changed after the first chunk");
      }
      if (chunk.total_size() != 0 && chunk.total_size() != total_size_) {
        return absl::InvalidArgumentError("total_size: changed after the first chunk");
      }
    }
    const std::string& data = chunk.data();
    if (data.size() > total_size_ - received_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "data: more than total_size (", total_size_, ") bytes; ", received_ + data.size(),
          " so far"));
    }
    received_ += data.size();
    if (existing_) return absl::OkStatus();  // already stored: the bytes are not rewritten
    if (!payload_) RETURN_IF_ERROR(scanner_.Feed(data));
    if (!payload_ && !head_.has_value()) {
      const size_t room = options_.max_type_bytes + 2 * kMaxVarintBytes + 2;
      head_bytes_.append(data, 0, std::min(data.size(), room - std::min(room, head_bytes_.size())));
      ASSIGN_OR_RETURN(head_, ParseHead(head_bytes_, total_size_, options_.max_type_bytes));
      if (head_.has_value()) {
        RETURN_IF_ERROR(CheckFraming(*head_, total_size_));
        head_bytes_.clear();
        head_bytes_.shrink_to_fit();
      }
    }
    if (writer_ != nullptr) return writer_->Append(data);
    small_bytes_.append(data);
    return absl::OkStatus();
  }

  absl::Status Begin(const v1::UploadChunk& chunk) {
    started_ = true;
    if (chunk.digest().empty()) {
      return absl::InvalidArgumentError("digest: required in the first chunk");
    }
    RETURN_IF_ERROR(CheckDigest(chunk.digest(), "digest"));
    if (chunk.total_size() == 0) {
      return absl::InvalidArgumentError("total_size: required in the first chunk");
    }
    if (chunk.total_size() > options_.max_artifact_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("total_size: ", chunk.total_size(), " bytes is over the limit of ",
                       options_.max_artifact_bytes, " bytes per artifact"));
    }
    digest_ = chunk.digest();
    total_size_ = chunk.total_size();
    payload_ = chunk.payload();
    if (payload_ && total_size_ < kPayloadThresholdBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("total_size: a payload of ", total_size_, " bytes; payloads under ",
                       kPayloadThresholdBytes, " bytes are stored inline in their value"));
    }
    absl::StatusOr<v1::ArtifactMeta> meta = store_->GetArtifact(digest_);
    if (meta.ok()) {
      if (meta->size_bytes() != total_size_) {
        return absl::InvalidArgumentError(
            absl::StrCat("total_size: ", total_size_, ", but artifact ", digest_, " has ",
                         meta->size_bytes(), " bytes"));
      }
      if (meta->payload() != payload_) {
        return absl::InvalidArgumentError(
            absl::StrCat("payload: ", payload_ ? "set" : "not set", ", but artifact ", digest_,
                         " is stored as a ", meta->payload() ? "payload" : "value"));
      }
      existing_ = true;
      return absl::OkStatus();
    }
    if (!absl::IsNotFound(meta.status())) return meta.status();
    if (total_size_ > kSmallArtifactBytes) {
      ASSIGN_OR_RETURN(writer_, blobs_->NewWriter(digest_, total_size_));
    } else {
      small_bytes_.reserve(total_size_);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<v1::UploadResponse> DoFinish() {
    if (!started_) return absl::InvalidArgumentError("digest: no chunk was sent");
    if (received_ != total_size_) {
      return absl::InvalidArgumentError(absl::StrCat("total_size: ", total_size_,
                                                     " announced, ", received_, " received"));
    }
    v1::UploadResponse response;
    response.set_digest(digest_);
    response.set_committed_size(total_size_);
    if (existing_) return response;
    // The whole upload is in; ParseHead saw every byte it could need.
    if (!payload_ && !head_.has_value()) {
      return absl::InvalidArgumentError("data: not a TypedValue");
    }
    if (!payload_) {
      // Canonical form: the scanner refused large inline payloads on the way; every payload
      // referenced must be stored already (uploaded before the value).
      RETURN_IF_ERROR(scanner_.Finish());
      const PayloadSizeLookup stored_size = [this](std::string_view digest)
          -> absl::StatusOr<uint64_t> {
        ASSIGN_OR_RETURN(v1::ArtifactMeta meta, store_->GetArtifact(digest));
        return meta.size_bytes();
      };
      for (const PayloadScanner::Found& found : scanner_.refs()) {
        RETURN_IF_ERROR(internal::CheckPayloadStored(found.ref, stored_size, found.place));
      }
    }
    std::string_view value;  // a small value's bytes, kept in its record
    if (writer_ != nullptr) {
      RETURN_IF_ERROR(writer_->Commit().status());
    } else {
      const std::string actual = Sha256Hex(small_bytes_);
      if (actual != digest_) {
        return absl::InvalidArgumentError(
            absl::StrCat("digest: ", digest_, " announced, the data's SHA-256 is ", actual));
      }
      v1::TypedValue typed;
      if (!typed.ParseFromString(small_bytes_)) {
        return absl::InvalidArgumentError("data: not a valid TypedValue");
      }
      RETURN_IF_ERROR(ValidateValue(typed.type(), typed.value(), "data.value"));
      value = small_bytes_;
    }
    v1::ArtifactMeta meta;
    meta.set_digest(digest_);
    if (payload_) {
      meta.set_payload(true);
    } else {
      *meta.mutable_type() = std::move(head_->type);
    }
    meta.set_size_bytes(total_size_);
    meta.set_created_unix_micros(absl::ToUnixMicros(absl::Now()));
    Store::Batch batch;
    batch.PutArtifact(meta, value);
    RETURN_IF_ERROR(store_->Commit(std::move(batch)));
    return response;
  }

  Store* const store_;
  BlobStore* const blobs_;
  const ArtifactServiceOptions options_;
  absl::Status error_;
  bool started_ = false;
  bool existing_ = false;  // stored before: the data is received and dropped
  bool payload_ = false;   // raw payload bytes (always a blob file), not a TypedValue
  std::string digest_;
  uint64_t total_size_ = 0;
  uint64_t received_ = 0;
  std::string head_bytes_;  // the first bytes, until the type is parsed
  PayloadScanner scanner_{"data"};  // values: canonical form, checked as the bytes arrive
  std::optional<TypedValueHead> head_;
  std::unique_ptr<BlobStore::Writer> writer_;  // large artifacts
  std::string small_bytes_;                    // small ones (at most kSmallArtifactBytes)
};

// ---- Download -----------------------------------------------------------------------------------

class ArtifactService::DownloadImpl : public ArtifactService::Download {
 public:
  // From the artifact's record in the store (`small` set) or a blob file (`reader` set).
  DownloadImpl(std::string digest, std::optional<std::string> small,
               std::unique_ptr<BlobStore::Reader> reader, uint64_t total, uint64_t begin,
               uint64_t end, size_t chunk_bytes)
      : digest_(std::move(digest)),
        small_(std::move(small)),
        reader_(std::move(reader)),
        total_(total),
        at_(begin),
        end_(end),
        chunk_bytes_(chunk_bytes) {}

  absl::StatusOr<bool> Next(v1::DownloadChunk* chunk) override {
    if (at_ >= end_ && !first_) return false;
    first_ = false;
    chunk->Clear();
    chunk->set_offset(at_);
    chunk->set_total_size(total_);
    const uint64_t n = std::min<uint64_t>(chunk_bytes_, end_ - at_);
    if (n == 0) return true;
    if (small_.has_value()) {
      chunk->set_data(small_->substr(at_, n));
    } else {
      std::string* data = chunk->mutable_data();
      data->reserve(n);
      ASSIGN_OR_RETURN(const size_t read, reader_->Next(n, data));
      if (read != n) {
        return absl::DataLossError(absl::StrCat("artifact ", digest_, " is shorter than its size"));
      }
    }
    at_ += n;
    return true;
  }

 private:
  const std::string digest_;
  const std::optional<std::string> small_;
  const std::unique_ptr<BlobStore::Reader> reader_;  // reads ahead of Next
  const uint64_t total_;
  uint64_t at_;
  const uint64_t end_;
  const size_t chunk_bytes_;
  bool first_ = true;
};

// ---- ArtifactService ----------------------------------------------------------------------------

ArtifactService::ArtifactService(Store* store, BlobStore* blobs, ArtifactServiceOptions options)
    : store_(store), blobs_(blobs), options_(std::move(options)) {}

bool ArtifactService::Contains(std::string_view digest) const {
  return store_->GetArtifact(digest).ok();
}

absl::StatusOr<v1::GetArtifactResponse> ArtifactService::GetArtifact(
    const v1::GetArtifactRequest& request) const {
  RETURN_IF_ERROR(CheckDigest(request.digest(), "digest"));
  v1::GetArtifactResponse response;
  ASSIGN_OR_RETURN(*response.mutable_meta(), store_->GetArtifact(request.digest()));
  if (!request.include_json()) return response;
  const uint64_t size = response.meta().size_bytes();
  if (response.meta().payload()) {
    response.set_json(absl::StrCat(R"({"payload":{"size_bytes":)", size, "}}"));
    return response;
  }
  if (size > options_.max_json_source_bytes) {
    response.set_json(absl::StrCat(
        R"({"preview_unavailable":)",
        JsonString(absl::StrCat("the value is ", size, " bytes; JSON views are rendered for values "
                                "up to ", options_.max_json_source_bytes,
                                " bytes (download it instead)")),
        "}"));
    return response;
  }
  absl::StatusOr<std::string> bytes = store_->GetValueBytes(request.digest());
  if (absl::IsNotFound(bytes.status())) bytes = blobs_->ReadAll(request.digest());
  RETURN_IF_ERROR(bytes.status());
  v1::TypedValue typed;
  if (!typed.ParseFromString(*bytes)) {
    return absl::DataLossError(absl::StrCat("artifact ", request.digest(), " does not parse"));
  }
  JsonOptions json_options;
  json_options.max_elements =
      request.json_max_elements() == 0 ? 1000 : request.json_max_elements();
  ASSIGN_OR_RETURN(std::string json, ToJson(typed.type(), typed.value(), json_options));
  if (json.size() > kMaxJsonBytes) {
    json = absl::StrCat(R"({"preview_unavailable":)",
                        JsonString(absl::StrCat("the JSON view is ", json.size(),
                                                " bytes, over ", kMaxJsonBytes,
                                                "; ask for fewer json_max_elements")),
                        "}");
  }
  response.set_json(std::move(json));
  return response;
}

absl::StatusOr<v1::FindMissingResponse> ArtifactService::FindMissing(
    const v1::FindMissingRequest& request) const {
  if (static_cast<size_t>(request.digests_size()) > options_.max_digests) {
    return absl::InvalidArgumentError(absl::StrCat("digests: ", request.digests_size(),
                                                   " given; at most ", options_.max_digests));
  }
  for (int i = 0; i < request.digests_size(); ++i) {
    RETURN_IF_ERROR(CheckDigest(request.digests(i), absl::StrCat("digests[", i, "]")));
  }
  v1::FindMissingResponse response;
  for (const std::string& digest : request.digests()) {
    if (!Contains(digest)) response.add_missing(digest);
  }
  return response;
}

std::unique_ptr<ArtifactService::Upload> ArtifactService::StartUpload() {
  return std::make_unique<UploadImpl>(store_, blobs_, options_);
}

absl::StatusOr<std::unique_ptr<ArtifactService::Download>> ArtifactService::StartDownload(
    const v1::DownloadRequest& request) const {
  RETURN_IF_ERROR(CheckDigest(request.digest(), "digest"));
  absl::StatusOr<v1::ArtifactMeta> meta = store_->GetArtifact(request.digest());
  if (absl::IsNotFound(meta.status())) {
    return absl::NotFoundError(absl::StrCat("no artifact ", request.digest()));
  }
  RETURN_IF_ERROR(meta.status());
  std::optional<std::string> small;
  absl::StatusOr<std::string> bytes = store_->GetValueBytes(request.digest());
  uint64_t total = 0;
  if (bytes.ok()) {
    total = bytes->size();
    small = *std::move(bytes);
  } else if (absl::IsNotFound(bytes.status())) {
    ASSIGN_OR_RETURN(total, blobs_->Size(request.digest()));
  } else {
    return bytes.status();
  }
  if (request.offset() > total) {
    return absl::OutOfRangeError(absl::StrCat("offset: ", request.offset(),
                                              " is past the end of artifact ", request.digest(),
                                              " (", total, " bytes)"));
  }
  const uint64_t remaining = total - request.offset();
  const uint64_t end =
      request.offset() + (request.limit() == 0 ? remaining : std::min(remaining, request.limit()));
  std::unique_ptr<BlobStore::Reader> reader;
  if (!small.has_value()) {
    ASSIGN_OR_RETURN(reader, blobs_->OpenReader(request.digest(), request.offset(),
                                                end - request.offset()));
  }
  return std::unique_ptr<Download>(new DownloadImpl(request.digest(), std::move(small),
                                                    std::move(reader), total, request.offset(),
                                                    end, options_.download_chunk_bytes));
}

}  // namespace sematic::scheduler
