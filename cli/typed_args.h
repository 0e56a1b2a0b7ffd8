// Typed arguments of a submit from JSON, checked against the signature the workers announced.
//
//   ASSIGN_OR_RETURN(const v1::FunctionSignature* sig, FindSignature(functions, "Train", ""));
//   ASSIGN_OR_RETURN(std::vector<v1::NamedArg> args, ArgsFromJson(*sig, R"({"epochs": 3})"));
//
// The JSON object is keyed by parameter name; each value is read as its parameter's TypeDesc
// (ints, doubles, strings, vectors, maps, structs, ... as sematic/json.h documents).
#ifndef SEMATIC_CLI_TYPED_ARGS_H_
#define SEMATIC_CLI_TYPED_ARGS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "sematic/v1/admin_service.pb.h"
#include "sematic/v1/job.pb.h"

namespace sematic::cli {

// The signature of `name` (at `version`, or the only version offered). NOT_FOUND when no live
// worker offers it; a UsageError when several versions are offered and none was chosen.
absl::StatusOr<const v1::FunctionSignature*> FindSignature(
    const v1::ListFunctionsResponse& functions, std::string_view name, std::string_view version);

// One NamedArg per parameter, in parameter order. UsageError on malformed JSON, a missing or
// unknown parameter, or a value not of the parameter's type, naming the field and both types:
// "--args: field 'n': expected int32, got string".
absl::StatusOr<std::vector<v1::NamedArg>> ArgsFromJson(const v1::FunctionSignature& signature,
                                                       std::string_view json);

// "Train(config: Config, epochs: int32) -> Result".
std::string SignatureText(const v1::FunctionSignature& signature);

}  // namespace sematic::cli

#endif  // SEMATIC_CLI_TYPED_ARGS_H_
