// Pieces of worker/grpc_transport.cc exposed for its tests only.
//
//   internal::ChunkView chunk;
//   if (!internal::ParseDownloadChunk(slices, &chunk)) return DataLoss(...);
//   for (std::string_view piece : chunk.data) bytes.append(piece);
#ifndef SEMATIC_WORKER_GRPC_TRANSPORT_INTERNAL_H_
#define SEMATIC_WORKER_GRPC_TRANSPORT_INTERNAL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "grpcpp/support/slice.h"

namespace sematic::worker::internal {

// A DownloadChunk read in place: `data` are views into the slices it was parsed from.
struct ChunkView {
  uint64_t offset = 0;
  uint64_t total_size = 0;
  std::vector<std::string_view> data;
};

// Parses a serialized DownloadChunk as protobuf would (unknown fields skipped, the last `data`
// wins) without copying `data` out of `slices`, which must outlive `chunk`. False when the bytes
// are not a DownloadChunk.
bool ParseDownloadChunk(const std::vector<grpc::Slice>& slices, ChunkView* chunk);

// How a WorkerService.Connect stream ended, for people: an UNAVAILABLE status whose gRPC message
// names a known network failure gets that failure alone ("connection refused", "cannot resolve
// the host name", "connection timed out", "no route to host", "network unreachable",
// "connection closed"); any other status is returned as it is.
absl::Status ShortStreamError(const absl::Status& status);

}  // namespace sematic::worker::internal

#endif  // SEMATIC_WORKER_GRPC_TRANSPORT_INTERNAL_H_
