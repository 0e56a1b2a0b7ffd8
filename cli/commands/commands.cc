#include "cli/commands/commands.h"

#include <map>
#include <string>

#include "absl/strings/str_cat.h"

namespace sematic::cli {

CommandResult RunCommand(const Invocation& inv, Client& client, Output output) {
  using Handler = CommandResult (*)(const Invocation&, Client&, Output);
  static const auto* handlers = new std::map<std::string, Handler>{
      {"submit", RunSubmit},   {"jobs", RunJobs},
      {"status", RunStatus},   {"watch", RunWatch},
      {"logs", RunLogs},       {"cancel", RunCancel},
      {"get", RunGet},         {"lineage", RunLineage},
      {"metrics", RunMetrics},
      {"workers", RunWorkers}, {"functions", RunFunctions},
  };
  auto it = handlers->find(inv.command);
  if (it == handlers->end()) {
    return UsageError(absl::StrCat("no client command \"", inv.command, "\""));
  }
  return it->second(inv, client, output);
}

}  // namespace sematic::cli
