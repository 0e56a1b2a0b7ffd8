#include "scheduler/core/requests.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "common/digest.h"
#include "common/status_macros.h"
#include "scheduler/store/keys.h"
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
  const v1::JobOptions& options = request.options();
  if (static_cast<size_t>(options.tags_size()) > limits.max_tags_per_job) {
    return absl::InvalidArgumentError(absl::StrCat("options.tags: ", options.tags_size(),
                                                   " tags; at most ", limits.max_tags_per_job));
  }
  for (int i = 0; i < options.tags_size(); ++i) {
    if (options.tags(i).size() > limits.max_tag_bytes) {
      return TooLong(absl::StrCat("options.tags[", i, "]"), limits.max_tag_bytes);
    }
  }
  if (options.cache_namespace().size() > limits.max_name_bytes) {
    return TooLong("options.cache_namespace", limits.max_name_bytes);
  }
  if (!v1::FailurePolicy_IsValid(options.failure_policy())) {
    return absl::InvalidArgumentError(
        absl::StrCat("options.failure_policy: ", options.failure_policy(),
                     " is not a FailurePolicy (expected FAIL_FAST or CONTINUE_INDEPENDENT)"));
  }
  if (request.options().max_parallelism() < 0) {
    return absl::InvalidArgumentError("options.max_parallelism: must not be negative");
  }
  for (int i = 0; i < request.args_size(); ++i) {
    const v1::NamedArg& arg = request.args(i);
    if (arg.name().size() > limits.max_name_bytes) {
      return TooLong(absl::StrCat("args[", i, "].name"), limits.max_name_bytes);
    }
    if (arg.source_case() != v1::NamedArg::kValue) continue;
    const size_t value_bytes = arg.value().ByteSizeLong();
    if (value_bytes > limits.max_inline_value_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "args[", i, "] (", arg.name(), "): the value is larger than ",
          limits.max_inline_value_bytes, " bytes; upload it with ArtifactService and pass its "
          "digest"));
    }
    // A smaller value cannot hold a payload of the threshold.
    if (value_bytes >= kPayloadThresholdBytes) {
      RETURN_IF_ERROR(CheckPayloadsExternal(arg.value(), absl::StrCat("args[", i, "].value")));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::CallNode> RootCall(const v1::SubmitJobRequest& request,
                                      const v1::FunctionSignature& signature,
                                      const Limits& limits,
                                      const ArtifactTypeLookup& artifact_type,
                                      const PayloadSizeLookup& payload_size) {
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
        RETURN_IF_ERROR(
            CheckPayloadsStored(arg.value(), payload_size, absl::StrCat("args[", i, "].value")));
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

std::string SubmitRequestDigest(const v1::SubmitJobRequest& request) {
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  google::protobuf::io::CodedOutputStream out(&stream);
  out.SetSerializationDeterministic(true);
  request.SerializeToCodedStream(&out);
  out.Trim();
  return Sha256Hex(bytes);
}

namespace {

// Every entry of a `states` filter names a state of `Enum` (not its UNSPECIFIED zero).
template <typename Enum>
absl::Status CheckStates(const google::protobuf::RepeatedField<int>& states,
                         bool (*is_valid)(int), Enum first, Enum last, absl::string_view type) {
  for (int i = 0; i < states.size(); ++i) {
    if (states[i] == 0 || !is_valid(states[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("states[", i, "]: ", states[i], " is not a ", type, " (expected ",
                       static_cast<int>(first), " to ", static_cast<int>(last), ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckJobStates(const google::protobuf::RepeatedField<int>& states) {
  return CheckStates(states, v1::JobState_IsValid, v1::JOB_PENDING, v1::JobState_MAX,
                     "JobState");
}

absl::Status CheckRunStates(const google::protobuf::RepeatedField<int>& states) {
  return CheckStates(states, v1::RunState_IsValid, v1::CREATED, v1::RunState_MAX, "RunState");
}

absl::StatusOr<uint64_t> ParseJobsPageToken(std::string_view token) {
  absl::StatusOr<uint64_t> job = ParseJobId(token);
  if (!job.ok()) {
    return absl::InvalidArgumentError(
        "page_token: malformed (expected the next_page_token of an earlier ListJobs reply)");
  }
  return *job;
}

absl::StatusOr<uint64_t> ParseRunsPageToken(std::string_view token, uint64_t job_id) {
  absl::StatusOr<RunKey> key = ParseRunId(token);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        "page_token: malformed (expected the next_page_token of an earlier ListRuns reply)");
  }
  if (key->job != job_id) {
    return absl::InvalidArgumentError(
        "page_token: comes from the listing of another job (job_id changed between pages)");
  }
  return key->index;
}

}  // namespace sematic::scheduler
