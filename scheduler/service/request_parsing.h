// Request bytes that are not the method's message (garbage, truncated wire format, a proto3
// string field that is not UTF-8) answered with INVALID_ARGUMENT naming the message type, for
// every method of every service, instead of gRPC's UNIMPLEMENTED with an empty message.
//
//   std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
//   creators.push_back(MakeUnparsableRequestInterceptorFactory());  // before any that reads the
//   builder.experimental().SetInterceptorCreators(std::move(creators));  // status it sends
//   ...                                          // unary and server-streaming methods: done
//   grpc::Status parsed = ParseRequest(&byte_buffer, &chunk);   // in a raw streaming reactor
//   if (!parsed.ok()) { Finish(parsed); return; }
//
// gRPC (1.51) parses the request of a unary or server-streaming call before any handler runs and
// fails the call with UNIMPLEMENTED "" when it does not parse; the interceptor rewrites that
// status. In a client- or bidi-streaming call a message that does not parse ends the reads just
// as the client's half-close does (the reactor sees OnReadDone(false) either way), so those
// methods are served raw (grpc::ByteBuffer) and their reactors parse with ParseRequest.
#ifndef SEMATIC_SCHEDULER_SERVICE_REQUEST_PARSING_H_
#define SEMATIC_SCHEDULER_SERVICE_REQUEST_PARSING_H_

#include <memory>
#include <string_view>

#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_interceptor.h"
#include "grpcpp/support/status.h"

namespace sematic::scheduler {

// INVALID_ARGUMENT "request: could not be parsed: expected a serialized <type_name> ...".
grpc::Status UnparsableRequest(std::string_view type_name);

// The interceptor factory to install on a ServerBuilder. It intercepts unary and server-streaming
// methods only (it creates no interceptor for the others, which cost nothing extra). gRPC runs
// server interceptors in their order for the statuses sent: put this one before any interceptor
// that reads the final status (a counter by code), so that it reads the rewritten one.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeUnparsableRequestInterceptorFactory();

// Parses `bytes` (consumed) into `out`; UnparsableRequest(its type) when they are not one.
template <typename Message>
grpc::Status ParseRequest(grpc::ByteBuffer* bytes, Message* out) {
  out->Clear();
  if (grpc::SerializationTraits<Message>::Deserialize(bytes, out).ok()) return grpc::Status::OK;
  return UnparsableRequest(Message::descriptor()->full_name());
}

// `message` serialized into `out` (replacing what it held) for a raw method's write or response.
// INTERNAL when protobuf refuses it (over 2 GiB).
template <typename Message>
grpc::Status SerializeResponse(const Message& message, grpc::ByteBuffer* out) {
  out->Clear();  // the writer needs an empty buffer
  bool own_buffer = false;
  return grpc::SerializationTraits<Message>::Serialize(message, out, &own_buffer);
}

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_SERVICE_REQUEST_PARSING_H_
