// JSON printing through protobuf's JSON support, with map (object) keys in sorted order so that
// the output is deterministic. Private to the SDK.
#ifndef SEMATIC_SDK_JSON_INTERNAL_H_
#define SEMATIC_SDK_JSON_INTERNAL_H_

#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"

namespace sematic::internal {

// The JSON form of `message` (a generated message, e.g. google.protobuf.Value). Object keys are
// sorted. INVALID_ARGUMENT when protobuf rejects the message (e.g. a NaN number_value).
absl::StatusOr<std::string> PrintJson(const google::protobuf::Message& message, bool pretty);

}  // namespace sematic::internal

#endif  // SEMATIC_SDK_JSON_INTERNAL_H_
