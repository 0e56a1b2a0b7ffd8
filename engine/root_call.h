// The root call of a pipeline as a job submission: the step's name and version, and its
// arguments as literal values. SubmitJobRequest carries nothing else (no graph), so a root whose
// arguments are other calls' futures cannot be submitted as it stands; the error says how to
// make it one call (a nested step doing the composition).
#ifndef SEMATIC_ENGINE_ROOT_CALL_H_
#define SEMATIC_ENGINE_ROOT_CALL_H_

#include <memory>

#include "absl/status/statusor.h"
#include "sematic/future.h"
#include "sematic/v1/job.pb.h"

namespace sematic::engine {

// INVALID_ARGUMENT when `root` is not a call of a registered step, or an argument is not a
// literal (the message names the argument and the call producing it); the node's own error
// (FAILED_PRECONDITION naming the function) when it calls a function without SEMATIC_FUNC.
absl::StatusOr<v1::SubmitJobRequest> SubmitRequestFor(const internal::Node& root);

}  // namespace sematic::engine

#endif  // SEMATIC_ENGINE_ROOT_CALL_H_
