// sematic jobs [--state S]... [--tag K=V] [--function F] [--limit N] [--page-token T] [--all]
// sematic cancel JOB
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/commands/commands.h"
#include "cli/format.h"
#include "cli/table.h"
#include "common/status_macros.h"

namespace sematic::cli {
namespace {

// "running", "RUNNING" and "JOB_RUNNING" all name JOB_RUNNING; "cancelled" is accepted too.
absl::StatusOr<v1::JobState> ParseJobState(const std::string& text) {
  std::string name = absl::AsciiStrToUpper(text);
  if (name == "CANCELLED") name = "CANCELED";
  if (name.rfind("JOB_", 0) != 0) name = "JOB_" + name;
  v1::JobState state;
  if (!v1::JobState_Parse(name, &state) || state == v1::JOB_STATE_UNSPECIFIED) {
    return UsageError(
        absl::StrCat("jobs: --state: expected pending, running, succeeded, failed "
                     "or canceled, got \"",
                     text, "\""));
  }
  return state;
}

int64_t RunsIn(const v1::Job& job, v1::RunState state) {
  return state < job.runs_by_state_size() ? job.runs_by_state(state) : 0;
}

std::string ProgressText(const v1::Job& job) {
  int64_t total = 0;
  for (int64_t n : job.runs_by_state()) total += n;
  if (total == 0) return "-";
  return absl::StrCat(RunsIn(job, v1::SUCCEEDED), "/", total);
}

}  // namespace

CommandResult RunJobs(const Invocation& inv, Client& client, Output output) {
  v1::ListJobsRequest request;
  for (const std::string& value : inv.Values("state")) {
    for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipEmpty())) {
      ASSIGN_OR_RETURN(v1::JobState state, ParseJobState(std::string(part)));
      request.add_states(state);
    }
  }
  request.set_tag(inv.Value("tag"));
  request.set_function(inv.Value("function"));
  request.set_page_token(inv.Value("page-token"));
  if (inv.Has("limit")) {
    int32_t limit = 0;
    if (!absl::SimpleAtoi(inv.Value("limit"), &limit) || limit <= 0) {
      return UsageError(absl::StrCat("jobs: --limit: expected a positive integer, got \"",
                                     inv.Value("limit"), "\""));
    }
    request.set_page_size(limit);
  }

  v1::ListJobsResponse all;
  while (true) {
    ASSIGN_OR_RETURN(v1::ListJobsResponse page, client.ListJobs(request));
    for (v1::Job& job : *page.mutable_jobs()) *all.add_jobs() = std::move(job);
    all.set_next_page_token(page.next_page_token());
    if (!inv.Has("all") || page.next_page_token().empty()) break;
    request.set_page_token(page.next_page_token());
  }

  if (inv.global.json) {
    ASSIGN_OR_RETURN(std::string json, ToJsonLine(all));
    output.out << json << "\n";
    return ExitCode::kOk;
  }
  const absl::Time now = absl::Now();
  Table table({"JOB", "FUNCTION", "STATE", "DONE", "CREATED", "DURATION", "TAGS"});
  for (const v1::Job& job : all.jobs()) {
    table.AddRow({job.id(), job.function(), JobStateName(job.state()), ProgressText(job),
                  FormatTime(job.created_unix_micros()),
                  ElapsedText(job.created_unix_micros(), job.ended_unix_micros(), now),
                  absl::StrJoin(job.options().tags(), ",")});
  }
  if (table.rows() == 0) {
    output.out << "no jobs\n";
  } else {
    table.Print(output.out);
  }
  if (!all.next_page_token().empty()) {
    output.out << "more: sematic jobs --page-token " << all.next_page_token() << "\n";
  }
  return ExitCode::kOk;
}

CommandResult RunCancel(const Invocation& inv, Client& client, Output output) {
  absl::StatusOr<v1::CancelJobResponse> cancelled = client.CancelJob(inv.positional[0]);
  if (!cancelled.ok()) {
    return NotFoundAs(cancelled.status(), absl::StrCat("job ", inv.positional[0]));
  }
  const v1::CancelJobResponse& response = *cancelled;
  if (inv.global.json) {
    ASSIGN_OR_RETURN(std::string json, ToJsonLine(response));
    output.out << json << "\n";
  } else {
    output.out << "cancelled " << response.job().id() << " ("
               << JobStateName(response.job().state()) << ")\n";
  }
  return ExitCode::kOk;
}

}  // namespace sematic::cli
