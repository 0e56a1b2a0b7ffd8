// How the HTTP gateway maps between HTTP and the gRPC services' messages (docs/http.md): JSON
// printed by protobuf's JsonUtil, query parameters read into request messages by their proto
// field names, canonical status codes mapped to HTTP statuses. No transport here.
//
//   v1::ListJobsRequest request;
//   RETURN_IF_ERROR(FillFromQuery({{"state", "JOB_RUNNING"}, {"page_size", "10"}}, &request));
//   std::string body = ToJson(response);
//   int http_status = HttpStatusFor(status.code());
#ifndef SEMATIC_SCHEDULER_HTTP_JSON_MAPPING_H_
#define SEMATIC_SCHEDULER_HTTP_JSON_MAPPING_H_

#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace sematic::scheduler::http {

using QueryParams = std::multimap<std::string, std::string>;

// Sets `message`'s fields from query parameters named as its proto fields (scalars, enums by
// name or number, booleans, repeated fields by repetition). Parameters named in `skip` are left
// for the caller. INVALID_ARGUMENT naming the parameter: unknown name, a value that does not
// parse, a message-typed field, a non-repeated field given twice.
absl::Status FillFromQuery(const QueryParams& params, google::protobuf::Message* message,
                           std::initializer_list<std::string_view> skip = {});

// INVALID_ARGUMENT naming the first parameter, for routes that take none. `hint` is added to
// the message ("ranges go in the Range header").
absl::Status CheckNoParams(const QueryParams& params, std::string_view hint = "");

// INVALID_ARGUMENT unless `digest` is an artifact id (64 lowercase hex characters).
absl::Status CheckDigest(const std::string& digest);

// `message` as JSON: lowerCamelCase names, enums by name, fields at their default printed.
std::string ToJson(const google::protobuf::Message& message);

// Parses a JSON request body into `message`. INVALID_ARGUMENT with JsonUtil's reason.
absl::Status FromJson(std::string_view json, google::protobuf::Message* message);

// The HTTP status of a canonical code (the table in docs/http.md).
int HttpStatusFor(absl::StatusCode code);

// The body of an error reply: a sematic.v1.HttpError as JSON.
std::string ErrorJson(const absl::Status& status);

}  // namespace sematic::scheduler::http

#endif  // SEMATIC_SCHEDULER_HTTP_JSON_MAPPING_H_
