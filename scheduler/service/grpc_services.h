// gRPC adapters over the transport-free Scheduler: they translate messages and statuses and
// nothing else. Built on gRPC's callback API; no handler blocks a gRPC thread.
//
//   std::unique_ptr<GrpcServices> services = MakeGrpcServices(scheduler.get());
//   grpc::ServerBuilder builder;
//   services->RegisterWith(builder);
//   builder.AddListeningPort("127.0.0.1:50051", grpc::InsecureServerCredentials());
//   std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
#ifndef SEMATIC_SCHEDULER_SERVICE_GRPC_SERVICES_H_
#define SEMATIC_SCHEDULER_SERVICE_GRPC_SERVICES_H_

#include <memory>

#include "absl/status/status.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/status.h"
#include "common/labeled_counters.h"
#include "scheduler/core/scheduler.h"

namespace sematic::scheduler {

// The smallest max receive message size the server needs: an UploadChunk may carry 4 MiB of
// data (artifact_service.proto), which with its digest and framing is just over gRPC's default
// 4 MiB limit. Set it on the builder (SetMaxReceiveMessageSize) unless a larger limit is set.
inline constexpr int kMinReceiveMessageBytes = (4 << 20) + (64 << 10);

// Owns the service objects; they must outlive the server they are registered with, and the
// scheduler must outlive them.
class GrpcServices {
 public:
  virtual ~GrpcServices() = default;
  // Registers the services, and sets the builder's interceptors (replacing any set before):
  // MakeUnparsableRequestInterceptorFactory's (request_parsing.h: a request that does not parse
  // is INVALID_ARGUMENT naming its type, on every method), then one counting every call's method
  // and final code.
  virtual void RegisterWith(grpc::ServerBuilder& builder) = 0;
  // Calls served so far by (full method name, canonical code name), e.g.
  // ("/sematic.v1.JobService/GetJob", "OK"): /metrics.
  virtual const LabeledCounters& rpc_counts() const = 0;
};

std::unique_ptr<GrpcServices> MakeGrpcServices(Scheduler* scheduler);

// Serves `services` on 127.0.0.1 at a port the system picks (set in `*port`), with the
// receive limit uploads need: for tests and tools that talk to a scheduler in-process. Null
// when the server could not start.
std::unique_ptr<grpc::Server> ServeOnLoopback(GrpcServices& services, int* port);

// absl::Status and grpc::Status have the same canonical codes.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_SERVICE_GRPC_SERVICES_H_
