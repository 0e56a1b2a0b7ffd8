#include "worker/in_process.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"

namespace sematic::worker {
namespace {

// The two ends of one in-process stream share this; the scheduler's end may outlive the
// worker's (the scheduler owns it), so it holds the worker's callbacks only until closed.
struct Pipe {
  absl::Mutex mu;
  Connector::MessageCallback on_message ABSL_GUARDED_BY(mu);
  Connector::ClosedCallback on_closed ABSL_GUARDED_BY(mu);
  bool closed ABSL_GUARDED_BY(mu) = false;

  // Ends the pipe; reports `why` to the worker if `notify`. False when it had already ended.
  bool End(const absl::Status& why, bool notify) {
    absl::MutexLock lock(&mu);
    if (closed) return false;
    closed = true;
    if (notify && on_closed) on_closed(why);  // posts to the worker's loop; does not block
    on_message = nullptr;
    on_closed = nullptr;
    return true;
  }
};

class SchedulerEnd : public scheduler::WorkerConnection {
 public:
  explicit SchedulerEnd(std::shared_ptr<Pipe> pipe) : pipe_(std::move(pipe)) {}
  ~SchedulerEnd() override { pipe_->End(absl::UnavailableError("the scheduler went away"), true); }

  void Send(v1::SchedulerMessage message) override {
    absl::MutexLock lock(&pipe_->mu);
    if (!pipe_->closed && pipe_->on_message) pipe_->on_message(std::move(message));
  }
  void Close(absl::Status status) override { pipe_->End(status, true); }

 private:
  std::shared_ptr<Pipe> pipe_;
};

class WorkerEnd : public WorkerStream {
 public:
  WorkerEnd(scheduler::Scheduler* scheduler, std::shared_ptr<Pipe> pipe)
      : scheduler_(scheduler), pipe_(std::move(pipe)) {
    session_ = scheduler_->ConnectWorker(std::make_unique<SchedulerEnd>(pipe_));
  }
  ~WorkerEnd() override { End(/*notify=*/false); }

  void Send(v1::WorkerMessage message) override {
    {
      absl::MutexLock lock(&pipe_->mu);
      if (pipe_->closed) return;
    }
    scheduler_->OnWorkerMessage(session_, std::move(message));
  }
  void Close() override { End(/*notify=*/true); }

 private:
  void End(bool notify) {
    if (pipe_->End(absl::CancelledError("the worker closed the stream"), notify)) {
      scheduler_->OnWorkerGone(session_, absl::CancelledError("the worker closed the stream"));
    }
  }

  scheduler::Scheduler* const scheduler_;
  const std::shared_ptr<Pipe> pipe_;
  scheduler::WorkerSessionId session_ = 0;
};

class InProcessConnector : public Connector {
 public:
  explicit InProcessConnector(scheduler::Scheduler* scheduler) : scheduler_(scheduler) {}

  std::unique_ptr<WorkerStream> Connect(MessageCallback on_message,
                                        ClosedCallback on_closed) override {
    auto pipe = std::make_shared<Pipe>();
    {
      absl::MutexLock lock(&pipe->mu);
      pipe->on_message = std::move(on_message);
      pipe->on_closed = std::move(on_closed);
    }
    return std::make_unique<WorkerEnd>(scheduler_, std::move(pipe));
  }

  std::string Describe() const override { return "the in-process scheduler"; }

 private:
  scheduler::Scheduler* const scheduler_;
};

class InProcessArtifactClient : public ArtifactClient {
 public:
  explicit InProcessArtifactClient(scheduler::Scheduler* scheduler) : scheduler_(scheduler) {}

  absl::StatusOr<std::string> Download(const std::string& digest) override {
    v1::DownloadRequest request;
    request.set_digest(digest);
    ASSIGN_OR_RETURN(std::unique_ptr<scheduler::ArtifactService::Download> download,
                     scheduler_->artifacts().StartDownload(request));
    std::string bytes;
    v1::DownloadChunk chunk;
    while (true) {
      ASSIGN_OR_RETURN(bool more, download->Next(&chunk));
      if (!more) return bytes;
      if (bytes.empty()) bytes.reserve(chunk.total_size());
      bytes.append(chunk.data());
    }
  }

  absl::StatusOr<std::vector<std::string>> FindMissing(
      const std::vector<std::string>& digests) override {
    v1::FindMissingRequest request;
    for (const std::string& digest : digests) request.add_digests(digest);
    ASSIGN_OR_RETURN(v1::FindMissingResponse response,
                     scheduler_->artifacts().FindMissing(request));
    return std::vector<std::string>(response.missing().begin(), response.missing().end());
  }

  absl::Status Upload(const std::string& digest, const std::string& bytes) override {
    return Send(digest, bytes, /*payload=*/false);
  }

  absl::Status UploadPayload(const std::string& digest, const std::string& bytes) override {
    return Send(digest, bytes, /*payload=*/true);
  }

 private:
  absl::Status Send(const std::string& digest, const std::string& bytes, bool payload) {
    std::unique_ptr<scheduler::ArtifactService::Upload> upload =
        scheduler_->artifacts().StartUpload();
    const size_t chunk_bytes = scheduler_->artifacts().options().max_chunk_bytes;
    size_t offset = 0;
    do {
      v1::UploadChunk chunk;
      if (offset == 0) {
        chunk.set_digest(digest);
        chunk.set_total_size(bytes.size());
        chunk.set_payload(payload);
      }
      const size_t n = std::min(chunk_bytes, bytes.size() - offset);
      chunk.set_data(bytes.data() + offset, n);
      RETURN_IF_ERROR(upload->Append(chunk));
      offset += n;
    } while (offset < bytes.size());
    return upload->Finish().status();
  }

  scheduler::Scheduler* const scheduler_;
};

}  // namespace

std::unique_ptr<ArtifactClient> MakeInProcessArtifactClient(scheduler::Scheduler* scheduler) {
  return std::make_unique<InProcessArtifactClient>(scheduler);
}

std::unique_ptr<Connector> MakeInProcessConnector(scheduler::Scheduler* scheduler) {
  return std::make_unique<InProcessConnector>(scheduler);
}

}  // namespace sematic::worker
