#include "cli/grpc_client.h"

#include <chrono>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "grpcpp/grpcpp.h"
#include "sematic/v1/admin_service.grpc.pb.h"
#include "sematic/v1/artifact_service.grpc.pb.h"
#include "sematic/v1/job.grpc.pb.h"
#include "sematic/v1/run_service.grpc.pb.h"

namespace sematic::cli {
namespace {

// Why the transport failed, in a few words, or "" when the failure came from the scheduler.
std::string TransportReason(const grpc::Status& status) {
  const std::string message = absl::AsciiStrToLower(status.error_message());
  if (absl::StrContains(message, "connection refused")) return "connection refused";
  if (absl::StrContains(message, "dns resolution failed") ||
      absl::StrContains(message, "name or service not known")) {
    return "cannot resolve the host";
  }
  if (absl::StrContains(message, "connection reset")) return "connection reset";
  if (absl::StrContains(message, "socket closed") || absl::StrContains(message, "broken pipe")) {
    return "connection closed";
  }
  if (absl::StrContains(message, "failed to connect") ||
      absl::StrContains(message, "connect failed")) {
    return "cannot connect";
  }
  return "";
}

class GrpcClient final : public Client {
 public:
  explicit GrpcClient(GrpcClientOptions options)
      : options_(std::move(options)),
        channel_(grpc::CreateChannel(options_.address, grpc::InsecureChannelCredentials())),
        jobs_(v1::JobService::NewStub(channel_)),
        runs_(v1::RunService::NewStub(channel_)),
        artifacts_(v1::ArtifactService::NewStub(channel_)),
        admin_(v1::AdminService::NewStub(channel_)) {}

  absl::StatusOr<v1::SubmitJobResponse> SubmitJob(const v1::SubmitJobRequest& request) override {
    return Unary<v1::SubmitJobResponse>(
        "JobService.SubmitJob",
        [&](grpc::ClientContext* c, auto* out) { return jobs_->SubmitJob(c, request, out); });
  }

  absl::StatusOr<v1::Job> GetJob(std::string_view job_id) override {
    v1::GetJobRequest request;
    request.set_job_id(std::string(job_id));
    return Unary<v1::Job>("JobService.GetJob", [&](grpc::ClientContext* c, auto* out) {
      return jobs_->GetJob(c, request, out);
    });
  }

  absl::StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& request) override {
    return Unary<v1::ListJobsResponse>(
        "JobService.ListJobs",
        [&](grpc::ClientContext* c, auto* out) { return jobs_->ListJobs(c, request, out); });
  }

  absl::StatusOr<v1::CancelJobResponse> CancelJob(std::string_view job_id) override {
    v1::CancelJobRequest request;
    request.set_job_id(std::string(job_id));
    return Unary<v1::CancelJobResponse>(
        "JobService.CancelJob",
        [&](grpc::ClientContext* c, auto* out) { return jobs_->CancelJob(c, request, out); });
  }

  absl::Status WatchJob(const v1::WatchJobRequest& request,
                        const StreamCallback<v1::JobEvent>& on_event) override {
    return Stream<v1::JobEvent>("JobService.WatchJob", on_event, [&](grpc::ClientContext* c) {
      return jobs_->WatchJob(c, request);
    });
  }

  absl::StatusOr<v1::Run> GetRun(std::string_view run_id) override {
    v1::GetRunRequest request;
    request.set_run_id(std::string(run_id));
    return Unary<v1::Run>("RunService.GetRun", [&](grpc::ClientContext* c, auto* out) {
      return runs_->GetRun(c, request, out);
    });
  }

  absl::StatusOr<v1::ListRunsResponse> ListRuns(const v1::ListRunsRequest& request) override {
    return Unary<v1::ListRunsResponse>(
        "RunService.ListRuns",
        [&](grpc::ClientContext* c, auto* out) { return runs_->ListRuns(c, request, out); });
  }

  absl::Status GetRunLogs(const v1::GetRunLogsRequest& request,
                          const StreamCallback<v1::LogLines>& on_lines) override {
    return Stream<v1::LogLines>("RunService.GetRunLogs", on_lines, [&](grpc::ClientContext* c) {
      return runs_->GetRunLogs(c, request);
    });
  }

  absl::StatusOr<v1::GetRunMetricsResponse> GetRunMetrics(
      const v1::GetRunMetricsRequest& request) override {
    return Unary<v1::GetRunMetricsResponse>(
        "RunService.GetRunMetrics",
        [&](grpc::ClientContext* c, auto* out) { return runs_->GetRunMetrics(c, request, out); });
  }

  absl::StatusOr<v1::GetLineageResponse> GetLineage(const v1::GetLineageRequest& request) override {
    return Unary<v1::GetLineageResponse>(
        "RunService.GetLineage",
        [&](grpc::ClientContext* c, auto* out) { return runs_->GetLineage(c, request, out); });
  }

  absl::StatusOr<v1::GetArtifactResponse> GetArtifact(
      const v1::GetArtifactRequest& request) override {
    return Unary<v1::GetArtifactResponse>("ArtifactService.GetArtifact",
                                          [&](grpc::ClientContext* c, auto* out) {
                                            return artifacts_->GetArtifact(c, request, out);
                                          });
  }

  absl::Status Download(const v1::DownloadRequest& request,
                        const StreamCallback<v1::DownloadChunk>& on_chunk) override {
    return Stream<v1::DownloadChunk>(
        "ArtifactService.Download", on_chunk,
        [&](grpc::ClientContext* c) { return artifacts_->Download(c, request); });
  }

  absl::StatusOr<v1::ListWorkersResponse> ListWorkers() override {
    return Unary<v1::ListWorkersResponse>(
        "AdminService.ListWorkers", [&](grpc::ClientContext* c, auto* out) {
          return admin_->ListWorkers(c, v1::ListWorkersRequest(), out);
        });
  }

  absl::StatusOr<v1::ListFunctionsResponse> ListFunctions() override {
    return Unary<v1::ListFunctionsResponse>(
        "AdminService.ListFunctions", [&](grpc::ClientContext* c, auto* out) {
          return admin_->ListFunctions(c, v1::ListFunctionsRequest(), out);
        });
  }

 private:
  template <typename Response, typename Call>
  absl::StatusOr<Response> Unary(std::string_view method, Call call) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoMilliseconds(options_.timeout));
    Response response;
    grpc::Status status = call(&context, &response);
    if (!status.ok()) return FromGrpcStatus(status, method, options_.address, options_.timeout);
    return response;
  }

  // Reads every message of a server stream. No deadline: a watch or a follow lasts as long as
  // the job or the run; a scheduler that cannot be reached fails the first Read at once.
  template <typename Message, typename Start>
  absl::Status Stream(std::string_view method, const StreamCallback<Message>& on_message,
                      Start start) {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<Message>> reader = start(&context);
    Message message;
    bool stopped = false;
    while (reader->Read(&message)) {
      if (!on_message(message)) {
        stopped = true;
        context.TryCancel();
        break;
      }
    }
    grpc::Status status = reader->Finish();
    if (stopped || status.ok()) return absl::OkStatus();
    return FromGrpcStatus(status, method, options_.address, options_.timeout);
  }

  const GrpcClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::JobService::Stub> jobs_;
  std::unique_ptr<v1::RunService::Stub> runs_;
  std::unique_ptr<v1::ArtifactService::Stub> artifacts_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status, std::string_view method,
                            std::string_view address, absl::Duration timeout) {
  const std::string& message = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      return absl::OkStatus();
    case grpc::StatusCode::UNAVAILABLE: {
      const std::string reason = TransportReason(status);
      if (!reason.empty() || message.empty()) {
        return absl::UnavailableError(absl::StrCat("cannot reach scheduler at ", AsAbsl(address),
                                                   " (", reason.empty() ? "unavailable" : reason,
                                                   ")"));
      }
      return absl::UnavailableError(
          absl::StrCat("scheduler at ", AsAbsl(address), " is unavailable: ", message));
    }
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return absl::DeadlineExceededError(
          absl::StrCat("scheduler at ", AsAbsl(address), " did not answer ", AsAbsl(method),
                       " within ", absl::FormatDuration(timeout), " (try --timeout)"));
    case grpc::StatusCode::UNIMPLEMENTED:
      return absl::UnimplementedError(absl::StrCat("the scheduler at ", AsAbsl(address),
                                                   " does not serve ", AsAbsl(method), " yet"));
    default:
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          message.empty() ? absl::StrCat(AsAbsl(method), " failed") : message);
  }
}

std::unique_ptr<Client> MakeGrpcClient(const GrpcClientOptions& options) {
  return std::make_unique<GrpcClient>(options);
}

}  // namespace sematic::cli
