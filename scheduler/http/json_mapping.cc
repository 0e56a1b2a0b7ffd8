#include "scheduler/http/json_mapping.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/digest.h"
#include "common/strings.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "sematic/v1/http.pb.h"

namespace sematic::scheduler::http {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

absl::Status BadValue(std::string_view name, std::string_view expected, std::string_view got) {
  return absl::InvalidArgumentError(absl::StrCat(AsAbsl(name), ": expected ", AsAbsl(expected),
                                                 ", got '", AsAbsl(got.substr(0, 64)),
                                                 got.size() > 64 ? "...'" : "'"));
}

bool ParseBool(std::string_view text, bool* out) {
  if (text == "true" || text == "1") return (*out = true), true;
  if (text == "false" || text == "0") return (*out = false), true;
  return false;
}

// Sets (or adds, for a repeated field) one value of `field` from `text`.
absl::Status SetField(const FieldDescriptor& field, std::string_view text, Message* message) {
  const Reflection& r = *message->GetReflection();
  const bool repeated = field.is_repeated();
  const std::string& name = field.name();
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      repeated ? r.AddString(message, &field, std::string(text))
               : r.SetString(message, &field, std::string(text));
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!absl::SimpleAtoi(AsAbsl(text), &v)) return BadValue(name, "an integer", text);
      repeated ? r.AddInt32(message, &field, v) : r.SetInt32(message, &field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v;
      if (!absl::SimpleAtoi(AsAbsl(text), &v)) return BadValue(name, "an integer", text);
      repeated ? r.AddInt64(message, &field, v) : r.SetInt64(message, &field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t v;
      if (!absl::SimpleAtoi(AsAbsl(text), &v))
        return BadValue(name, "a non-negative integer", text);
      repeated ? r.AddUInt32(message, &field, v) : r.SetUInt32(message, &field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v;
      if (!absl::SimpleAtoi(AsAbsl(text), &v))
        return BadValue(name, "a non-negative integer", text);
      repeated ? r.AddUInt64(message, &field, v) : r.SetUInt64(message, &field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool v;
      if (!ParseBool(text, &v)) return BadValue(name, "true or false", text);
      repeated ? r.AddBool(message, &field, v) : r.SetBool(message, &field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const google::protobuf::EnumDescriptor& type = *field.enum_type();
      int number;
      if (const auto* value = type.FindValueByName(std::string(text)); value != nullptr) {
        number = value->number();
      } else if (!absl::SimpleAtoi(AsAbsl(text), &number)) {
        std::vector<std::string> names;
        for (int i = 0; i < type.value_count(); ++i) names.push_back(type.value(i)->name());
        return BadValue(name, absl::StrCat("one of ", absl::StrJoin(names, ", ")), text);
      }
      // Numbers are passed through: the scheduler names the field if it is no enumerator.
      repeated ? r.AddEnumValue(message, &field, number) : r.SetEnumValue(message, &field, number);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(name, ": cannot be given as a query parameter"));
}

}  // namespace

absl::Status FillFromQuery(const QueryParams& params, Message* message,
                           std::initializer_list<std::string_view> skip) {
  const google::protobuf::Descriptor& descriptor = *message->GetDescriptor();
  for (auto it = params.begin(); it != params.end(); ++it) {  // NOLINT(modernize-loop-convert)
    const std::string& name = it->first;
    if (std::find(skip.begin(), skip.end(), name) != skip.end()) continue;
    const FieldDescriptor* field = descriptor.FindFieldByName(name);
    if (field == nullptr) {
      std::vector<std::string> known;
      for (int i = 0; i < descriptor.field_count(); ++i) {
        if (descriptor.field(i)->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
          known.push_back(descriptor.field(i)->name());
        }
      }
      known.insert(known.end(), skip.begin(), skip.end());
      std::sort(known.begin(), known.end());
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown query parameter '", name.substr(0, 64), "' (expected ",
          known.empty() ? "none" : absl::StrCat("one of: ", absl::StrJoin(known, ", ")), ")"));
    }
    if (!field->is_repeated() && params.count(name) > 1) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": given more than once"));
    }
    if (absl::Status set = SetField(*field, it->second, message); !set.ok()) return set;
  }
  return absl::OkStatus();
}

absl::Status CheckNoParams(const QueryParams& params, std::string_view hint) {
  if (params.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown query parameter '", params.begin()->first.substr(0, 64), "' (expected none",
      hint.empty() ? "" : "; ", AsAbsl(hint), ")"));
}

absl::Status CheckDigest(const std::string& digest) {
  if (IsSha256Hex(digest)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "digest: expected 64 lowercase hex characters, got '", digest.substr(0, 80), "'"));
}

std::string ToJson(const Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string out;
  // Printing a valid message cannot fail; an empty object is the safe answer if it did.
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) return "{}";
  return out;
}

absl::Status FromJson(std::string_view json, Message* message) {
  google::protobuf::util::JsonParseOptions options;
  const auto status = google::protobuf::util::JsonStringToMessage(json, message, options);
  if (status.ok()) return absl::OkStatus();
  // JsonUtil's reason can span lines (it quotes the input): errors here are one line.
  std::string reason(status.message());
  std::replace(reason.begin(), reason.end(), '\n', ' ');
  return absl::InvalidArgumentError(absl::StrCat("request body: not a JSON ",
                                                 message->GetDescriptor()->name(), " (",
                                                 reason.substr(0, 200), ")"));
}

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
    default:
      return 500;
  }
}

std::string ErrorJson(const absl::Status& status) {
  v1::HttpError error;
  // Spelled as gRPC spells the codes: "OK", "NOT_FOUND", ...
  error.set_code(absl::StatusCodeToString(status.code()));
  error.set_message(std::string(status.message()));
  return ToJson(error);
}

}  // namespace sematic::scheduler::http
