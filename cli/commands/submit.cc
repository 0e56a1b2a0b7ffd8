// sematic submit FUNCTION --args '{json}' [--tag k=v] [--priority N] [--fail-fast|--continue]
//                         [--idempotency-key K] [--version V] [--max-parallelism N] [--wait]
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/commands/commands.h"
#include "cli/format.h"
#include "cli/typed_args.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace sematic::cli {
namespace {

absl::StatusOr<int32_t> IntFlag(const Invocation& inv, std::string_view flag, int32_t min) {
  int32_t value = 0;
  const std::string text = inv.Value(flag);
  if (!absl::SimpleAtoi(text, &value) || value < min) {
    return UsageError(absl::StrCat("submit: --", AsAbsl(flag), ": expected an integer",
                                   min == 0 ? " >= 0" : "", ", got \"", text, "\""));
  }
  return value;
}

absl::StatusOr<v1::SubmitJobRequest> BuildRequest(const Invocation& inv,
                                                  const v1::ListFunctionsResponse& functions) {
  v1::SubmitJobRequest request;
  const std::string& function = inv.positional[0];
  ASSIGN_OR_RETURN(const v1::FunctionSignature* signature,
                   FindSignature(functions, function, inv.Value("version")));
  request.set_function(signature->name());
  request.set_version(signature->version());
  absl::StatusOr<std::vector<v1::NamedArg>> args = ArgsFromJson(*signature, inv.Value("args"));
  if (!args.ok()) {
    return UsageError(absl::StrCat("submit: ", args.status().message()));
  }
  for (v1::NamedArg& arg : *args) *request.add_args() = std::move(arg);

  v1::JobOptions* options = request.mutable_options();
  for (const std::string& tag : inv.Values("tag")) {
    if (tag.find('=') == std::string::npos || tag.front() == '=') {
      return UsageError(absl::StrCat("submit: --tag: expected KEY=VALUE, got \"", tag, "\""));
    }
    options->add_tags(tag);
  }
  if (inv.Has("priority")) {
    ASSIGN_OR_RETURN(int32_t priority, IntFlag(inv, "priority", INT32_MIN));
    options->set_priority(priority);
  }
  if (inv.Has("max-parallelism")) {
    ASSIGN_OR_RETURN(int32_t parallelism, IntFlag(inv, "max-parallelism", 0));
    options->set_max_parallelism(parallelism);
  }
  if (inv.Has("fail-fast") && inv.Has("continue")) {
    return UsageError("submit: --fail-fast and --continue exclude each other");
  }
  options->set_failure_policy(inv.Has("continue") ? v1::CONTINUE_INDEPENDENT : v1::FAIL_FAST);
  request.set_idempotency_key(inv.Value("idempotency-key"));
  return request;
}

}  // namespace

CommandResult RunSubmit(const Invocation& inv, Client& client, Output output) {
  // Arguments are typed against what the live workers announced, so a mistake is reported here,
  // naming the field, before anything is created.
  ASSIGN_OR_RETURN(v1::ListFunctionsResponse functions, client.ListFunctions());
  ASSIGN_OR_RETURN(v1::SubmitJobRequest request, BuildRequest(inv, functions));
  ASSIGN_OR_RETURN(v1::SubmitJobResponse response, client.SubmitJob(request));
  // With --json --wait the response comes first, then one JobEvent per line.
  if (inv.global.json) {
    ASSIGN_OR_RETURN(std::string json, ToJsonLine(response));
    output.out << json << "\n";
  } else {
    output.out << response.job().id() << "\n";
  }
  output.out.flush();
  if (!inv.Has("wait")) return ExitCode::kOk;
  Invocation watch = inv;
  watch.command = "watch";
  watch.positional = {response.job().id()};
  watch.flags.clear();
  return RunWatch(watch, client, output);
}

}  // namespace sematic::cli
