// sematic logs RUN [-f] [--from N], sematic metrics RUN [--name M] [--points]
#include <algorithm>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/commands/commands.h"
#include "cli/format.h"
#include "cli/table.h"
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

// A run's metrics: a summary row per series, or every point.
CommandResult RunMetrics(const Invocation& inv, Client& client, Output output) {
  v1::GetRunMetricsRequest request;
  request.set_run_id(inv.positional[0]);
  request.set_name(inv.Value("name"));
  ASSIGN_OR_RETURN(v1::GetRunMetricsResponse response, client.GetRunMetrics(request));
  if (inv.global.json) {
    ASSIGN_OR_RETURN(std::string json, ToJsonLine(response));
    output.out << json << "\n";
    return ExitCode::kOk;
  }
  if (response.points().empty()) {
    output.out << "no metrics logged by " << request.run_id()
               << (request.name().empty() ? "" : absl::StrCat(" called ", request.name()))
               << "\n";
    return ExitCode::kOk;
  }
  if (inv.Has("points")) {
    Table points({"NAME", "STEP", "VALUE", "TIME"});
    for (const v1::MetricPoint& p : response.points()) {
      points.AddRow({p.name(), absl::StrCat(p.step()), absl::StrCat(p.value()),
                     FormatTime(p.unix_micros())});
    }
    points.Print(output.out);
    return ExitCode::kOk;
  }
  // One row per series, in the order each was first logged.
  struct Series {
    int64_t points = 0;
    int64_t last_step = 0;
    double last = 0, min = 0, max = 0;
  };
  std::vector<std::string> order;
  absl::flat_hash_map<std::string, Series> series;
  for (const v1::MetricPoint& p : response.points()) {
    auto [it, added] = series.try_emplace(p.name());
    Series& s = it->second;
    if (added) {
      order.push_back(p.name());
      s.min = s.max = p.value();
    }
    ++s.points;
    s.last_step = p.step();
    s.last = p.value();
    s.min = std::min(s.min, p.value());
    s.max = std::max(s.max, p.value());
  }
  Table table({"NAME", "POINTS", "LAST STEP", "LAST", "MIN", "MAX"});
  for (const std::string& name : order) {
    const Series& s = series[name];
    table.AddRow({name, absl::StrCat(s.points), absl::StrCat(s.last_step), absl::StrCat(s.last),
                  absl::StrCat(s.min), absl::StrCat(s.max)});
  }
  table.Print(output.out);
  return ExitCode::kOk;
}

}  // namespace sematic::cli
