// One large artifact through the scheduler's ArtifactService, moved by the worker's own gRPC
// client (worker/grpc_transport.h), as a step's output would be uploaded and a consumer's input
// downloaded.
//
//   ASSIGN_OR_RETURN(ArtifactTransfer t, TransferArtifact("127.0.0.1:7070", 1 << 30, cpu));
//   std::printf("%.0f MB/s up\n", t.serialized_bytes / 1e6 / absl::ToDoubleSeconds(t.upload));
#ifndef SEMATIC_BENCH_E2E_ARTIFACT_TRANSFER_H_
#define SEMATIC_BENCH_E2E_ARTIFACT_TRANSFER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sematic::bench {

struct ArtifactTransfer {
  uint64_t serialized_bytes = 0;  // the TypedValue as uploaded and downloaded
  absl::Duration upload;          // ArtifactClient::Upload, from the first chunk to the commit
  absl::Duration download;        // ArtifactClient::Download, the whole artifact into memory
  absl::Duration verify;          // SHA-256 of the downloaded bytes, checked against the digest
  absl::Duration server_cpu_upload;    // the server's CPU time during the upload
  absl::Duration server_cpu_download;  // and during the download
};

// The server's CPU time so far (user + system), e.g. from /proc.
using CpuClock = std::function<absl::StatusOr<absl::Duration>()>;

// Serializes a BYTES value of `payload_bytes` (a cheap pattern that never repeats a word) as a
// TypedValue with the SDK's codec, uploads it to the scheduler at `address` (host:port) in the
// worker's chunk size, downloads it and checks its SHA-256. Building and hashing the value are
// not timed; `server_cpu` is read around each transfer. DATA_LOSS when the downloaded bytes are
// not the uploaded ones; the client's or `server_cpu`'s status when either fails.
absl::StatusOr<ArtifactTransfer> TransferArtifact(const std::string& address,
                                                  uint64_t payload_bytes,
                                                  const CpuClock& server_cpu);

}  // namespace sematic::bench

#endif  // SEMATIC_BENCH_E2E_ARTIFACT_TRANSFER_H_
