// How a worker reaches its scheduler, with no transport in sight: a Connector opens streams of
// WorkerMessage out / SchedulerMessage in. The gRPC connector (grpc_transport.h) speaks
// WorkerService.Connect; the in-process one (in_process.h) talks to a Scheduler object directly.
//
//   std::unique_ptr<WorkerStream> stream = connector->Connect(
//       [](v1::SchedulerMessage m) { ... },   // each message, in order
//       [](absl::Status why) { ... });         // once, when the stream ends
//   stream->Send(hello);
//
// A stream that cannot be established reports it through `on_closed` (never by returning null).
#ifndef SEMATIC_WORKER_TRANSPORT_H_
#define SEMATIC_WORKER_TRANSPORT_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sematic/v1/worker_service.pb.h"

namespace sematic::worker {

// The worker's end of one stream. Thread-safe.
class WorkerStream {
 public:
  virtual ~WorkerStream() = default;  // closes the stream if still open
  // Queues `message`; never blocks on the network. Dropped once the stream has ended.
  virtual void Send(v1::WorkerMessage message) = 0;
  // Ends the stream; `on_closed` follows (possibly on another thread).
  virtual void Close() = 0;
};

class Connector {
 public:
  using MessageCallback = std::function<void(v1::SchedulerMessage)>;
  using ClosedCallback = std::function<void(absl::Status)>;
  virtual ~Connector() = default;
  // Opens a stream. The callbacks may run on any thread, must not block, and are not called
  // after the returned stream is destroyed. A stream that could not be established ends with
  // UNAVAILABLE and a short cause ("connection refused").
  virtual std::unique_ptr<WorkerStream> Connect(MessageCallback on_message,
                                                ClosedCallback on_closed) = 0;
  // What the streams reach, for messages: "scheduler at 10.0.0.5:7070".
  virtual std::string Describe() const { return "the scheduler"; }
};

// Moves large artifacts (serialized TypedValues) and raw payloads (sematic/payload.h) to and
// from the scheduler's ArtifactService. Calls block; a worker makes them from the thread running
// the step. Thread-safe.
class ArtifactClient {
 public:
  virtual ~ArtifactClient() = default;
  // The whole artifact or payload, unverified. NOT_FOUND for an unknown digest; UNAVAILABLE
  // when the service is down.
  virtual absl::StatusOr<std::string> Download(const std::string& digest) = 0;
  // Those of `digests` the service does not hold (values and payloads alike).
  virtual absl::StatusOr<std::vector<std::string>> FindMissing(
      const std::vector<std::string>& digests) = 0;
  // Uploads `bytes`, a serialized TypedValue whose SHA-256 must be `digest`.
  virtual absl::Status Upload(const std::string& digest, const std::string& bytes) = 0;
  // Uploads `bytes`, a raw payload of at least kPayloadThresholdBytes whose SHA-256 must be
  // `digest`.
  virtual absl::Status UploadPayload(const std::string& digest, const std::string& bytes) = 0;
};

}  // namespace sematic::worker

#endif  // SEMATIC_WORKER_TRANSPORT_H_
