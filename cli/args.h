// The `sematic` command line: a subcommand, its positional arguments and flags, plus the global
// flags every command takes. Parsing is driven by a table of CommandSpecs and knows nothing of
// gRPC, so it is tested on its own.
//
//   absl::StatusOr<Invocation> inv = ParseCommandLine({"status", "j1", "--json"}, Commands(), env);
//   if (!inv.ok()) ...;                    // a UsageError: "status: unknown flag --jsn"
//   inv->positional[0] == "j1";  inv->global.json == true;
#ifndef SEMATIC_CLI_ARGS_H_
#define SEMATIC_CLI_ARGS_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sematic::cli {

inline constexpr char kDefaultScheduler[] = "127.0.0.1:7070";

struct FlagSpec {
  std::string name;        // without dashes: "state"
  char short_name = '\0';  // 'o' for -o; '\0' for none
  bool takes_value = true;
  bool repeated = false;
  std::string help;  // "STATE  only jobs in this state (repeatable)"
};

struct CommandSpec {
  std::string name;
  std::string usage;    // "status JOB"
  std::string summary;  // one line for `sematic help`
  size_t min_positional = 0;
  size_t max_positional = 0;
  std::vector<FlagSpec> flags = {};
  bool passthrough = false;  // everything after the command goes through untouched (scheduler)
};

// Flags every command accepts, before or after the command name.
struct GlobalFlags {
  std::string scheduler = kDefaultScheduler;   // --scheduler, else $SEMATIC_SCHEDULER
  bool json = false;                           // --json
  absl::Duration timeout = absl::Seconds(10);  // --timeout, per RPC
  std::string data_dir;  // --data-dir: an embedded engine's data, read in-process; empty: gRPC
};

struct Invocation {
  std::string command;  // "help" when none was given
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> flags;  // boolean flags hold one ""
  GlobalFlags global;

  bool Has(std::string_view flag) const;
  // The last value given for `flag`, or `fallback`.
  std::string Value(std::string_view flag, std::string_view fallback = "") const;
  std::vector<std::string> Values(std::string_view flag) const;
};

// The specification of every subcommand, in help order.
const std::vector<CommandSpec>& Commands();

// Parses argv without the program name. `env_scheduler` is $SEMATIC_SCHEDULER (or empty).
// Accepts --flag=value, --flag value, -o value, and `--` to end flags. `help`, `--help`, `-h`
// and no arguments give command "help" (positional: the command asked about, if any).
// Errors are UsageErrors naming the command and the flag.
absl::StatusOr<Invocation> ParseCommandLine(const std::vector<std::string>& args,
                                            const std::vector<CommandSpec>& commands,
                                            std::string_view env_scheduler);

// `sematic help` (all commands, global flags, exit codes) or the help of one command.
std::string HelpText(const std::vector<CommandSpec>& commands);
std::string CommandHelp(const CommandSpec& command);

// Parses "30s", "500ms", "2m" (absl durations) or a plain number of seconds.
absl::StatusOr<absl::Duration> ParseTimeout(std::string_view text);

}  // namespace sematic::cli

#endif  // SEMATIC_CLI_ARGS_H_
