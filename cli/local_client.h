// The Client over a Scheduler object in this process: the CLI reads an embedded engine's data
// directory (`sematic jobs --data-dir ./.sematic`) with no daemon, and the embedded engine
// drives its own scheduler through the same interface the cluster runner uses over gRPC.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Client> client, OpenLocalClient(".sematic"));
//   absl::StatusOr<v1::ListJobsResponse> jobs = client->ListJobs({});
//
// Calls block until the scheduler's loop answers (at most `timeout` for unary calls). Streams
// are read on the caller's thread: the scheduler's callbacks only queue messages, so a slow
// consumer never blocks the loop. Thread-safe.
#ifndef SEMATIC_CLI_LOCAL_CLIENT_H_
#define SEMATIC_CLI_LOCAL_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/client.h"
#include "scheduler/core/scheduler.h"

namespace sematic::cli {

// A Client over `scheduler`, which must outlive it.
std::unique_ptr<Client> MakeLocalClient(scheduler::Scheduler* scheduler,
                                        absl::Duration timeout = absl::Seconds(10));

// Opens the scheduler's store under `data_dir` and returns a Client owning it (shut down and
// closed when the client is destroyed). NOT_FOUND when `data_dir` holds no Sematic data;
// UNAVAILABLE, in one line, when another process (a pipeline still running, or a
// scheduler daemon) holds the store's lock.
absl::StatusOr<std::unique_ptr<Client>> OpenLocalClient(const std::string& data_dir,
                                                        absl::Duration timeout = absl::Seconds(10));

// The scheduler over `data_dir` itself (errors as OpenLocalClient's), for `sematic ui`.
absl::StatusOr<std::unique_ptr<scheduler::Scheduler>> OpenLocalScheduler(
    const std::string& data_dir);

// The same translation for a Scheduler::Create error on `data_dir`.
absl::Status DescribeOpenError(const absl::Status& status, const std::string& data_dir);

}  // namespace sematic::cli

#endif  // SEMATIC_CLI_LOCAL_CLIENT_H_
