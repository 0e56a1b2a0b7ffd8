// Exit codes of the `sematic` tool: what scripts can rely on (documented in `sematic help` and
// docs/cli.md), and the mapping from a failed call's status to one of them.
//
//   absl::Status s = client.GetJob(id).status();
//   return ExitCodeFor(s);   // kNotFound for NOT_FOUND, kUnreachable for UNAVAILABLE, ...
#ifndef SEMATIC_CLI_EXIT_CODES_H_
#define SEMATIC_CLI_EXIT_CODES_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace sematic::cli {

enum class ExitCode : int {
  kOk = 0,           // the command did what was asked; the job succeeded
  kJobFailed = 1,    // the job failed, was cancelled or timed out (watch, submit --wait)
  kUsage = 2,        // bad command line: unknown command or flag, malformed --args
  kUnreachable = 3,  // cannot reach the scheduler, or it did not answer in time
  kNotFound = 4,     // no such job, run, artifact or function
  kRejected = 5,     // the scheduler refused the request (invalid, wrong state, over a limit)
  kUnsupported = 6,  // the scheduler does not implement this call yet
  kDenied = 7,       // missing or insufficient credentials
  kInternal = 10,    // anything else: a bug in the scheduler or the tool, a local I/O error
};

// INVALID_ARGUMENT carrying the usage mark, for errors in the command line itself (the scheduler's
// own INVALID_ARGUMENT means "rejected", exit 5).
absl::Status UsageError(std::string_view message);
bool IsUsageError(const absl::Status& status);

// `status`, with a NOT_FOUND message replaced by "no <what>" ("no job j01"): the scheduler's
// wording varies by RPC, the tool's does not.
absl::Status NotFoundAs(absl::Status status, std::string_view what);

// The exit code for a failed command. OK maps to kOk.
ExitCode ExitCodeFor(const absl::Status& status);

// The one line printed on stderr for a failed `command`: "sematic: no job j01", or for a usage
// error that starts with the command's name, "sematic submit: --args: ...". Newlines become
// spaces.
std::string ErrorLine(const absl::Status& status, std::string_view command);

// The table of exit codes for help texts, one "  N  meaning" line each.
std::string ExitCodeHelp();

}  // namespace sematic::cli

#endif  // SEMATIC_CLI_EXIT_CODES_H_
