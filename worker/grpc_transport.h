// The worker's gRPC client side: WorkerService.Connect streams and ArtifactService transfers
// over one channel to the scheduler.
//
//   std::shared_ptr<grpc::Channel> channel = MakeSchedulerChannel("10.0.0.5:7070");
//   Worker::Create(options, MakeGrpcConnector(channel, "10.0.0.5:7070"),
//                  MakeGrpcArtifactClient(channel));
#ifndef SEMATIC_WORKER_GRPC_TRANSPORT_H_
#define SEMATIC_WORKER_GRPC_TRANSPORT_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "worker/transport.h"

namespace sematic::worker {

// An insecure channel to `address` (host:port) that accepts large messages and retries the
// TCP connection quickly (at most every `max_reconnect_backoff`) after the scheduler restarts.
std::shared_ptr<grpc::Channel> MakeSchedulerChannel(
    const std::string& address, absl::Duration max_reconnect_backoff = absl::Seconds(2));

// Opens WorkerService.Connect streams on `channel` (gRPC's callback API; no thread blocks).
// `address` is the channel's target, for messages ("scheduler at ADDRESS"). A stream that ends
// on a network failure reports it in a few words (internal::ShortStreamError), e.g.
// UNAVAILABLE "connection refused", not gRPC's "failed to connect to all addresses; ...".
std::unique_ptr<Connector> MakeGrpcConnector(std::shared_ptr<grpc::Channel> channel,
                                             std::string address);

// ArtifactService calls on `channel`, moving bytes in chunks of `chunk_bytes`; each call gives
// up after `timeout`.
std::unique_ptr<ArtifactClient> MakeGrpcArtifactClient(std::shared_ptr<grpc::Channel> channel,
                                                       size_t chunk_bytes = 1 << 20,
                                                       absl::Duration timeout = absl::Minutes(30));

}  // namespace sematic::worker

#endif  // SEMATIC_WORKER_GRPC_TRANSPORT_H_
