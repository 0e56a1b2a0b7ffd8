// The ArtifactService's logic, free of any transport: metadata, "which do you lack", chunked
// uploads verified on the fly, and ranged downloads. The gRPC adapter (scheduler/service/) only
// moves messages in and out of these calls.
//
//   ArtifactService artifacts(store, blobs, {});
//   std::unique_ptr<ArtifactService::Upload> upload = artifacts.StartUpload();
//   for (const v1::UploadChunk& chunk : stream) RETURN_IF_ERROR(upload->Append(chunk));
//   ASSIGN_OR_RETURN(v1::UploadResponse done, upload->Finish());
//   ASSIGN_OR_RETURN(auto download, artifacts.StartDownload(request));
//   v1::DownloadChunk chunk;
//   while (true) { ASSIGN_OR_RETURN(bool more, download->Next(&chunk)); if (!more) break; ... }
//
// Where bytes live: an artifact's canonical TypedValue bytes are in its record in the store
// when small (<= kSmallArtifactBytes), in a BlobStore file otherwise; a raw payload (an upload
// with UploadChunk.payload, at least kPayloadThresholdBytes long) is always a BlobStore file.
// Every ArtifactMeta (payloads': `payload` set, no type) is in the `artifacts` family, written only
// after the bytes are durable, so metadata never names bytes that are not there. A value is
// accepted only in canonical form with its payloads stored before it (PayloadScanner checks the
// bytes on the fly), so a stored value never names a payload that is not there either. Nothing here holds
// a large artifact whole in memory.
//
// Metadata of uploads is committed from the caller's thread, not the scheduler's loop: artifacts
// are immutable and content-addressed, so the only field the loop changes later is
// producer_run_id (set once, when a run reports the artifact as its output).
//
// Thread-safety: ArtifactService is thread-safe. An Upload or a Download is used by one thread
// at a time (gRPC delivers one stream's callbacks in order).
#ifndef SEMATIC_SCHEDULER_ARTIFACTS_ARTIFACT_SERVICE_H_
#define SEMATIC_SCHEDULER_ARTIFACTS_ARTIFACT_SERVICE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "scheduler/artifacts/blob_store.h"
#include "scheduler/store/store.h"
#include "sematic/v1/artifact_service.pb.h"
#include "sematic/v1/value.pb.h"

namespace sematic::scheduler {

// Artifacts up to this size are stored in their record in the store, larger ones as files.
inline constexpr size_t kSmallArtifactBytes = 64 * 1024;

struct ArtifactServiceOptions {
  uint64_t max_artifact_bytes = uint64_t{64} << 30;  // RESOURCE_EXHAUSTED above
  size_t max_chunk_bytes = size_t{4} << 20;          // per UploadChunk.data
  size_t download_chunk_bytes = size_t{1} << 20;     // per DownloadChunk.data
  size_t max_digests = 10'000;                       // per FindMissing
  // GetArtifact renders a JSON view only of values up to this size: rendering needs the whole
  // value parsed, and a multi-GiB tensor must not be loaded to show its first 1000 elements.
  size_t max_json_source_bytes = size_t{64} << 20;
  size_t max_type_bytes = size_t{1} << 20;  // the TypeDesc at the head of an upload
};

// True when the two types are the same (compared by canonical serialization).
bool SameType(const v1::TypeDesc& a, const v1::TypeDesc& b);

class ArtifactService {
 public:
  // One upload stream. Destroying it before a successful Finish discards everything written.
  class Upload {
   public:
    virtual ~Upload() = default;
    // The next chunk. The first must carry `digest` and `total_size` (and `payload` for a raw
    // payload); later ones may repeat them (equal) or leave them empty. INVALID_ARGUMENT naming
    // the field for a bad digest, a missing/changed size, an oversized chunk, data past
    // total_size, bytes that are not a TypedValue's wire format (values), a value holding a
    // payload of kPayloadThresholdBytes or more inline ("data.value[2]: a BLOB of 2097152 bytes
    // inline; ..." — canonical form stores it apart, sematic/payload.h), a payload under
    // kPayloadThresholdBytes, or a re-upload whose `payload` differs from the stored artifact's;
    // RESOURCE_EXHAUSTED when total_size exceeds the limit. After an error
    // the upload is dead: every later call returns the same error.
    virtual absl::Status Append(const v1::UploadChunk& chunk) = 0;
    // Verifies size and SHA-256, makes the bytes durable, then commits the metadata.
    // INVALID_ARGUMENT for a size or digest mismatch, or a small value that is not a valid
    // TypedValue; FAILED_PRECONDITION naming the place and digest when a value references a
    // payload that is not stored (payloads are uploaded before the values that reference them);
    // nothing is kept after an error. INTERNAL on a disk or store error.
    virtual absl::StatusOr<v1::UploadResponse> Finish() = 0;
  };

  // One ranged download, read in chunks on demand (the caller pulls the next chunk when the
  // previous one is sent: one chunk in memory at a time).
  class Download {
   public:
    virtual ~Download() = default;
    // Fills `chunk` with the next piece and returns true, or returns false at the end. The
    // first call always yields a chunk (empty when the range is), so total_size is known.
    // DATA_LOSS/INTERNAL when the bytes cannot be read.
    virtual absl::StatusOr<bool> Next(v1::DownloadChunk* chunk) = 0;
  };

  // `store` and `blobs` must outlive this object.
  ArtifactService(Store* store, BlobStore* blobs, ArtifactServiceOptions options);
  ArtifactService(const ArtifactService&) = delete;
  ArtifactService& operator=(const ArtifactService&) = delete;

  // NOT_FOUND for an unknown digest, INVALID_ARGUMENT for a malformed one. A payload's JSON
  // view is {"payload":{"size_bytes":N}}.
  absl::StatusOr<v1::GetArtifactResponse> GetArtifact(const v1::GetArtifactRequest& request) const;
  // INVALID_ARGUMENT naming the index of a malformed digest, or when there are too many.
  absl::StatusOr<v1::FindMissingResponse> FindMissing(const v1::FindMissingRequest& request) const;
  std::unique_ptr<Upload> StartUpload();
  // INVALID_ARGUMENT for a malformed digest; NOT_FOUND for an unknown one; OUT_OF_RANGE when
  // the offset is past the end.
  absl::StatusOr<std::unique_ptr<Download>> StartDownload(const v1::DownloadRequest& request) const;

  // Whether the artifact's metadata and bytes are stored.
  bool Contains(std::string_view digest) const;

  const ArtifactServiceOptions& options() const { return options_; }

 private:
  class UploadImpl;
  class DownloadImpl;

  Store* const store_;
  BlobStore* const blobs_;
  const ArtifactServiceOptions options_;
};

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_ARTIFACTS_ARTIFACT_SERVICE_H_
