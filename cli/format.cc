#include "cli/format.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"

namespace sematic::cli {

std::string JobStateName(v1::JobState state) {
  std::string name = v1::JobState_Name(state);
  absl::string_view view(name);
  absl::ConsumePrefix(&view, "JOB_");
  return std::string(view);
}

std::string RunStateName(v1::RunState state) { return v1::RunState_Name(state); }

bool IsTerminal(v1::JobState state) {
  return state == v1::JOB_SUCCEEDED || state == v1::JOB_FAILED || state == v1::JOB_CANCELED;
}

std::string FormatTime(int64_t unix_micros) {
  if (unix_micros <= 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMicros(unix_micros),
                          absl::UTCTimeZone());
}

std::string HumanDuration(absl::Duration d) {
  if (d < absl::ZeroDuration()) return "-";
  const int64_t ms = absl::ToInt64Milliseconds(d);
  if (ms < 1000) return absl::StrFormat("%dms", ms);
  if (ms < 60'000) return absl::StrFormat("%.1fs", static_cast<double>(ms) / 1000);
  const int64_t s = ms / 1000;
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
}

std::string ElapsedText(int64_t start_micros, int64_t end_micros, absl::Time now) {
  if (start_micros <= 0) return "-";
  const absl::Time end = end_micros > 0 ? absl::FromUnixMicros(end_micros) : now;
  return HumanDuration(end - absl::FromUnixMicros(start_micros));
}

std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1024) return absl::StrFormat("%dB", bytes);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (value >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f%s", value, units[unit]);
}

absl::StatusOr<std::string> ToJsonLine(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = false;
  const auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot render ", message.GetTypeName(), " as JSON: ", status.ToString()));
  }
  return json;
}

absl::StatusOr<google::protobuf::Value> ToJsonValue(const google::protobuf::Message& message) {
  absl::StatusOr<std::string> json = ToJsonLine(message);
  if (!json.ok()) return json.status();
  google::protobuf::Value value;
  const auto status = google::protobuf::util::JsonStringToMessage(*json, &value);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot re-read ", message.GetTypeName(), " JSON: ", status.ToString()));
  }
  return value;
}

}  // namespace sematic::cli
