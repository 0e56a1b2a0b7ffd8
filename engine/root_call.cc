#include "engine/root_call.h"

#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "sematic/func.h"

namespace sematic::engine {
namespace {

constexpr char kHowToCompose[] =
    "; the embedded and cluster runners submit the root call as a job of literal arguments. "
    "Compose the calls in a nested step and resolve a call of it, e.g. "
    "Future<R> Pipeline(int n) { return Call(F, Call(G, n)); } SEMATIC_FUNC(Pipeline, \"n\");";

std::string Describe(const internal::Node& node) {
  switch (node.kind) {
    case internal::NodeKind::kCall:
      return absl::StrCat("the result of ", node.label);
    case internal::NodeKind::kGather:
      return "a vector of futures";
    case internal::NodeKind::kField:
      return "a field of another call's result";
    case internal::NodeKind::kElement:
      return "an element of another call's result";
    case internal::NodeKind::kLiteral:
      return "a value";
  }
  return "a future";
}

}  // namespace

absl::StatusOr<RootSubmission> SubmitRequestFor(const internal::Node& root) {
  if (root.error != nullptr) return *root.error;  // e.g. a call of an unregistered function
  if (root.kind != internal::NodeKind::kCall || root.func == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("the pipeline's result is ", Describe(root),
                     ", not a call of a registered step (SEMATIC_FUNC)", kHowToCompose));
  }
  const FuncInfo& func = *root.func;
  if (absl::StatusOr<const FuncInfo*> registered = FindFunc(func.name, func.options.version);
      !registered.ok() || *registered != &func) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the root step ", func.name, " is not registered with SEMATIC_FUNC in this binary"));
  }
  RootSubmission out;
  v1::SubmitJobRequest& request = out.request;
  request.set_function(func.name);
  request.set_version(func.options.version);
  absl::flat_hash_set<std::string> digests;
  for (const internal::Node::Arg& arg : root.args) {
    v1::NamedArg* named = request.add_args();
    named->set_name(arg.name);
    if (arg.node == nullptr) {
      *named->mutable_value() = arg.literal;
    } else if (arg.node->kind == internal::NodeKind::kLiteral) {
      *named->mutable_value() = arg.node->args.front().literal;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("argument \"", arg.name, "\" of ", func.name,
                                                     " is ", Describe(*arg.node),
                                                     kHowToCompose));
    }
    for (Payload& payload : ExternalizePayloads(named->mutable_value())) {
      if (digests.insert(payload.digest).second) out.payloads.push_back(std::move(payload));
    }
  }
  return out;
}

}  // namespace sematic::engine
