#include "cli/typed_args.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/exit_codes.h"
#include "common/strings.h"
#include "sematic/codec.h"
#include "sematic/json.h"

namespace sematic::cli {
namespace {

constexpr char kRoot[] = "args";

// FromJson reports "args.n: expected int32, got string"; say it in the command line's terms.
std::string DescribeArgsError(std::string_view message) {
  const absl::string_view m = AsAbsl(message);
  if (absl::StartsWith(m, absl::StrCat(kRoot, "."))) {
    const size_t colon = m.find(": ");
    const size_t start = sizeof(kRoot);  // past "args."
    if (colon != absl::string_view::npos && colon > start) {
      return absl::StrCat("--args: field '", m.substr(start, colon - start),
                          "': ", m.substr(colon + 2));
    }
  }
  if (absl::StartsWith(m, absl::StrCat(kRoot, ": "))) {
    return absl::StrCat("--args: ", m.substr(sizeof(kRoot) + 1));
  }
  return absl::StrCat("--args: ", m);
}

}  // namespace

absl::StatusOr<const v1::FunctionSignature*> FindSignature(
    const v1::ListFunctionsResponse& functions, std::string_view name, std::string_view version) {
  std::vector<const v1::FunctionSignature*> matches;
  std::vector<std::string> versions;
  for (const v1::FunctionSignature& f : functions.functions()) {
    if (f.name() != name) continue;
    versions.push_back(f.version().empty() ? "\"\"" : f.version());
    if (version.empty() || f.version() == version) matches.push_back(&f);
  }
  if (matches.size() == 1) return matches[0];
  if (matches.size() > 1) {
    return UsageError(absl::StrCat("function ", AsAbsl(name), " is offered in several versions (",
                                   absl::StrJoin(versions, ", "), "): choose one with --version"));
  }
  if (!versions.empty()) {
    return absl::NotFoundError(absl::StrCat("no live worker offers ", AsAbsl(name), " at version ",
                                            AsAbsl(version),
                                            " (offered: ", absl::StrJoin(versions, ", "), ")"));
  }
  return absl::NotFoundError(absl::StrCat("no live worker offers function ", AsAbsl(name),
                                          " (sematic functions lists them)"));
}

absl::StatusOr<std::vector<v1::NamedArg>> ArgsFromJson(const v1::FunctionSignature& signature,
                                                       std::string_view json) {
  // The parameters read as one struct: FromJson then checks every name and type, reports
  // unknown and missing ones, and fills absent optionals.
  v1::TypeDesc params;
  params.set_kind(v1::TypeDesc::STRUCT);
  params.set_name(SignatureText(signature));
  *params.mutable_fields() = signature.params();
  absl::StatusOr<v1::Value> value =
      FromJson(params, json.empty() ? std::string_view("{}") : json, kRoot);
  if (!value.ok()) return UsageError(DescribeArgsError(AsStd(value.status().message())));
  const auto& items = value->list_value().items();
  if (items.size() != signature.params_size()) {
    return absl::InternalError("--args: the parsed arguments do not match the signature");
  }
  std::vector<v1::NamedArg> args;
  args.reserve(static_cast<size_t>(items.size()));
  for (int i = 0; i < items.size(); ++i) {
    v1::NamedArg& arg = args.emplace_back();
    arg.set_name(signature.params(i).name());
    *arg.mutable_value() = items[i];
  }
  return args;
}

std::string SignatureText(const v1::FunctionSignature& signature) {
  std::vector<std::string> params;
  for (const v1::Field& p : signature.params()) {
    params.push_back(absl::StrCat(p.name(), ": ", TypeName(p.type())));
  }
  return absl::StrCat(signature.name(), "(", absl::StrJoin(params, ", "), ") -> ",
                      TypeName(signature.result()));
}

}  // namespace sematic::cli
