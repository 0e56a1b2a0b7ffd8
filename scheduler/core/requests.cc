#include "scheduler/core/requests.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/digest.h"
#include "common/strings.h"
#include "scheduler/artifacts/artifact_service.h"
#include "sematic/codec.h"

namespace sematic::scheduler {
namespace {

absl::Status TooLong(absl::string_view field, size_t limit) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": longer than ", limit, " bytes"));
}

}  // namespace

absl::Status CheckSubmitShape(const v1::SubmitJobRequest& request, const Limits& limits) {
  if (request.function().empty()) {
    return absl::InvalidArgumentError("function: required (the name of a registered step)");
  }
  if (request.function().size() > limits.max_name_bytes) {
    return TooLong("function", limits.max_name_bytes);
  }
  if (request.version().size() > limits.max_name_bytes) {
    return TooLong("version", limits.max_name_bytes);
  }
  if (request.idempotency_key().size() > limits.max_name_bytes) {
    return TooLong("idempotency_key", limits.max_name_bytes);
  }
  if (static_cast<size_t>(request.args_size()) > limits.max_args_per_submit) {
    return absl::InvalidArgumentError(absl::StrCat("args: more than ",
                                                   limits.max_args_per_submit, " arguments"));
  }
  for (int i = 0; i < request.options().tags_size(); ++i) {
    if (request.options().tags(i).size() > limits.max_name_bytes) {
      return TooLong(absl::StrCat("options.tags[", i, "]"), limits.max_name_bytes);
    }
  }
  if (request.options().max_parallelism() < 0) {
    return absl::InvalidArgumentError("options.max_parallelism: must not be negative");
  }
  for (int i = 0; i < request.args_size(); ++i) {
    const v1::NamedArg& arg = request.args(i);
    if (arg.name().size() > limits.max_name_bytes) {
      return TooLong(absl::StrCat("args[", i, "].name"), limits.max_name_bytes);
    }
    if (arg.source_case() == v1::NamedArg::kValue &&
        arg.value().ByteSizeLong() > limits.max_inline_value_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "args[", i, "] (", arg.name(), "): the value is larger than ",
          limits.max_inline_value_bytes, " bytes; upload it with ArtifactService and pass its "
          "digest"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::CallNode> RootCall(const v1::SubmitJobRequest& request,
                                      const v1::FunctionSignature& signature,
                                      const Limits& limits,
                                      const ArtifactTypeLookup& artifact_type) {
  if (absl::Status s = CheckSubmitShape(request, limits); !s.ok()) return s;
  absl::flat_hash_map<std::string, int> given;  // arg name -> index in request.args
  for (int i = 0; i < request.args_size(); ++i) {
    if (!given.emplace(request.args(i).name(), i).second) {
      return absl::InvalidArgumentError(absl::StrCat("args[", i, "] (", request.args(i).name(),
                                                     "): given twice"));
    }
  }
  v1::CallNode node;
  node.set_id("root");
  node.set_function(signature.name());
  node.set_version(signature.version());
  *node.mutable_output_type() = signature.result();
  for (const v1::Field& param : signature.params()) {
    auto it = given.find(param.name());
    if (it == given.end()) {
      return absl::InvalidArgumentError(absl::StrCat("args: missing \"", param.name(), "\" (",
                                                     TypeName(param.type()), ") for ",
                                                     signature.name()));
    }
    const int i = it->second;
    const v1::NamedArg& arg = request.args(i);
    given.erase(it);
    v1::Arg* out = node.add_args();
    out->set_name(param.name());
    switch (arg.source_case()) {
      case v1::NamedArg::kValue: {
        const std::string root = absl::StrCat("args[", i, "] (", arg.name(), ")");
        if (absl::Status s = ValidateValue(param.type(), arg.value(), root); !s.ok()) return s;
        *out->mutable_literal() = arg.value();
        break;
      }
      case v1::NamedArg::kArtifactDigest:
        if (!IsSha256Hex(arg.artifact_digest())) {
          return absl::InvalidArgumentError(absl::StrCat(
              "args[", i, "] (", arg.name(), ").artifact_digest: expected 64 lowercase hex"));
        }
      {
        absl::StatusOr<v1::TypeDesc> type = artifact_type(arg.artifact_digest());
        if (absl::IsNotFound(type.status())) {
          return absl::NotFoundError(absl::StrCat("args[", i, "] (", arg.name(),
                                                  "): no artifact ", arg.artifact_digest()));
        }
        if (!type.ok()) return type.status();
        if (!SameType(*type, param.type())) {
          return absl::InvalidArgumentError(absl::StrCat(
              "args[", i, "] (", arg.name(), ").artifact_digest: artifact ",
              arg.artifact_digest(), " is ", TypeName(*type), ", expected ",
              TypeName(param.type())));
        }
        out->mutable_artifact()->set_digest(arg.artifact_digest());
        break;
      }
      case v1::NamedArg::SOURCE_NOT_SET:
        return absl::InvalidArgumentError(
            absl::StrCat("args[", i, "] (", arg.name(), "): needs a value or an artifact_digest"));
    }
  }
  if (!given.empty()) {
    const auto& [name, index] = *given.begin();
    return absl::InvalidArgumentError(absl::StrCat("args[", index, "] (", name, "): ",
                                                   signature.name(), " has no such parameter"));
  }
  return node;
}

}  // namespace sematic::scheduler
