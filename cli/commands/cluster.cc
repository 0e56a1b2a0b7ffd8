// sematic workers, sematic functions: what the cluster offers.
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/commands/commands.h"
#include "cli/format.h"
#include "cli/table.h"
#include "cli/typed_args.h"
#include "common/status_macros.h"

namespace sematic::cli {
namespace {

// Proto maps iterate in no fixed order: sort for stable output.
std::string LabelsText(const google::protobuf::Map<std::string, std::string>& labels) {
  std::map<std::string, std::string> sorted(labels.begin(), labels.end());
  return sorted.empty() ? "-" : absl::StrJoin(sorted, ",", absl::PairFormatter("="));
}

std::string Used(double in_use, double total) { return absl::StrCat(in_use, "/", total); }

std::string OptionsText(const v1::FunctionSignature& f) {
  std::vector<std::string> options;
  if (f.nested()) options.push_back("nested");
  if (f.cpus() > 0) options.push_back(absl::StrCat("cpus=", f.cpus()));
  if (f.gpus() > 0) options.push_back(absl::StrCat("gpus=", f.gpus()));
  if (f.memory_bytes() > 0) {
    options.push_back(
        absl::StrCat("memory=", FormatBytes(static_cast<uint64_t>(f.memory_bytes()))));
  }
  std::map<std::string, double> resources(f.resources().begin(), f.resources().end());
  for (const auto& [name, amount] : resources) options.push_back(absl::StrCat(name, "=", amount));
  if (f.max_retries() > 0) options.push_back(absl::StrCat("retries=", f.max_retries()));
  if (f.timeout_millis() > 0) {
    options.push_back(
        absl::StrCat("timeout=", HumanDuration(absl::Milliseconds(f.timeout_millis()))));
  }
  if (f.cache()) options.push_back("cache");
  if (!f.labels().empty()) options.push_back(absl::StrCat("labels=", LabelsText(f.labels())));
  return options.empty() ? "-" : absl::StrJoin(options, " ");
}

}  // namespace

CommandResult RunWorkers(const Invocation& inv, Client& client, Output output) {
  ASSIGN_OR_RETURN(v1::ListWorkersResponse response, client.ListWorkers());
  if (inv.global.json) {
    ASSIGN_OR_RETURN(std::string json, ToJsonLine(response));
    output.out << json << "\n";
    return ExitCode::kOk;
  }
  if (response.workers().empty()) {
    output.out << "no workers connected\n";
    return ExitCode::kOk;
  }
  const absl::Time now = absl::Now();
  Table table({"WORKER", "PEER", "RUNS", "CPUS", "GPUS", "MEMORY", "FUNCTIONS", "HEARTBEAT",
               "LABELS", "STATE"});
  for (const v1::WorkerInfo& w : response.workers()) {
    const std::string heartbeat =
        w.last_heartbeat_unix_micros() > 0
            ? HumanDuration(now - absl::FromUnixMicros(w.last_heartbeat_unix_micros())) + " ago"
            : "-";
    table.AddRow({w.worker_id(), w.peer(), absl::StrCat(w.running(), "/", w.max_concurrent_runs()),
                  Used(w.in_use().cpus(), w.resources().cpus()),
                  Used(w.in_use().gpus(), w.resources().gpus()),
                  absl::StrCat(FormatBytes(static_cast<uint64_t>(w.in_use().memory_bytes())), "/",
                               FormatBytes(static_cast<uint64_t>(w.resources().memory_bytes()))),
                  absl::StrCat(w.functions_size()), heartbeat, LabelsText(w.labels()),
                  w.draining() ? "draining" : "ready"});
  }
  table.Print(output.out);
  return ExitCode::kOk;
}

CommandResult RunFunctions(const Invocation& inv, Client& client, Output output) {
  ASSIGN_OR_RETURN(v1::ListFunctionsResponse response, client.ListFunctions());
  if (inv.global.json) {
    ASSIGN_OR_RETURN(std::string json, ToJsonLine(response));
    output.out << json << "\n";
    return ExitCode::kOk;
  }
  if (response.functions().empty()) {
    output.out << "no functions: no live worker is connected\n";
    return ExitCode::kOk;
  }
  std::vector<const v1::FunctionSignature*> sorted;
  for (const v1::FunctionSignature& f : response.functions()) sorted.push_back(&f);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) {
    return std::tie(a->name(), a->version()) < std::tie(b->name(), b->version());
  });
  Table table({"FUNCTION", "VERSION", "SIGNATURE", "OPTIONS"});
  for (const v1::FunctionSignature* f : sorted) {
    table.AddRow(
        {f->name(), f->version().empty() ? "-" : f->version(), SignatureText(*f), OptionsText(*f)});
  }
  table.Print(output.out);
  return ExitCode::kOk;
}

}  // namespace sematic::cli
