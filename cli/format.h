// Small renderings shared by the commands: states, times, durations, sizes, JSON of messages.
#ifndef SEMATIC_CLI_FORMAT_H_
#define SEMATIC_CLI_FORMAT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"
#include "sematic/v1/job.pb.h"
#include "sematic/v1/run.pb.h"

namespace sematic::cli {

// "RUNNING", "SUCCEEDED", ... (JOB_ prefix dropped).
std::string JobStateName(v1::JobState state);
std::string RunStateName(v1::RunState state);
bool IsTerminal(v1::JobState state);

// "2026-11-27 03:25:10" in UTC; "-" for 0.
std::string FormatTime(int64_t unix_micros);
// "850ms", "3.2s", "4m05s", "2h03m"; "-" when negative.
std::string HumanDuration(absl::Duration d);
// The time from start to end, or to `now` while unfinished; "-" before it started.
std::string ElapsedText(int64_t start_micros, int64_t end_micros, absl::Time now);
// "512B", "1.5KiB", "3.0MiB", "2.0GiB".
std::string FormatBytes(uint64_t bytes);

// The protobuf JSON of `message` (JsonUtil, field names in lowerCamelCase, enums by name).
absl::StatusOr<std::string> ToJsonLine(const google::protobuf::Message& message);

// The same JSON as a google.protobuf.Value, to combine several messages into one document
// (e.g. {"job": ..., "runs": [...]}) that JsonUtil then prints.
absl::StatusOr<google::protobuf::Value> ToJsonValue(const google::protobuf::Message& message);

}  // namespace sematic::cli

#endif  // SEMATIC_CLI_FORMAT_H_
