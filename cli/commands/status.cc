// sematic status JOB: the job, then its runs as a tree (nesting by parent_id).
#include <map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/commands/commands.h"
#include "cli/format.h"
#include "cli/table.h"
#include "common/status_macros.h"

namespace sematic::cli {
namespace {

constexpr int kRunsPerPage = 1000;

absl::StatusOr<std::vector<v1::Run>> AllRuns(Client& client, const std::string& job_id) {
  std::vector<v1::Run> runs;
  v1::ListRunsRequest request;
  request.set_job_id(job_id);
  request.set_page_size(kRunsPerPage);
  while (true) {
    ASSIGN_OR_RETURN(v1::ListRunsResponse page, client.ListRuns(request));
    for (v1::Run& run : *page.mutable_runs()) runs.push_back(std::move(run));
    if (page.next_page_token().empty()) return runs;
    request.set_page_token(page.next_page_token());
  }
}

// Adds `run` and its descendants depth-first, children in creation order, drawn as a tree.
void AddSubtree(const v1::Run& run, const std::string& indent, bool last, bool root,
                const absl::flat_hash_map<std::string, std::vector<const v1::Run*>>& children,
                absl::Time now, Table& table) {
  const std::string branch = root ? "" : (last ? "└─ " : "├─ ");
  // The label names the call ("Train (call #3 in Sweep)"); built-ins have none.
  const std::string& name = run.label().empty() ? run.function() : run.label();
  table.AddRow({indent + branch + name, run.id(), RunStateName(run.state()),
                run.attempt() > 0 ? absl::StrCat(run.attempt()) : "-",
                run.worker_id().empty() ? "-" : run.worker_id(),
                ElapsedText(run.started_unix_micros(), run.ended_unix_micros(), now), run.error()});
  auto it = children.find(run.id());
  if (it == children.end()) return;
  const std::string child_indent = root ? "" : indent + (last ? "   " : "│  ");
  for (size_t i = 0; i < it->second.size(); ++i) {
    AddSubtree(*it->second[i], child_indent, i + 1 == it->second.size(), false, children, now,
               table);
  }
}

}  // namespace

CommandResult RunStatus(const Invocation& inv, Client& client, Output output) {
  absl::StatusOr<v1::Job> found = client.GetJob(inv.positional[0]);
  if (!found.ok()) return NotFoundAs(found.status(), absl::StrCat("job ", inv.positional[0]));
  const v1::Job& job = *found;
  ASSIGN_OR_RETURN(std::vector<v1::Run> runs, AllRuns(client, job.id()));

  if (inv.global.json) {
    google::protobuf::Value document;
    auto& fields = *document.mutable_struct_value()->mutable_fields();
    ASSIGN_OR_RETURN(fields["job"], ToJsonValue(job));
    auto* list = fields["runs"].mutable_list_value();
    for (const v1::Run& run : runs) {
      ASSIGN_OR_RETURN(*list->add_values(), ToJsonValue(run));
    }
    ASSIGN_OR_RETURN(std::string json, ToJsonLine(document));
    output.out << json << "\n";
    return ExitCode::kOk;
  }

  const absl::Time now = absl::Now();
  output.out << "job       " << job.id() << "\n"
             << "function  " << job.function() << (job.version().empty() ? "" : "@" + job.version())
             << "\n"
             << "state     " << JobStateName(job.state()) << "\n"
             << "created   " << FormatTime(job.created_unix_micros()) << "\n"
             << "duration  " << ElapsedText(job.created_unix_micros(), job.ended_unix_micros(), now)
             << "\n";
  if (!job.options().tags().empty()) {
    output.out << "tags      " << absl::StrJoin(job.options().tags(), ", ") << "\n";
  }
  if (!job.output_digest().empty()) output.out << "output    " << job.output_digest() << "\n";
  if (!job.error().empty()) output.out << "error     " << job.error() << "\n";
  output.out << "\n";

  absl::flat_hash_set<std::string> ids;
  for (const v1::Run& run : runs) ids.insert(run.id());
  absl::flat_hash_map<std::string, std::vector<const v1::Run*>> children;
  std::vector<const v1::Run*> roots;
  for (const v1::Run& run : runs) {
    // A run whose parent is not in the listing (should not happen) is shown at the top rather
    // than lost.
    if (run.parent_id().empty() || !ids.contains(run.parent_id())) {
      roots.push_back(&run);
    } else {
      children[run.parent_id()].push_back(&run);
    }
  }
  Table table({"RUN", "ID", "STATE", "ATTEMPT", "WORKER", "DURATION", "ERROR"});
  for (const v1::Run* root : roots) AddSubtree(*root, "", true, true, children, now, table);
  if (table.rows() == 0) {
    output.out << "no runs yet\n";
  } else {
    table.Print(output.out);
  }
  return ExitCode::kOk;
}

}  // namespace sematic::cli
