// sematic logs RUN [-f] [--from N]
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/commands/commands.h"
#include "cli/format.h"
#include "common/status_macros.h"

namespace sematic::cli {

CommandResult RunLogs(const Invocation& inv, Client& client, Output output) {
  v1::GetRunLogsRequest request;
  request.set_run_id(inv.positional[0]);
  request.set_follow(inv.Has("follow"));
  if (inv.Has("from")) {
    uint64_t from = 0;
    if (!absl::SimpleAtoi(inv.Value("from"), &from)) {
      return UsageError(
          absl::StrCat("logs: --from: expected a line number, got \"", inv.Value("from"), "\""));
    }
    request.set_from_index(from);
  }
  absl::Status render_error;
  RETURN_IF_ERROR(client.GetRunLogs(request, [&](const v1::LogLines& lines) {
    if (inv.global.json) {
      absl::StatusOr<std::string> json = ToJsonLine(lines);
      if (!json.ok()) {
        render_error = json.status();
        return false;
      }
      output.out << *json << "\n";
    } else {
      for (const v1::LogEntry& entry : lines.entries()) {
        output.out << FormatTime(entry.unix_micros()) << "  " << entry.text();
        if (entry.text().empty() || entry.text().back() != '\n') output.out << "\n";
      }
    }
    output.out.flush();  // a follower sees each batch as it arrives
    return true;
  }));
  RETURN_IF_ERROR(render_error);
  return ExitCode::kOk;
}

}  // namespace sematic::cli
