// The root call of a pipeline as a job submission: the step's name and version, and its
// arguments as literal values in canonical form, with the payloads to upload before submitting
// (the scheduler refuses a value holding a payload of 1 MiB or more inline, and one referencing
// a payload it does not hold). SubmitJobRequest carries nothing else (no graph), so a root whose
// arguments are other calls' futures cannot be submitted as it stands; the error says how to
// make it one call (a nested step doing the composition).
//
//   ASSIGN_OR_RETURN(RootSubmission root, SubmitRequestFor(*output));
//   for (const Payload& p : root.payloads) RETURN_IF_ERROR(artifacts.UploadPayload(p.digest, p.bytes));
//   ASSIGN_OR_RETURN(v1::SubmitJobResponse job, client.SubmitJob(root.request));
#ifndef SEMATIC_ENGINE_ROOT_CALL_H_
#define SEMATIC_ENGINE_ROOT_CALL_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "sematic/future.h"
#include "sematic/payload.h"
#include "sematic/v1/job.pb.h"

namespace sematic::engine {

struct RootSubmission {
  v1::SubmitJobRequest request;  // payloads of kPayloadThresholdBytes and more as PayloadRefs
  std::vector<Payload> payloads;  // the bytes of those refs, one per distinct digest
};

// INVALID_ARGUMENT when `root` is not a call of a registered step, or an argument is not a
// literal (the message names the argument and the call producing it); the node's own error
// (FAILED_PRECONDITION naming the function) when it calls a function without SEMATIC_FUNC.
absl::StatusOr<RootSubmission> SubmitRequestFor(const internal::Node& root);

}  // namespace sematic::engine

#endif  // SEMATIC_ENGINE_ROOT_CALL_H_
