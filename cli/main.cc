// sematic: the command-line tool. See docs/cli.md, or run `sematic help`.
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands/commands.h"
#include "cli/exit_codes.h"
#include "cli/grpc_client.h"
#include "cli/local_client.h"
#include "cli/ui_command.h"
#include "scheduler/daemon/daemon.h"

namespace sematic::cli {
namespace {

// The command named on the line, for error messages of a line that did not parse.
std::string CommandNamed(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    for (const CommandSpec& spec : Commands()) {
      if (spec.name == arg) return arg;
    }
  }
  return "";
}

int Fail(const absl::Status& status, std::string_view command) {
  std::cerr << ErrorLine(status, command) << std::endl;
  return static_cast<int>(ExitCodeFor(status));
}

int Main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  const char* env = std::getenv("SEMATIC_SCHEDULER");
  absl::StatusOr<Invocation> inv = ParseCommandLine(args, Commands(), env == nullptr ? "" : env);
  if (!inv.ok()) return Fail(inv.status(), CommandNamed(args));

  if (inv->command == "help") {
    if (inv->positional.empty()) {
      std::cout << HelpText(Commands());
      return 0;
    }
    for (const CommandSpec& spec : Commands()) {
      if (spec.name == inv->positional[0]) {
        std::cout << CommandHelp(spec);
        return 0;
      }
    }
    return Fail(UsageError("help: unknown command \"" + inv->positional[0] + "\""), "help");
  }
  if (inv->command == "scheduler") {
    // The daemon parses its own flags, exactly as sematic-scheduler does.
    std::string program = "sematic scheduler";
    std::vector<char*> daemon_argv = {program.data()};
    std::vector<std::string> daemon_args = inv->positional;
    for (std::string& arg : daemon_args) daemon_argv.push_back(arg.data());
    daemon_argv.push_back(nullptr);
    return scheduler::DaemonMain(static_cast<int>(daemon_args.size() + 1), daemon_argv.data());
  }

  if (inv->command == "ui") return RunUi(*inv);

  std::unique_ptr<Client> client;
  if (!inv->global.data_dir.empty()) {
    absl::StatusOr<std::unique_ptr<Client>> local =
        OpenLocalClient(inv->global.data_dir, inv->global.timeout);
    if (!local.ok()) return Fail(local.status(), inv->command);
    client = *std::move(local);
  } else {
    client = MakeGrpcClient({.address = inv->global.scheduler, .timeout = inv->global.timeout});
  }
  CommandResult result = RunCommand(*inv, *client, Output{std::cout, isatty(STDOUT_FILENO) == 1});
  std::cout.flush();
  if (!result.ok()) return Fail(result.status(), inv->command);
  return static_cast<int>(*result);
}

}  // namespace
}  // namespace sematic::cli

int main(int argc, char** argv) { return sematic::cli::Main(argc, argv); }
