// Content-addressed blobs on the local file system: the bytes of large artifacts.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<BlobStore> blobs, BlobStore::Open("/data/blobs"));
//   ASSIGN_OR_RETURN(auto writer, blobs->NewWriter(digest, total_size));
//   for (chunk : upload) RETURN_IF_ERROR(writer->Append(chunk));
//   ASSIGN_OR_RETURN(uint64_t size, writer->Commit());   // verifies SHA-256 and size
//   RETURN_IF_ERROR(blobs->Read(digest, /*offset=*/0, /*limit=*/0, 1 << 20, send_chunk));
//   ASSIGN_OR_RETURN(auto reader, blobs->OpenReader(digest, /*offset=*/0, /*limit=*/0));
//   ASSIGN_OR_RETURN(size_t n, reader->Next(1 << 20, &chunk));   // 0 at the end
//
// A blob is named by the SHA-256 (lowercase hex) of its bytes and stored once, under
// <dir>/<first two hex digits>/<digest>. Writes go to <dir>/tmp and are renamed into place only
// after the digest and size check and an fsync, so a blob that exists is always complete and
// correct; a crash leaves at most a temporary file, removed at the next Open. Reads and writes
// stream: no blob is ever held whole in memory, whatever its size.
//
// Writes and reads move the bytes with direct I/O (O_DIRECT) where the file system allows it,
// a few MiB ahead of the caller on a thread of their own: a blob is written once and read back a
// few times, so filling the page cache with it costs more than it saves (on a VM whose free
// memory goes back to the host, every fresh page-cache page is a host page fault: ~1 s per GiB).
//
// Thread-safe: any number of concurrent readers and writers, including writers of the same
// digest (the first complete one wins; the content is identical by construction).
#ifndef SEMATIC_SCHEDULER_ARTIFACTS_BLOB_STORE_H_
#define SEMATIC_SCHEDULER_ARTIFACTS_BLOB_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/digest.h"

namespace sematic::scheduler {

struct BlobStoreOptions {
  std::string dir;
  uint64_t max_blob_bytes = uint64_t{64} << 30;  // 64 GiB
  // fsync each blob (and its directory) before it becomes visible. Without it a committed blob
  // survives a process crash but not a power loss (like the store's WAL without --sync).
  bool sync = true;
  // Move blob bytes with O_DIRECT (see above). Off: through the page cache, which makes a
  // download of a just-uploaded blob a memory copy (~1.6 GB/s against ~1.1 GB/s from this VM's
  // disk) but the upload's page-cache fill the slowest step (docs/benchmarks.md).
  bool direct_io = true;
};

class BlobStore {
 public:
  // An upload in progress. Not thread-safe (one writer per upload). Destroying it without a
  // successful Commit discards what was written.
  class Writer {
   public:
    virtual ~Writer() = default;
    // INVALID_ARGUMENT when the data exceeds the announced size; INTERNAL on a disk error.
    virtual absl::Status Append(std::string_view data) = 0;
    // Checks size and SHA-256, makes the blob durable and visible; returns its size.
    // INVALID_ARGUMENT when the size or digest differs from what was announced (nothing is
    // kept); INTERNAL on a disk error.
    virtual absl::StatusOr<uint64_t> Commit() = 0;
    virtual uint64_t written() const = 0;
  };

  // A sequential read of one range of a blob, read ahead on a thread of its own (at most
  // kReadAheadBytes in memory). Not thread-safe (one reader per download).
  class Reader {
   public:
    virtual ~Reader() = default;
    // Appends the next min(max_bytes, bytes left in the range) bytes to `out` and returns how
    // many; 0 at the end of the range. DATA_LOSS when the file is shorter than the range;
    // INTERNAL on a disk error (every later call returns the same error).
    virtual absl::StatusOr<size_t> Next(size_t max_bytes, std::string* out) = 0;
  };

  // The memory a Writer or a Reader holds for its I/O, whatever the blob's size.
  static constexpr size_t kStageBytes = size_t{2} << 20;
  static constexpr size_t kStages = 3;
  static constexpr size_t kReadAheadBytes = kStages * kStageBytes;

  // Creates `options.dir` if needed and removes temporary files left by a crash.
  static absl::StatusOr<std::unique_ptr<BlobStore>> Open(BlobStoreOptions options);
  BlobStore(const BlobStore&) = delete;
  BlobStore& operator=(const BlobStore&) = delete;
  ~BlobStore();

  // INVALID_ARGUMENT for a malformed digest or a size over the limit.
  absl::StatusOr<std::unique_ptr<Writer>> NewWriter(std::string_view digest, uint64_t size);

  // Stores `data` under its own digest (small blobs; tests). Returns the digest.
  absl::StatusOr<std::string> Put(std::string_view data);

  bool Contains(std::string_view digest) const;
  // NOT_FOUND for an unknown blob, INVALID_ARGUMENT for a malformed digest.
  absl::StatusOr<uint64_t> Size(std::string_view digest) const;
  // The digests of `digests` that are not stored (malformed ones count as missing).
  std::vector<std::string> FindMissing(absl::Span<const std::string> digests) const;

  // Streams bytes [offset, offset + limit) (limit 0: to the end) to `sink` in chunks of at most
  // `chunk_bytes`, with each chunk's offset. `sink` returning false stops early (OK).
  // NOT_FOUND for an unknown blob; OUT_OF_RANGE when offset is past the end.
  absl::Status Read(std::string_view digest, uint64_t offset, uint64_t limit, size_t chunk_bytes,
                    const std::function<bool(std::string_view chunk, uint64_t offset)>& sink) const;

  // Reads bytes [offset, offset + limit) (limit 0: to the end) in order, on demand. NOT_FOUND
  // for an unknown blob; OUT_OF_RANGE when offset is past the end.
  absl::StatusOr<std::unique_ptr<Reader>> OpenReader(std::string_view digest, uint64_t offset,
                                                     uint64_t limit) const;

  // Reads a whole blob into memory (small blobs only: the caller knows the size).
  absl::StatusOr<std::string> ReadAll(std::string_view digest) const;

 private:
  explicit BlobStore(BlobStoreOptions options);
  std::string PathOf(std::string_view digest) const;
  class FileWriter;
  class FileReader;

  const BlobStoreOptions options_;
};

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_ARTIFACTS_BLOB_STORE_H_
