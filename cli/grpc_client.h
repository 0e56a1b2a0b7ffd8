// The Client over gRPC: one channel to the scheduler, a deadline on every unary call.
//
//   std::unique_ptr<Client> client = MakeGrpcClient({.address = "127.0.0.1:7070",
//                                                    .timeout = absl::Seconds(10)});
//
// Streams (watch, logs -f, download) have no overall deadline but fail fast when the scheduler
// cannot be reached. Errors are rewritten for people: a refused connection becomes UNAVAILABLE
// "cannot reach scheduler at ADDR (connection refused)", UNIMPLEMENTED names the RPC the
// scheduler does not serve yet.
#ifndef SEMATIC_CLI_GRPC_CLIENT_H_
#define SEMATIC_CLI_GRPC_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cli/client.h"
#include "grpcpp/support/status.h"

namespace sematic::cli {

struct GrpcClientOptions {
  std::string address;
  absl::Duration timeout = absl::Seconds(10);
};

std::unique_ptr<Client> MakeGrpcClient(const GrpcClientOptions& options);

// The absl::Status for a failed call of `method` ("JobService.GetJob") on the scheduler at
// `address`, with the transport errors above put in words.
absl::Status FromGrpcStatus(const grpc::Status& status, std::string_view method,
                            std::string_view address, absl::Duration timeout);

}  // namespace sematic::cli

#endif  // SEMATIC_CLI_GRPC_CLIENT_H_
