#include "scheduler/service/request_parsing.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "google/protobuf/descriptor.h"

namespace sematic::scheduler {
namespace {

using grpc::experimental::InterceptionHookPoints;

// The input type of `method` ("/sematic.v1.JobService/GetJob" → "sematic.v1.GetJobRequest"),
// from the generated descriptors; a description of it when the method is not described there.
std::string InputTypeOf(std::string_view method) {
  std::string name(method.substr(method.starts_with('/') ? 1 : 0));
  if (const size_t slash = name.rfind('/'); slash != std::string::npos) name[slash] = '.';
  const google::protobuf::MethodDescriptor* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(name);
  if (descriptor == nullptr) return absl::StrCat("request message of ", AsAbsl(method));
  return descriptor->input_type()->full_name();
}

// One call's: when gRPC could not parse the request (it hands interceptors a null message), the
// status it sends (UNIMPLEMENTED "", no handler having run) becomes UnparsableRequest.
class UnparsableRequestInterceptor final : public grpc::experimental::Interceptor {
 public:
  // `method` is the server's registered name, which outlives the call.
  explicit UnparsableRequestInterceptor(const char* method) : method_(method) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      unparsed_ = true;
    }
    if (unparsed_ && methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      methods->ModifySendStatus(UnparsableRequest(InputTypeOf(method_ == nullptr ? "" : method_)));
    }
    methods->Proceed();
  }

 private:
  const char* const method_;
  bool unparsed_ = false;
};

class UnparsableRequestInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    using Type = grpc::experimental::ServerRpcInfo::Type;
    // Streaming requests are read by the reactors, which parse them (ParseRequest).
    if (info->type() != Type::UNARY && info->type() != Type::SERVER_STREAMING) return nullptr;
    return new UnparsableRequestInterceptor(info->method());
  }
};

}  // namespace

grpc::Status UnparsableRequest(std::string_view type_name) {
  return grpc::Status(
      grpc::StatusCode::INVALID_ARGUMENT,
      absl::StrCat("request: could not be parsed: expected a serialized ", AsAbsl(type_name),
                   " (protobuf wire format, with UTF-8 in every string field)"));
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeUnparsableRequestInterceptorFactory() {
  return std::make_unique<UnparsableRequestInterceptorFactory>();
}

}  // namespace sematic::scheduler
