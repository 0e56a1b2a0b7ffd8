// Validation of client requests, separate from the scheduler's state so it is testable alone.
#ifndef SEMATIC_SCHEDULER_CORE_REQUESTS_H_
#define SEMATIC_SCHEDULER_CORE_REQUESTS_H_

#include <functional>
#include <string>
#include <string_view>

#include "google/protobuf/repeated_field.h"

#include "absl/status/statusor.h"
#include "scheduler/core/scheduler.h"
#include "sematic/payload.h"
#include "sematic/v1/graph.pb.h"
#include "sematic/v1/job.pb.h"
#include "sematic/v1/worker_service.pb.h"

namespace sematic::scheduler {

// The root call of a job: `request`'s function and args checked against `signature` (every
// parameter given exactly once, by name; values of the parameter's type; artifacts whose type,
// per `artifact_type`, is the parameter's; every payload a value references stored, per
// `payload_size`). INVALID_ARGUMENT naming the field ("args[1] (epochs): expected int32, got
// string"), NOT_FOUND for an unknown artifact, FAILED_PRECONDITION naming the field and digest
// of a payload never uploaded ("args[0].value: payload 3fa9... (2097152 bytes) was never
// uploaded; ...").
using ArtifactTypeLookup =
    std::function<absl::StatusOr<v1::TypeDesc>(std::string_view digest)>;  // NOT_FOUND: unknown
absl::StatusOr<v1::CallNode> RootCall(const v1::SubmitJobRequest& request,
                                      const v1::FunctionSignature& signature,
                                      const Limits& limits,
                                      const ArtifactTypeLookup& artifact_type,
                                      const PayloadSizeLookup& payload_size);

// Checks the fields of a SubmitJobRequest that do not need a signature (lengths, counts, enum
// values, values in canonical form: no payload of kPayloadThresholdBytes or more inline,
// INVALID_ARGUMENT "args[0].value: a BLOB of 2097152 bytes inline; ...").
absl::Status CheckSubmitShape(const v1::SubmitJobRequest& request, const Limits& limits);

// What an idempotent retry must repeat: SHA-256 (hex) of the request's deterministic
// serialization. Two submissions with one key and different digests are different requests.
std::string SubmitRequestDigest(const v1::SubmitJobRequest& request);

// `states` filters of ListJobs / ListRuns: INVALID_ARGUMENT naming `states[i]` for a number that
// is not a state.
absl::Status CheckJobStates(const google::protobuf::RepeatedField<int>& states);
absl::Status CheckRunStates(const google::protobuf::RepeatedField<int>& states);

// Page tokens, as returned in next_page_token. ListJobs: the id of the last job listed (jobs
// before it come next). ListRuns: the id of the last run listed, which must belong to `job_id`.
// INVALID_ARGUMENT naming `page_token` otherwise.
absl::StatusOr<uint64_t> ParseJobsPageToken(std::string_view token);
absl::StatusOr<uint64_t> ParseRunsPageToken(std::string_view token, uint64_t job_id);

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_CORE_REQUESTS_H_
