// What the commands need from the scheduler, one method per RPC, with absl::Status errors.
// Commands take a Client& so they run against the real scheduler (grpc_client.h) or against a
// fake with canned responses in unit tests.
//
//   std::unique_ptr<Client> client = MakeGrpcClient({.address = "127.0.0.1:7070"});
//   absl::StatusOr<v1::Job> job = client->GetJob("j0123");
//
// Errors carry the scheduler's codes (job.proto documents them); a transport failure is
// UNAVAILABLE / DEADLINE_EXCEEDED with a message naming the address.
#ifndef SEMATIC_CLI_CLIENT_H_
#define SEMATIC_CLI_CLIENT_H_

#include <functional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sematic/v1/admin_service.pb.h"
#include "sematic/v1/artifact_service.pb.h"
#include "sematic/v1/job.pb.h"
#include "sematic/v1/run_service.pb.h"

namespace sematic::cli {

// Called for each message of a server stream; return false to stop reading (the call then
// ends OK).
template <typename T>
using StreamCallback = std::function<bool(const T&)>;

class Client {
 public:
  virtual ~Client() = default;

  virtual absl::StatusOr<v1::SubmitJobResponse> SubmitJob(const v1::SubmitJobRequest& request) = 0;
  virtual absl::StatusOr<v1::Job> GetJob(std::string_view job_id) = 0;
  virtual absl::StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& request) = 0;
  virtual absl::StatusOr<v1::CancelJobResponse> CancelJob(std::string_view job_id) = 0;
  // Streams events until the job ends, the callback returns false, or an error.
  virtual absl::Status WatchJob(const v1::WatchJobRequest& request,
                                const StreamCallback<v1::JobEvent>& on_event) = 0;

  virtual absl::StatusOr<v1::Run> GetRun(std::string_view run_id) = 0;
  virtual absl::StatusOr<v1::ListRunsResponse> ListRuns(const v1::ListRunsRequest& request) = 0;
  virtual absl::Status GetRunLogs(const v1::GetRunLogsRequest& request,
                                  const StreamCallback<v1::LogLines>& on_lines) = 0;
  virtual absl::StatusOr<v1::GetLineageResponse> GetLineage(
      const v1::GetLineageRequest& request) = 0;
  virtual absl::StatusOr<v1::GetRunMetricsResponse> GetRunMetrics(
      const v1::GetRunMetricsRequest& request) = 0;

  virtual absl::StatusOr<v1::GetArtifactResponse> GetArtifact(
      const v1::GetArtifactRequest& request) = 0;
  virtual absl::Status Download(const v1::DownloadRequest& request,
                                const StreamCallback<v1::DownloadChunk>& on_chunk) = 0;

  virtual absl::StatusOr<v1::ListWorkersResponse> ListWorkers() = 0;
  virtual absl::StatusOr<v1::ListFunctionsResponse> ListFunctions() = 0;
};

}  // namespace sematic::cli

#endif  // SEMATIC_CLI_CLIENT_H_
