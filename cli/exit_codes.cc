#include "cli/exit_codes.h"

#include <algorithm>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace sematic::cli {
namespace {

constexpr char kUsagePayload[] = "type.googleapis.com/sematic.cli.UsageError";

}  // namespace

absl::Status UsageError(std::string_view message) {
  absl::Status status = absl::InvalidArgumentError(AsAbsl(message));
  status.SetPayload(kUsagePayload, absl::Cord("1"));
  return status;
}

bool IsUsageError(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument &&
         status.GetPayload(kUsagePayload).has_value();
}

absl::Status NotFoundAs(absl::Status status, std::string_view what) {
  if (status.code() != absl::StatusCode::kNotFound) return status;
  return absl::NotFoundError(absl::StrCat("no ", AsAbsl(what)));
}

ExitCode ExitCodeFor(const absl::Status& status) {
  if (IsUsageError(status)) return ExitCode::kUsage;
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return ExitCode::kOk;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return ExitCode::kUnreachable;
    case absl::StatusCode::kNotFound:
      return ExitCode::kNotFound;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
      return ExitCode::kRejected;
    case absl::StatusCode::kUnimplemented:
      return ExitCode::kUnsupported;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return ExitCode::kDenied;
    default:
      return ExitCode::kInternal;
  }
}

std::string ErrorLine(const absl::Status& status, std::string_view command) {
  std::string message(status.message());
  if (message.empty()) message = absl::StatusCodeToString(status.code());
  std::replace_if(
      message.begin(), message.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  const bool names_command = !command.empty() && IsUsageError(status) &&
                             absl::StartsWith(message, absl::StrCat(AsAbsl(command), ": "));
  return absl::StrCat("sematic", names_command ? " " : ": ", message);
}

std::string ExitCodeHelp() {
  return "  0   ok; for watch and submit --wait: the job succeeded\n"
         "  1   the job failed, was cancelled or timed out\n"
         "  2   usage error (unknown command or flag, malformed --args)\n"
         "  3   scheduler unreachable or not answering in time\n"
         "  4   not found (job, run, artifact, function)\n"
         "  5   rejected by the scheduler (invalid request, wrong state, over a limit)\n"
         "  6   not implemented by this scheduler yet\n"
         "  7   not authenticated or not permitted\n"
         "  10  internal error (scheduler bug, local I/O error)\n";
}

}  // namespace sematic::cli
