// The subcommands of `sematic`. Each takes the parsed command line, a Client and where to
// write, and knows nothing of gRPC or of the process it runs in, so its output is tested with a
// fake client.
//
//   absl::StatusOr<ExitCode> code = RunStatus(invocation, client, Output{std::cout});
//
// OK with kOk or kJobFailed (watch, submit --wait) is an answer; an error status is printed by
// the caller as one line and mapped to an exit code with ExitCodeFor.
#ifndef SEMATIC_CLI_COMMANDS_COMMANDS_H_
#define SEMATIC_CLI_COMMANDS_COMMANDS_H_

#include <ostream>

#include "absl/status/statusor.h"
#include "cli/args.h"
#include "cli/client.h"
#include "cli/exit_codes.h"

namespace sematic::cli {

struct Output {
  std::ostream& out;
  bool tty = false;  // redraw progress in place instead of printing lines
};

using CommandResult = absl::StatusOr<ExitCode>;

CommandResult RunSubmit(const Invocation& inv, Client& client, Output output);
CommandResult RunJobs(const Invocation& inv, Client& client, Output output);
CommandResult RunStatus(const Invocation& inv, Client& client, Output output);
CommandResult RunWatch(const Invocation& inv, Client& client, Output output);
CommandResult RunLogs(const Invocation& inv, Client& client, Output output);
CommandResult RunCancel(const Invocation& inv, Client& client, Output output);
CommandResult RunGet(const Invocation& inv, Client& client, Output output);
CommandResult RunLineage(const Invocation& inv, Client& client, Output output);
CommandResult RunMetrics(const Invocation& inv, Client& client, Output output);
CommandResult RunWorkers(const Invocation& inv, Client& client, Output output);
CommandResult RunFunctions(const Invocation& inv, Client& client, Output output);

// Dispatches inv.command to the functions above. UsageError for a command without a client
// (help, scheduler: the caller handles those).
CommandResult RunCommand(const Invocation& inv, Client& client, Output output);

}  // namespace sematic::cli

#endif  // SEMATIC_CLI_COMMANDS_COMMANDS_H_
