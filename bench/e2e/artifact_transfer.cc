#include "bench/e2e/artifact_transfer.h"

#include <cstring>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/digest.h"
#include "common/status_macros.h"
#include "sematic/codec.h"
#include "worker/grpc_transport.h"
#include "worker/transport.h"

namespace sematic::bench {
namespace {

// `size` bytes in which no aligned 8-byte word repeats, so that nothing on the way (a
// compressing filesystem, a deduplicating cache) can shortcut the transfer.
std::string PatternBytes(uint64_t size) {
  std::string bytes(size, '\0');
  uint64_t i = 0;
  for (; i + 8 <= size; i += 8) {
    const uint64_t word = (i / 8 + 1) * 0x9E3779B97F4A7C15ull;
    std::memcpy(bytes.data() + i, &word, 8);
  }
  for (; i < size; ++i) bytes[i] = static_cast<char>(i);
  return bytes;
}

// The artifact as a step producing Bytes{...} would serialize it.
absl::StatusOr<std::string> SerializedBytesValue(uint64_t payload_bytes) {
  v1::Value value;
  value.set_bytes_value(PatternBytes(payload_bytes));
  return CanonicalBytes(TypeOf<Bytes>(), value);
}

}  // namespace

absl::StatusOr<ArtifactTransfer> TransferArtifact(const std::string& address,
                                                  uint64_t payload_bytes,
                                                  const CpuClock& server_cpu) {
  ArtifactTransfer t;
  std::string digest;
  std::unique_ptr<worker::ArtifactClient> client =
      worker::MakeGrpcArtifactClient(worker::MakeSchedulerChannel(address));
  {
    ASSIGN_OR_RETURN(const std::string bytes, SerializedBytesValue(payload_bytes));
    t.serialized_bytes = bytes.size();
    digest = Sha256Hex(bytes);
    ASSIGN_OR_RETURN(const absl::Duration cpu_before, server_cpu());
    const absl::Time start = absl::Now();
    RETURN_IF_ERROR(client->Upload(digest, bytes));
    t.upload = absl::Now() - start;
    ASSIGN_OR_RETURN(const absl::Duration cpu_after, server_cpu());
    t.server_cpu_upload = cpu_after - cpu_before;
  }  // the uploaded copy is freed before the download allocates its own
  ASSIGN_OR_RETURN(const absl::Duration cpu_before, server_cpu());
  absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(const std::string downloaded, client->Download(digest));
  t.download = absl::Now() - start;
  ASSIGN_OR_RETURN(const absl::Duration cpu_after, server_cpu());
  t.server_cpu_download = cpu_after - cpu_before;
  start = absl::Now();
  const std::string downloaded_digest = Sha256Hex(downloaded);
  t.verify = absl::Now() - start;
  if (downloaded.size() != t.serialized_bytes || downloaded_digest != digest) {
    return absl::DataLossError(absl::StrCat("artifact ", digest, ": downloaded ",
                                            downloaded.size(), " bytes hashing to ",
                                            downloaded_digest, ", uploaded ",
                                            t.serialized_bytes));
  }
  return t;
}

}  // namespace sematic::bench
