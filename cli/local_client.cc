#include "cli/local_client.h"

#include <deque>
#include <filesystem>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "scheduler/core/await_reply.h"

namespace sematic::cli {
namespace {

namespace sch = ::sematic::scheduler;

// Calls `start` with a callback and waits up to `timeout` for its reply.
template <typename T, typename Start>
absl::StatusOr<T> Await(std::string_view method, absl::Duration timeout, Start start) {
  return sch::AwaitReply<T>(method, timeout, std::move(start));
}

// Messages of one stream, pushed by the scheduler's loop and read by the caller's thread.
template <typename T>
class StreamQueue {
 public:
  // Queues `message`; false once the reader has stopped (the scheduler then ends the stream).
  bool Push(const T& message) {
    absl::MutexLock lock(&mu_);
    if (stopped_) return false;
    queue_.push_back(message);
    return true;
  }
  void End(absl::Status status) {
    absl::MutexLock lock(&mu_);
    end_ = std::move(status);
  }
  // Hands each message to `on_message` until the stream ends or it returns false.
  absl::Status Drain(const StreamCallback<T>& on_message) {
    while (true) {
      std::optional<T> next;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &StreamQueue::Ready));
        if (queue_.empty()) return *end_;
        next = std::move(queue_.front());
        queue_.pop_front();
      }
      if (!on_message(*next)) {
        absl::MutexLock lock(&mu_);
        stopped_ = true;
        return absl::OkStatus();
      }
    }
  }

 private:
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || end_.has_value();
  }

  absl::Mutex mu_;
  std::deque<T> queue_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> end_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

class LocalClient final : public Client {
 public:
  LocalClient(sch::Scheduler* scheduler, std::unique_ptr<sch::Scheduler> owned,
              absl::Duration timeout)
      : scheduler_(scheduler), owned_(std::move(owned)), timeout_(timeout) {}

  ~LocalClient() override {
    if (owned_ != nullptr) owned_->Shutdown();
  }

  absl::StatusOr<v1::SubmitJobResponse> SubmitJob(const v1::SubmitJobRequest& request) override {
    return Await<v1::SubmitJobResponse>("SubmitJob", timeout_, [&](auto done) {
      scheduler_->SubmitJob(request, std::move(done));
    });
  }

  absl::StatusOr<v1::Job> GetJob(std::string_view job_id) override {
    v1::GetJobRequest request;
    request.set_job_id(std::string(job_id));
    return Await<v1::Job>("GetJob", timeout_,
                          [&](auto done) { scheduler_->GetJob(request, std::move(done)); });
  }

  absl::StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& request) override {
    return Await<v1::ListJobsResponse>(
        "ListJobs", timeout_, [&](auto done) { scheduler_->ListJobs(request, std::move(done)); });
  }

  absl::StatusOr<v1::CancelJobResponse> CancelJob(std::string_view job_id) override {
    v1::CancelJobRequest request;
    request.set_job_id(std::string(job_id));
    return Await<v1::CancelJobResponse>(
        "CancelJob", timeout_, [&](auto done) { scheduler_->CancelJob(request, std::move(done)); });
  }

  absl::Status WatchJob(const v1::WatchJobRequest& request,
                        const StreamCallback<v1::JobEvent>& on_event) override {
    auto queue = std::make_shared<StreamQueue<v1::JobEvent>>();
    scheduler_->WatchJob(
        request, [queue](const v1::JobEvent& event) { return queue->Push(event); },
        [queue](absl::Status status) { queue->End(std::move(status)); });
    return queue->Drain(on_event);
  }

  absl::StatusOr<v1::Run> GetRun(std::string_view run_id) override {
    v1::GetRunRequest request;
    request.set_run_id(std::string(run_id));
    return Await<v1::Run>("GetRun", timeout_,
                          [&](auto done) { scheduler_->GetRun(request, std::move(done)); });
  }

  absl::StatusOr<v1::ListRunsResponse> ListRuns(const v1::ListRunsRequest& request) override {
    return Await<v1::ListRunsResponse>(
        "ListRuns", timeout_, [&](auto done) { scheduler_->ListRuns(request, std::move(done)); });
  }

  // Page by page, as the gRPC service streams them; a follow waits as long as the run lasts.
  absl::Status GetRunLogs(const v1::GetRunLogsRequest& request,
                          const StreamCallback<v1::LogLines>& on_lines) override {
    constexpr size_t kLinesPerPage = 500;
    v1::GetRunLogsRequest next = request;
    while (true) {
      ASSIGN_OR_RETURN(sch::RunLogPage page,
                       Await<sch::RunLogPage>(
                           "GetRunLogs", next.follow() ? absl::InfiniteDuration() : timeout_,
                           [&](auto done) {
                             scheduler_->ReadRunLogs(next, kLinesPerPage, std::move(done));
                           }));
      if (page.lines.entries().empty()) return absl::OkStatus();
      next.set_from_index(next.from_index() + page.lines.entries_size());
      if (!on_lines(page.lines)) return absl::OkStatus();
    }
  }

  absl::StatusOr<v1::GetRunMetricsResponse> GetRunMetrics(
      const v1::GetRunMetricsRequest& request) override {
    return Await<v1::GetRunMetricsResponse>("GetRunMetrics", timeout_, [&](auto done) {
      scheduler_->GetRunMetrics(request, std::move(done));
    });
  }

  absl::StatusOr<v1::GetLineageResponse> GetLineage(const v1::GetLineageRequest& request) override {
    return Await<v1::GetLineageResponse>("GetLineage", timeout_, [&](auto done) {
      scheduler_->GetLineage(request, std::move(done));
    });
  }

  // Artifacts are served from the caller's thread, without the loop (artifact_service.h).
  absl::StatusOr<v1::GetArtifactResponse> GetArtifact(
      const v1::GetArtifactRequest& request) override {
    return scheduler_->artifacts().GetArtifact(request);
  }

  absl::Status Download(const v1::DownloadRequest& request,
                        const StreamCallback<v1::DownloadChunk>& on_chunk) override {
    ASSIGN_OR_RETURN(std::unique_ptr<sch::ArtifactService::Download> download,
                     scheduler_->artifacts().StartDownload(request));
    v1::DownloadChunk chunk;
    while (true) {
      ASSIGN_OR_RETURN(bool more, download->Next(&chunk));
      if (!more || !on_chunk(chunk)) return absl::OkStatus();
    }
  }

  absl::StatusOr<v1::ListWorkersResponse> ListWorkers() override {
    return Await<v1::ListWorkersResponse>(
        "ListWorkers", timeout_, [&](auto done) { scheduler_->ListWorkers(std::move(done)); });
  }

  absl::StatusOr<v1::ListFunctionsResponse> ListFunctions() override {
    return Await<v1::ListFunctionsResponse>(
        "ListFunctions", timeout_, [&](auto done) { scheduler_->ListFunctions(std::move(done)); });
  }

 private:
  sch::Scheduler* const scheduler_;
  const std::unique_ptr<sch::Scheduler> owned_;  // null when the scheduler belongs to the caller
  const absl::Duration timeout_;
};

}  // namespace

std::unique_ptr<Client> MakeLocalClient(scheduler::Scheduler* scheduler, absl::Duration timeout) {
  return std::make_unique<LocalClient>(scheduler, nullptr, timeout);
}

absl::Status DescribeOpenError(const absl::Status& status, const std::string& data_dir) {
  // RocksDB reports a held LOCK file as an IO error naming it ("lock ...: Resource temporarily
  // unavailable"); nothing else about it is actionable for the user.
  const std::string message(status.message());
  if (absl::StrContains(message, "/LOCK") || absl::StrContains(message, "lock hold") ||
      absl::StrContains(message, "Resource temporarily unavailable")) {
    return absl::UnavailableError(absl::StrCat(
        data_dir, " is in use by another process (a pipeline still running, or a scheduler "
                  "daemon); wait for it to end, or reach its scheduler with --scheduler"));
  }
  return absl::Status(status.code(), absl::StrCat("cannot open ", data_dir, ": ", status.message()));
}

absl::StatusOr<std::unique_ptr<scheduler::Scheduler>> OpenLocalScheduler(
    const std::string& data_dir) {
  std::error_code error;
  if (!std::filesystem::exists(std::filesystem::path(data_dir) / "db", error)) {
    return absl::NotFoundError(absl::StrCat("no Sematic data in ", data_dir,
                                            " (a pipeline run on the embedded engine creates it)"));
  }
  scheduler::SchedulerOptions options;
  options.data_dir = data_dir;
  // The default recovery grace outlasts a CLI command: reading never re-queues a run that a
  // pipeline killed mid-job left behind.
  absl::StatusOr<std::unique_ptr<scheduler::Scheduler>> opened =
      scheduler::Scheduler::Create(options);
  if (!opened.ok()) return DescribeOpenError(opened.status(), data_dir);
  return opened;
}

absl::StatusOr<std::unique_ptr<Client>> OpenLocalClient(const std::string& data_dir,
                                                        absl::Duration timeout) {
  ASSIGN_OR_RETURN(std::unique_ptr<scheduler::Scheduler> opened, OpenLocalScheduler(data_dir));
  scheduler::Scheduler* raw = opened.get();
  return std::unique_ptr<Client>(std::make_unique<LocalClient>(raw, std::move(opened), timeout));
}

}  // namespace sematic::cli
