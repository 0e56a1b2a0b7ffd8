#include "cli/args.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/exit_codes.h"
#include "common/strings.h"

namespace sematic::cli {
namespace {

FlagSpec Bool(std::string name, std::string help, char short_name = '\0') {
  return FlagSpec{std::move(name), short_name, false, false, std::move(help)};
}
FlagSpec Valued(std::string name, std::string help, char short_name = '\0') {
  return FlagSpec{std::move(name), short_name, true, false, std::move(help)};
}
FlagSpec Repeated(std::string name, std::string help) {
  return FlagSpec{std::move(name), '\0', true, true, std::move(help)};
}

const std::vector<FlagSpec>& GlobalFlagSpecs() {
  static const auto* specs = new std::vector<FlagSpec>{
      Valued("scheduler", "HOST:PORT  the scheduler (default $SEMATIC_SCHEDULER, else " +
                              std::string(kDefaultScheduler) + ")"),
      Bool("json", "machine-readable output: protobuf JSON, one document (streams: one per line)"),
      Valued("timeout", "DURATION  deadline of each call to the scheduler (default 10s)"),
      Valued("data-dir", "DIR  read an embedded engine's data (e.g. ./.sematic) instead of "
                         "calling a scheduler"),
  };
  return *specs;
}

const FlagSpec* FindFlag(const std::vector<FlagSpec>& specs, std::string_view name, bool is_short) {
  for (const FlagSpec& spec : specs) {
    if (is_short ? (name.size() == 1 && spec.short_name == name[0]) : spec.name == name) {
      return &spec;
    }
  }
  return nullptr;
}

absl::Status ApplyGlobal(const FlagSpec& spec, const std::string& value, GlobalFlags* global) {
  if (spec.name == "scheduler") {
    if (value.empty()) return UsageError("--scheduler: expected HOST:PORT");
    global->scheduler = value;
  } else if (spec.name == "json") {
    global->json = true;
  } else if (spec.name == "data-dir") {
    if (value.empty()) return UsageError("--data-dir: expected a directory");
    global->data_dir = value;
  } else if (spec.name == "timeout") {
    absl::StatusOr<absl::Duration> timeout = ParseTimeout(value);
    if (!timeout.ok()) return timeout.status();
    global->timeout = *timeout;
  }
  return absl::OkStatus();
}

}  // namespace

bool Invocation::Has(std::string_view flag) const { return flags.count(std::string(flag)) > 0; }

std::string Invocation::Value(std::string_view flag, std::string_view fallback) const {
  auto it = flags.find(std::string(flag));
  if (it == flags.end() || it->second.empty()) return std::string(fallback);
  return it->second.back();
}

std::vector<std::string> Invocation::Values(std::string_view flag) const {
  auto it = flags.find(std::string(flag));
  return it == flags.end() ? std::vector<std::string>{} : it->second;
}

const std::vector<CommandSpec>& Commands() {
  static const auto* commands = new std::vector<CommandSpec>{
      {.name = "scheduler",
       .usage = "scheduler [--data-dir=DIR] [--port=PORT] [--host=HOST] [--sync] ...",
       .summary = "start the scheduler daemon (same flags as sematic-scheduler; port 7070)",
       .passthrough = true},
      {.name = "submit",
       .usage = "submit FUNCTION --args '{json}' [flags]",
       .summary = "submit a job calling FUNCTION; prints the job id",
       .min_positional = 1,
       .max_positional = 1,
       .flags =
           {Valued("args", "JSON  the arguments, an object keyed by parameter name (default {})"),
            Repeated("tag", "K=V  a tag on the job (repeatable)"),
            Valued("priority", "N  higher runs first (default 0)"),
            Bool("fail-fast", "the first failing step cancels the rest (default)"),
            Bool("continue", "independent branches keep running after a failure"),
            Valued("idempotency-key", "KEY  retried submits with this key return the first job"),
            Valued("version", "V  the function's version, when workers offer several"),
            Valued("max-parallelism", "N  runs of the job in flight at once (default unlimited)"),
            Bool("wait", "wait for the job to end; exit 0 if it succeeded, 1 if not")}},
      {.name = "jobs",
       .usage = "jobs [--state S] [--tag K=V] [--function F] [--limit N] [--page-token T] [--all]",
       .summary = "list jobs, newest first",
       .flags = {Repeated("state",
                          "S  pending, running, succeeded, failed or canceled (repeatable)"),
                 Valued("tag", "K=V  only jobs with this tag"),
                 Valued("function", "F  only jobs of this function"),
                 Valued("limit", "N  jobs per page (default 50, at most 1000)"),
                 Valued("page-token", "T  continue a previous listing"),
                 Bool("all", "follow every page")}},
      {.name = "status",
       .usage = "status JOB",
       .summary = "a job and its run tree: states, attempts, durations, errors",
       .min_positional = 1,
       .max_positional = 1},
      {.name = "watch",
       .usage = "watch JOB",
       .summary = "live progress until the job ends; exit 0 if it succeeded, 1 if not",
       .min_positional = 1,
       .max_positional = 1},
      {.name = "logs",
       .usage = "logs RUN [-f] [--from N]",
       .summary = "a run's log lines",
       .min_positional = 1,
       .max_positional = 1,
       .flags = {Bool("follow", "keep streaming until the run ends", 'f'),
                 Valued("from", "N  skip the first N lines")}},
      {.name = "cancel",
       .usage = "cancel JOB",
       .summary = "cancel every unfinished run of a job",
       .min_positional = 1,
       .max_positional = 1},
      {.name = "get",
       .usage = "get ARTIFACT [-o FILE]",
       .summary = "an artifact's type and value; -o downloads its bytes (resumable)",
       .min_positional = 1,
       .max_positional = 1,
       .flags = {Valued("output", "FILE  download the serialized TypedValue to FILE", 'o'),
                 Valued("max-elements", "N  elements per tensor / column / bytes in the view")}},
      {.name = "lineage",
       .usage = "lineage ARTIFACT|RUN [--depth N]",
       .summary = "what produced an artifact, or a run's inputs and consumers",
       .min_positional = 1,
       .max_positional = 1,
       .flags = {Valued("depth", "N  how many steps to follow (default 10)")}},
      {.name = "metrics",
       .usage = "metrics RUN [--name M] [--points]",
       .summary = "a run's logged metrics: each series' last, min and max; --points: every point",
       .min_positional = 1,
       .max_positional = 1,
       .flags = {Valued("name", "M  only the metric called M"),
                 Bool("points", "every point (step, value, time), not a summary per series")}},
      {.name = "workers",
       .usage = "workers",
       .summary = "connected workers: capacity, load, labels, heartbeat"},
      {.name = "functions",
       .usage = "functions",
       .summary = "functions offered by live workers, with their signatures"},
      {.name = "ui",
       .usage = "ui --data-dir DIR [--port N]",
       .summary = "the dashboard over a pipeline's data directory (read-only), until Ctrl-C",
       .flags = {Valued("port", "N  HTTP port (default 7071; 0 picks a free one)"),
                 Valued("host", "H  address to listen on (default 127.0.0.1)"),
                 Valued("ui-dir", "DIR  the built dashboard (default: the build's ui/dist)")}},
      {.name = "help",
       .usage = "help [COMMAND]",
       .summary = "this text, or one command's flags",
       .max_positional = 1},
  };
  return *commands;
}

absl::StatusOr<Invocation> ParseCommandLine(const std::vector<std::string>& args,
                                            const std::vector<CommandSpec>& commands,
                                            std::string_view env_scheduler) {
  Invocation inv;
  if (!env_scheduler.empty()) inv.global.scheduler = std::string(env_scheduler);
  const CommandSpec* command = nullptr;
  bool flags_ended = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    const std::string where = command == nullptr ? "" : command->name + ": ";
    if (flags_ended || arg.size() < 2 || arg[0] != '-') {
      if (command == nullptr) {
        auto it = std::find_if(commands.begin(), commands.end(),
                               [&](const CommandSpec& c) { return c.name == arg; });
        if (it == commands.end()) {
          return UsageError(
              absl::StrCat("unknown command \"", AsAbsl(arg), "\" (sematic help lists them)"));
        }
        command = &*it;
        inv.command = command->name;
        if (command->passthrough) {
          inv.positional.assign(args.begin() + static_cast<long>(i) + 1, args.end());
          return inv;
        }
      } else {
        inv.positional.push_back(arg);
      }
      continue;
    }
    if (arg == "--") {
      flags_ended = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {  // help about the command named so far, if any
      inv.positional.clear();
      if (command != nullptr) inv.positional.push_back(command->name);
      inv.command = "help";
      return inv;
    }
    const bool is_short = arg[1] != '-';
    std::string name = arg.substr(is_short ? 1 : 2);
    std::optional<std::string> value;
    if (const size_t eq = name.find('='); !is_short && eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    } else if (is_short && name.size() > 1) {  // -ofile
      value = name.substr(1);
      name.resize(1);
    }
    const FlagSpec* spec = command == nullptr ? nullptr : FindFlag(command->flags, name, is_short);
    const bool global = spec == nullptr;
    if (global) spec = FindFlag(GlobalFlagSpecs(), name, is_short);
    if (spec == nullptr) {
      return UsageError(absl::StrCat(where, "unknown flag ", AsAbsl(arg)));
    }
    if (spec->takes_value && !value.has_value()) {
      if (i + 1 >= args.size()) {
        return UsageError(absl::StrCat(where, "--", spec->name, " needs a value"));
      }
      value = args[++i];
    } else if (!spec->takes_value && value.has_value()) {
      return UsageError(absl::StrCat(where, "--", spec->name, " takes no value"));
    }
    if (global) {
      if (absl::Status s = ApplyGlobal(*spec, value.value_or(""), &inv.global); !s.ok()) {
        return UsageError(absl::StrCat(where, s.message()));
      }
      continue;
    }
    std::vector<std::string>& values = inv.flags[spec->name];
    if (!spec->repeated && !values.empty()) {
      return UsageError(absl::StrCat(where, "--", spec->name, " given twice"));
    }
    values.push_back(value.value_or(""));
  }
  if (command == nullptr) {
    inv.command = "help";
    return inv;
  }
  if (inv.positional.size() < command->min_positional ||
      inv.positional.size() > command->max_positional) {
    return UsageError(absl::StrCat(command->name, ": usage: sematic ", command->usage));
  }
  return inv;
}

namespace {

// "--args JSON    the arguments ...": a valued flag's help starts with its placeholder.
std::string FlagHelpLine(const FlagSpec& flag) {
  std::string name = absl::StrCat("--", flag.name);
  if (flag.short_name != '\0')
    name = absl::StrCat("-", std::string(1, flag.short_name), ", ", name);
  std::string help = flag.help;
  if (const size_t gap = help.find("  "); flag.takes_value && gap != std::string::npos) {
    absl::StrAppend(&name, " ", help.substr(0, gap));
    help = help.substr(gap + 2);
  }
  return absl::StrFormat("  %-24s %s\n", name, help);
}

}  // namespace

std::string CommandHelp(const CommandSpec& command) {
  std::string out = absl::StrCat("usage: sematic ", command.usage, "\n\n", command.summary, "\n");
  if (!command.flags.empty()) {
    out += "\nflags:\n";
    for (const FlagSpec& flag : command.flags) out += FlagHelpLine(flag);
  }
  if (!command.passthrough) {
    out += "\nglobal flags:\n";
    for (const FlagSpec& flag : GlobalFlagSpecs()) out += FlagHelpLine(flag);
  }
  return out;
}

std::string HelpText(const std::vector<CommandSpec>& commands) {
  std::string out = "usage: sematic COMMAND [ARGS] [--scheduler HOST:PORT] [--json]\n\ncommands:\n";
  for (const CommandSpec& command : commands) {
    absl::StrAppendFormat(&out, "  %-11s %s\n", command.name, command.summary);
  }
  out += "\nglobal flags (any command):\n";
  for (const FlagSpec& flag : GlobalFlagSpecs()) out += FlagHelpLine(flag);
  out += "\nexit codes:\n";
  out += ExitCodeHelp();
  out += "\n`sematic help COMMAND` shows a command's flags.\n";
  return out;
}

absl::StatusOr<absl::Duration> ParseTimeout(std::string_view text) {
  absl::Duration d;
  double seconds = 0;
  if (absl::SimpleAtod(AsAbsl(text), &seconds)) {
    d = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(AsAbsl(text), &d)) {
    return UsageError(
        absl::StrCat("--timeout: expected a duration like 30s, got \"", AsAbsl(text), "\""));
  }
  if (d <= absl::ZeroDuration()) {
    return UsageError(absl::StrCat("--timeout: must be positive, got \"", AsAbsl(text), "\""));
  }
  return d;
}

}  // namespace sematic::cli
