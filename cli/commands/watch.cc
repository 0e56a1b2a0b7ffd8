// sematic watch JOB: live progress until the job ends; the exit code is the job's outcome.
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cli/commands/commands.h"
#include "cli/format.h"
#include "cli/progress.h"
#include "common/status_macros.h"

namespace sematic::cli {
namespace {

// A stream that ends cleanly before the job does (the scheduler restarted or drained) is
// resumed from the last event seen; this bounds how often in a row.
constexpr int kMaxResumes = 20;

}  // namespace

CommandResult RunWatch(const Invocation& inv, Client& client, Output output) {
  absl::StatusOr<v1::Job> found = client.GetJob(inv.positional[0]);
  if (!found.ok()) return NotFoundAs(found.status(), absl::StrCat("job ", inv.positional[0]));
  const v1::Job& job = *found;
  const absl::Time started =
      job.created_unix_micros() > 0 ? absl::FromUnixMicros(job.created_unix_micros()) : absl::Now();
  JobProgress progress(started);
  v1::JobEvent seed;
  *seed.mutable_job() = job;
  progress.Apply(seed);

  // Plain output prints a line only when the counts or the job's state change.
  std::optional<std::pair<ProgressCounts, v1::JobState>> printed;
  auto render = [&](const v1::JobEvent& event) -> absl::Status {
    if (inv.global.json) {
      ASSIGN_OR_RETURN(std::string json, ToJsonLine(event));
      output.out << json << "\n";
      output.out.flush();
      return absl::OkStatus();
    }
    if (output.tty) {
      output.out << "\r\033[K" << progress.Line(absl::Now());
      output.out.flush();
      return absl::OkStatus();
    }
    auto current = std::make_pair(progress.counts(), progress.job()->state());
    if (printed != current) {
      output.out << progress.Line(absl::Now()) << "\n";
      output.out.flush();
      printed = current;
    }
    return absl::OkStatus();
  };

  // Always read the stream, even for a job that already ended: its events are replayed up to
  // the job's final one, so the counts (or the JSON lines) are complete.
  absl::Status render_error;
  bool ended = false;
  for (int resumes = 0; !ended; ++resumes) {
    if (resumes > kMaxResumes) {
      return absl::UnavailableError(
          absl::StrCat("the event stream of ", job.id(), " keeps ending before the job does"));
    }
    v1::WatchJobRequest request;
    request.set_job_id(job.id());
    request.set_after_sequence(progress.last_sequence());
    RETURN_IF_ERROR(client.WatchJob(request, [&](const v1::JobEvent& event) {
      progress.Apply(event);
      render_error = render(event);
      ended = event.has_job() && IsTerminal(event.job().state());
      return render_error.ok() && !ended;
    }));
    RETURN_IF_ERROR(render_error);
    if (!ended) {
      // The stream ended without the job's final event: ask for the job itself.
      absl::StatusOr<v1::Job> now = client.GetJob(job.id());
      if (!now.ok()) return NotFoundAs(now.status(), absl::StrCat("job ", job.id()));
      ended = IsTerminal(now->state());
      v1::JobEvent update;
      *update.mutable_job() = *std::move(now);
      progress.Apply(update);
    }
  }

  const v1::Job& final_job = *progress.job();
  if (!inv.global.json) {
    if (output.tty) output.out << "\r\033[K" << progress.Line(absl::Now()) << "\n";
    output.out << final_job.id() << " " << JobStateName(final_job.state());
    if (final_job.ended_unix_micros() > 0) {
      output.out << " in "
                 << ElapsedText(final_job.created_unix_micros(), final_job.ended_unix_micros(),
                                absl::Now());
    }
    if (!final_job.error().empty()) output.out << ": " << final_job.error();
    output.out << "\n";
  }
  return final_job.state() == v1::JOB_SUCCEEDED ? ExitCode::kOk : ExitCode::kJobFailed;
}

}  // namespace sematic::cli
