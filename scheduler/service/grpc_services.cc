#include "scheduler/service/grpc_services.h"

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/thread_pool.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/server_interceptor.h"
#include "scheduler/service/request_parsing.h"
#include "sematic/v1/admin_service.grpc.pb.h"
#include "sematic/v1/artifact_service.grpc.pb.h"
#include "sematic/v1/job.grpc.pb.h"
#include "sematic/v1/run_service.grpc.pb.h"
#include "sematic/v1/worker_service.grpc.pb.h"

namespace sematic::scheduler {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

namespace {

// Finishes `reactor` with `result`, copying the value into `response` on success.
template <typename T>
Callback<T> FinishWith(grpc::ServerUnaryReactor* reactor, T* response) {
  return [reactor, response](absl::StatusOr<T> result) {
    if (result.ok()) *response = *std::move(result);
    reactor->Finish(ToGrpcStatus(result.status()));
  };
}

// The write side of a server stream: messages go out one at a time, in order, and the stream
// finishes once an end was requested and everything queued is written. Not thread-safe: the
// owner guards it with its mutex.
template <typename Message>
struct WriteQueue {
  enum class Step { kIdle, kWrite, kFinish };

  // What the reactor must do now: start writing `*next`, finish with `end_status`, or nothing.
  Step Advance(Message* next) {
    if (writing || finished) return Step::kIdle;
    if (!pending.empty()) {
      *next = std::move(pending.front());
      pending.pop_front();
      writing = true;
      return Step::kWrite;
    }
    if (ending) {
      finished = true;
      return Step::kFinish;
    }
    return Step::kIdle;
  }

  std::deque<Message> pending;
  bool writing = false;
  bool ending = false;  // finish once `pending` is written
  grpc::Status end_status;
  bool finished = false;
};

class JobServiceImpl final : public v1::JobService::CallbackService {
 public:
  explicit JobServiceImpl(Scheduler* scheduler) : scheduler_(scheduler) {}

  grpc::ServerUnaryReactor* SubmitJob(grpc::CallbackServerContext* context,
                                      const v1::SubmitJobRequest* request,
                                      v1::SubmitJobResponse* response) override {
    auto* reactor = context->DefaultReactor();
    scheduler_->SubmitJob(*request, FinishWith(reactor, response));
    return reactor;
  }

  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context,
                                   const v1::GetJobRequest* request, v1::Job* response) override {
    auto* reactor = context->DefaultReactor();
    scheduler_->GetJob(*request, FinishWith(reactor, response));
    return reactor;
  }

  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const v1::ListJobsRequest* request,
                                     v1::ListJobsResponse* response) override {
    auto* reactor = context->DefaultReactor();
    scheduler_->ListJobs(*request, FinishWith(reactor, response));
    return reactor;
  }

  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* context,
                                      const v1::CancelJobRequest* request,
                                      v1::CancelJobResponse* response) override {
    auto* reactor = context->DefaultReactor();
    scheduler_->CancelJob(*request, FinishWith(reactor, response));
    return reactor;
  }

  grpc::ServerWriteReactor<v1::JobEvent>* WatchJob(grpc::CallbackServerContext* context,
                                                   const v1::WatchJobRequest* request) override;

 private:
  Scheduler* scheduler_;
};

// Streams a job's events. The scheduler pushes from its loop; writes go out one at a time.
// State shared with the scheduler's callbacks outlives the reactor (OnDone marks it closed).
class WatchReactor : public grpc::ServerWriteReactor<v1::JobEvent> {
 public:
  struct Shared {
    absl::Mutex mu;
    WatchReactor* reactor ABSL_GUARDED_BY(mu);
    WriteQueue<v1::JobEvent> writes ABSL_GUARDED_BY(mu);
  };

  WatchReactor(Scheduler* scheduler, const v1::WatchJobRequest& request)
      : shared_(std::make_shared<Shared>()) {
    {
      absl::MutexLock lock(&shared_->mu);
      shared_->reactor = this;
    }
    std::shared_ptr<Shared> shared = shared_;
    scheduler->WatchJob(
        request,
        [shared](const v1::JobEvent& event) {
          absl::MutexLock lock(&shared->mu);
          if (shared->reactor == nullptr || shared->writes.finished) return false;
          shared->writes.pending.push_back(event);
          shared->reactor->Pump();
          return true;
        },
        [shared](absl::Status status) {
          absl::MutexLock lock(&shared->mu);
          // The scheduler has no more events.
          shared->writes.ending = true;
          shared->writes.end_status = ToGrpcStatus(status);
          if (shared->reactor != nullptr) shared->reactor->Pump();
        });
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&shared_->mu);
    shared_->writes.writing = false;
    if (!ok) {
      if (!shared_->writes.finished) {
        shared_->writes.finished = true;
        Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the client went away"));
      }
      return;
    }
    Pump();
  }

  void OnCancel() override {
    absl::MutexLock lock(&shared_->mu);
    if (!shared_->writes.finished) {
      shared_->writes.finished = true;
      Finish(grpc::Status::CANCELLED);
    }
  }

  void OnDone() override {
    {
      absl::MutexLock lock(&shared_->mu);
      shared_->reactor = nullptr;
    }
    delete this;
  }

 private:
  // Starts the next write, or finishes once the scheduler ended and everything is written.
  void Pump() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu) {
    switch (shared_->writes.Advance(&current_)) {
      case WriteQueue<v1::JobEvent>::Step::kWrite:
        StartWrite(&current_);
        break;
      case WriteQueue<v1::JobEvent>::Step::kFinish:
        Finish(shared_->writes.end_status);
        break;
      case WriteQueue<v1::JobEvent>::Step::kIdle:
        break;
    }
  }

  std::shared_ptr<Shared> shared_;
  v1::JobEvent current_;
};

grpc::ServerWriteReactor<v1::JobEvent>* JobServiceImpl::WatchJob(
    grpc::CallbackServerContext*, const v1::WatchJobRequest* request) {
  return new WatchReactor(scheduler_, *request);
}

// Streams a run's log in pages, one write in flight: the next page is asked for only when the
// previous one is written (a slow client never makes the scheduler buffer). With follow, the
// scheduler holds the read until a line is committed or the run ends. State shared with the
// scheduler's callbacks outlives the reactor (OnDone marks it gone).
class RunLogsReactor : public grpc::ServerWriteReactor<v1::LogLines> {
 public:
  static constexpr size_t kLinesPerPage = 500;

  struct Shared {
    absl::Mutex mu;
    RunLogsReactor* reactor ABSL_GUARDED_BY(mu) = nullptr;
    bool finished ABSL_GUARDED_BY(mu) = false;
  };

  RunLogsReactor(Scheduler* scheduler, const v1::GetRunLogsRequest& request)
      : scheduler_(scheduler), request_(request), shared_(std::make_shared<Shared>()) {
    absl::MutexLock lock(&shared_->mu);
    shared_->reactor = this;
    ReadNextPage();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&shared_->mu);
    if (!ok) {
      FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the client went away"));
      return;
    }
    ReadNextPage();
  }

  void OnCancel() override {
    absl::MutexLock lock(&shared_->mu);
    FinishOnce(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    {
      absl::MutexLock lock(&shared_->mu);
      shared_->reactor = nullptr;
    }
    delete this;
  }

 private:
  void ReadNextPage() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu) {
    if (shared_->finished) return;
    std::shared_ptr<Shared> shared = shared_;
    scheduler_->ReadRunLogs(request_, kLinesPerPage, [shared](absl::StatusOr<RunLogPage> page) {
      absl::MutexLock lock(&shared->mu);
      if (shared->reactor == nullptr || shared->finished) return;
      shared->reactor->OnPage(std::move(page));
    });
  }

  void OnPage(absl::StatusOr<RunLogPage> page) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu) {
    if (!page.ok()) {
      FinishOnce(ToGrpcStatus(page.status()));
      return;
    }
    if (page->lines.entries().empty()) {  // the end: the run ended, or not following
      FinishOnce(grpc::Status::OK);
      return;
    }
    request_.set_from_index(request_.from_index() + page->lines.entries_size());
    current_ = std::move(page->lines);
    StartWrite(&current_);
  }

  void FinishOnce(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu) {
    if (shared_->finished) return;
    shared_->finished = true;
    Finish(status);
  }

  Scheduler* const scheduler_;
  v1::GetRunLogsRequest request_;  // from_index advances as pages are written
  std::shared_ptr<Shared> shared_;
  v1::LogLines current_;
};

class RunServiceImpl final : public v1::RunService::CallbackService {
 public:
  explicit RunServiceImpl(Scheduler* scheduler) : scheduler_(scheduler) {}

  grpc::ServerWriteReactor<v1::LogLines>* GetRunLogs(
      grpc::CallbackServerContext*, const v1::GetRunLogsRequest* request) override {
    return new RunLogsReactor(scheduler_, *request);
  }

  grpc::ServerUnaryReactor* GetRunMetrics(grpc::CallbackServerContext* context,
                                          const v1::GetRunMetricsRequest* request,
                                          v1::GetRunMetricsResponse* response) override {
    auto* reactor = context->DefaultReactor();
    scheduler_->GetRunMetrics(*request, FinishWith(reactor, response));
    return reactor;
  }

  grpc::ServerUnaryReactor* GetLineage(grpc::CallbackServerContext* context,
                                       const v1::GetLineageRequest* request,
                                       v1::GetLineageResponse* response) override {
    auto* reactor = context->DefaultReactor();
    scheduler_->GetLineage(*request, FinishWith(reactor, response));
    return reactor;
  }

  grpc::ServerUnaryReactor* ListRunGroups(grpc::CallbackServerContext* context,
                                          const v1::ListRunGroupsRequest* request,
                                          v1::ListRunGroupsResponse* response) override {
    auto* reactor = context->DefaultReactor();
    scheduler_->ListRunGroups(*request, FinishWith(reactor, response));
    return reactor;
  }

  grpc::ServerUnaryReactor* GetRun(grpc::CallbackServerContext* context,
                                   const v1::GetRunRequest* request, v1::Run* response) override {
    auto* reactor = context->DefaultReactor();
    scheduler_->GetRun(*request, FinishWith(reactor, response));
    return reactor;
  }

  grpc::ServerUnaryReactor* ListRuns(grpc::CallbackServerContext* context,
                                     const v1::ListRunsRequest* request,
                                     v1::ListRunsResponse* response) override {
    auto* reactor = context->DefaultReactor();
    scheduler_->ListRuns(*request, FinishWith(reactor, response));
    return reactor;
  }

 private:
  Scheduler* scheduler_;
};

// ---- Artifacts -----------------------------------------------------------------------------------
//
// ArtifactService calls read and write disk (and fsync a finished upload), so they run on a small
// I/O pool, never on a gRPC callback thread. Each stream has exactly one operation outstanding at
// a time — a read, a write, or a pool task — so the reactor is alive whenever that operation
// completes, and it finishes exactly once.

// Receives chunks and hands each to the upload on the pool; the next read starts once the chunk
// is on disk, so at most one chunk per stream is in memory. Served raw: the chunks are parsed
// here (on the pool), so that bytes which are not an UploadChunk fail the upload naming the type
// instead of looking like the end of the stream (request_parsing.h).
class UploadReactor : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  UploadReactor(ArtifactService* artifacts, ThreadPool* io, grpc::ByteBuffer* response)
      : io_(io), response_(response), upload_(artifacts->StartUpload()) {
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed (or went away): verify and commit what arrived
      io_->Schedule([this] {
        absl::StatusOr<v1::UploadResponse> done = upload_->Finish();
        Finish(done.ok() ? SerializeResponse(*done, response_) : ToGrpcStatus(done.status()));
      });
      return;
    }
    io_->Schedule([this] {
      if (grpc::Status parsed = ParseRequest(&incoming_, &chunk_); !parsed.ok()) {
        Finish(parsed);
        return;
      }
      absl::Status appended = upload_->Append(chunk_);
      if (!appended.ok()) {
        Finish(ToGrpcStatus(appended));
        return;
      }
      chunk_.Clear();
      StartRead(&incoming_);
    });
  }

  void OnDone() override { delete this; }

 private:
  ThreadPool* const io_;
  grpc::ByteBuffer* const response_;  // a serialized UploadResponse
  std::unique_ptr<ArtifactService::Upload> upload_;
  grpc::ByteBuffer incoming_;
  v1::UploadChunk chunk_;
};

// Writes 1 MiB chunks one at a time: the next is read from disk only when the previous is sent.
class DownloadReactor : public grpc::ServerWriteReactor<v1::DownloadChunk> {
 public:
  DownloadReactor(ArtifactService* artifacts, ThreadPool* io, const v1::DownloadRequest& request)
      : io_(io) {
    io_->Schedule([this, artifacts, request] {
      absl::StatusOr<std::unique_ptr<ArtifactService::Download>> download =
          artifacts->StartDownload(request);
      if (!download.ok()) {
        Finish(ToGrpcStatus(download.status()));
        return;
      }
      download_ = *std::move(download);
      WriteNext();
    });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the client went away"));
      return;
    }
    io_->Schedule([this] { WriteNext(); });
  }

  void OnDone() override { delete this; }

 private:
  void WriteNext() {
    absl::StatusOr<bool> more = download_->Next(&chunk_);
    if (!more.ok()) {
      Finish(ToGrpcStatus(more.status()));
    } else if (!*more) {
      Finish(grpc::Status::OK);
    } else {
      StartWrite(&chunk_);
    }
  }

  ThreadPool* const io_;
  std::unique_ptr<ArtifactService::Download> download_;
  v1::DownloadChunk chunk_;
};

// Upload is raw (UploadReactor parses its chunks); the other methods are typed.
using ArtifactCallbackService = v1::ArtifactService::WithCallbackMethod_GetArtifact<
    v1::ArtifactService::WithCallbackMethod_FindMissing<
        v1::ArtifactService::WithRawCallbackMethod_Upload<
            v1::ArtifactService::WithCallbackMethod_Download<v1::ArtifactService::Service>>>>;

class ArtifactServiceImpl final : public ArtifactCallbackService {
 public:
  ArtifactServiceImpl(Scheduler* scheduler, ThreadPool* io)
      : artifacts_(&scheduler->artifacts()), io_(io) {}

  grpc::ServerUnaryReactor* GetArtifact(grpc::CallbackServerContext* context,
                                        const v1::GetArtifactRequest* request,
                                        v1::GetArtifactResponse* response) override {
    auto* reactor = context->DefaultReactor();
    io_->Schedule([this, reactor, request, response] {
      FinishWith(reactor, response)(artifacts_->GetArtifact(*request));
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* FindMissing(grpc::CallbackServerContext* context,
                                        const v1::FindMissingRequest* request,
                                        v1::FindMissingResponse* response) override {
    auto* reactor = context->DefaultReactor();
    io_->Schedule([this, reactor, request, response] {
      FinishWith(reactor, response)(artifacts_->FindMissing(*request));
    });
    return reactor;
  }

  grpc::ServerReadReactor<grpc::ByteBuffer>* Upload(grpc::CallbackServerContext*,
                                                     grpc::ByteBuffer* response) override {
    return new UploadReactor(artifacts_, io_, response);
  }

  grpc::ServerWriteReactor<v1::DownloadChunk>* Download(
      grpc::CallbackServerContext*, const v1::DownloadRequest* request) override {
    return new DownloadReactor(artifacts_, io_, *request);
  }

 private:
  ArtifactService* const artifacts_;
  ThreadPool* const io_;
};

class AdminServiceImpl final : public v1::AdminService::CallbackService {
 public:
  explicit AdminServiceImpl(Scheduler* scheduler) : scheduler_(scheduler) {}

  grpc::ServerUnaryReactor* ListWorkers(grpc::CallbackServerContext* context,
                                        const v1::ListWorkersRequest*,
                                        v1::ListWorkersResponse* response) override {
    auto* reactor = context->DefaultReactor();
    scheduler_->ListWorkers(FinishWith(reactor, response));
    return reactor;
  }

  grpc::ServerUnaryReactor* ListFunctions(grpc::CallbackServerContext* context,
                                          const v1::ListFunctionsRequest*,
                                          v1::ListFunctionsResponse* response) override {
    auto* reactor = context->DefaultReactor();
    scheduler_->ListFunctions(FinishWith(reactor, response));
    return reactor;
  }

  grpc::ServerUnaryReactor* GetSchedulerInfo(grpc::CallbackServerContext* context,
                                             const v1::GetSchedulerInfoRequest*,
                                             v1::SchedulerInfo* response) override {
    auto* reactor = context->DefaultReactor();
    scheduler_->GetInfo(FinishWith(reactor, response));
    return reactor;
  }

 private:
  Scheduler* scheduler_;
};

// One worker's stream. Reads are handed to the scheduler in order; the scheduler's messages are
// written one at a time. The connection object the scheduler owns reaches the reactor through
// shared state, so it stays safe after the stream is gone. Served raw: messages are parsed and
// serialized here, so that bytes which are not a WorkerMessage end the stream with
// INVALID_ARGUMENT naming the type instead of looking like the worker's half-close
// (request_parsing.h).
class WorkerStream : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  struct Shared {
    absl::Mutex mu;
    WorkerStream* stream ABSL_GUARDED_BY(mu);
    WriteQueue<v1::SchedulerMessage> writes ABSL_GUARDED_BY(mu);
  };

  class Connection : public WorkerConnection {
   public:
    explicit Connection(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
    void Send(v1::SchedulerMessage message) override {
      absl::MutexLock lock(&shared_->mu);
      if (shared_->stream == nullptr || shared_->writes.finished) return;
      shared_->writes.pending.push_back(std::move(message));
      shared_->stream->Pump();
    }
    void Close(absl::Status status) override {
      absl::MutexLock lock(&shared_->mu);
      // The first end decided wins: a worker that half-closed its stream gets OK even though
      // the scheduler, told the stream ended, closes the session too.
      if (shared_->stream == nullptr || shared_->writes.finished || shared_->writes.ending) return;
      shared_->writes.ending = true;
      shared_->writes.end_status = ToGrpcStatus(status);
      shared_->stream->Pump();
    }

   private:
    std::shared_ptr<Shared> shared_;
  };

  WorkerStream(Scheduler* scheduler, std::string peer)
      : scheduler_(scheduler), shared_(std::make_shared<Shared>()) {
    {
      absl::MutexLock lock(&shared_->mu);
      shared_->stream = this;
    }
    (void)peer;
    session_ = scheduler_->ConnectWorker(std::make_unique<Connection>(shared_));
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The worker half-closed (or the stream broke): finish OK once queued writes are out.
      EndReads(grpc::Status::OK, absl::UnavailableError("the worker's stream ended"));
      return;
    }
    v1::WorkerMessage message;
    if (grpc::Status parsed = ParseRequest(&incoming_, &message); !parsed.ok()) {
      EndReads(parsed, absl::InvalidArgumentError(parsed.error_message()));
      return;
    }
    scheduler_->OnWorkerMessage(session_, std::move(message));
    StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&shared_->mu);
    shared_->writes.writing = false;
    if (!ok) {
      shared_->writes.pending.clear();
      shared_->writes.ending = true;
    }
    Pump();
  }

  void OnCancel() override {
    scheduler_->OnWorkerGone(session_, absl::CancelledError("the worker's stream was cancelled"));
  }

  void OnDone() override {
    {
      absl::MutexLock lock(&shared_->mu);
      shared_->stream = nullptr;
    }
    delete this;
  }

 private:
  // No more reads: the stream finishes with `status` once queued writes are out (unless an end
  // was decided already), and the scheduler closes the session for `why`.
  void EndReads(const grpc::Status& status, const absl::Status& why) {
    {
      absl::MutexLock lock(&shared_->mu);
      if (!shared_->writes.ending) {
        shared_->writes.ending = true;
        shared_->writes.end_status = status;
      }
      Pump();
    }
    scheduler_->OnWorkerGone(session_, why);
  }

  void Pump() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu) {
    switch (shared_->writes.Advance(&current_)) {
      case WriteQueue<v1::SchedulerMessage>::Step::kWrite: {
        grpc::Status serialized = SerializeResponse(current_, &outgoing_);
        current_.Clear();
        if (!serialized.ok()) {
          shared_->writes.pending.clear();
          shared_->writes.finished = true;
          Finish(serialized);
          break;
        }
        StartWrite(&outgoing_);
        break;
      }
      case WriteQueue<v1::SchedulerMessage>::Step::kFinish:
        Finish(shared_->writes.end_status);
        break;
      case WriteQueue<v1::SchedulerMessage>::Step::kIdle:
        break;
    }
  }

  Scheduler* scheduler_;
  std::shared_ptr<Shared> shared_;
  WorkerSessionId session_ = 0;
  grpc::ByteBuffer incoming_;  // a serialized WorkerMessage
  v1::SchedulerMessage current_;
  grpc::ByteBuffer outgoing_;  // current_, serialized: the write in flight
};

class WorkerServiceImpl final
    : public v1::WorkerService::WithRawCallbackMethod_Connect<v1::WorkerService::Service> {
 public:
  explicit WorkerServiceImpl(Scheduler* scheduler) : scheduler_(scheduler) {}

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Connect(
      grpc::CallbackServerContext* context) override {
    return new WorkerStream(scheduler_, context->peer());
  }

 private:
  Scheduler* scheduler_;
};

class GrpcServicesImpl : public GrpcServices {
 public:
  explicit GrpcServicesImpl(Scheduler* scheduler)
      : jobs_(scheduler),
        runs_(scheduler),
        artifacts_(scheduler, &io_),
        admin_(scheduler),
        workers_(scheduler),
        io_(kIoThreads) {}

  const LabeledCounters& rpc_counts() const override { return rpc_counts_; }

  void RegisterWith(grpc::ServerBuilder& builder) override {
    // In this order: the counter sees the status after an unparsable request became
    // INVALID_ARGUMENT. (A second SetInterceptorCreators would replace the first.)
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(MakeUnparsableRequestInterceptorFactory());
    creators.push_back(std::make_unique<CountingInterceptorFactory>(&rpc_counts_));
    builder.experimental().SetInterceptorCreators(std::move(creators));
    builder.RegisterService(&jobs_);
    builder.RegisterService(&runs_);
    builder.RegisterService(&artifacts_);
    builder.RegisterService(&admin_);
    builder.RegisterService(&workers_);
  }

 private:
  static constexpr int kIoThreads = 2;

  // Counts each call's final status by method (an interceptor sees every service alike).
  class CountingInterceptor final : public grpc::experimental::Interceptor {
   public:
    CountingInterceptor(grpc::experimental::ServerRpcInfo* info, LabeledCounters* counts)
        : method_(info->method()), counts_(counts) {}
    void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
      if (methods->QueryInterceptionHookPoint(
              grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
        counts_->Add(method_, absl::StatusCodeToString(
                                  static_cast<absl::StatusCode>(methods->GetSendStatus().error_code())));
      }
      methods->Proceed();
    }

   private:
    const std::string method_;
    LabeledCounters* const counts_;
  };
  class CountingInterceptorFactory final
      : public grpc::experimental::ServerInterceptorFactoryInterface {
   public:
    explicit CountingInterceptorFactory(LabeledCounters* counts) : counts_(counts) {}
    grpc::experimental::Interceptor* CreateServerInterceptor(
        grpc::experimental::ServerRpcInfo* info) override {
      return new CountingInterceptor(info, counts_);
    }

   private:
    LabeledCounters* const counts_;
  };

  LabeledCounters rpc_counts_;

  JobServiceImpl jobs_;
  RunServiceImpl runs_;
  ArtifactServiceImpl artifacts_;
  AdminServiceImpl admin_;
  WorkerServiceImpl workers_;
  // Artifact disk work. Last: destroyed (and joined) first, while the services its tasks use
  // still exist.
  ThreadPool io_;
};

}  // namespace

std::unique_ptr<GrpcServices> MakeGrpcServices(Scheduler* scheduler) {
  return std::make_unique<GrpcServicesImpl>(scheduler);
}

std::unique_ptr<grpc::Server> ServeOnLoopback(GrpcServices& services, int* port) {
  grpc::ServerBuilder builder;
  *port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  builder.SetMaxReceiveMessageSize(kMinReceiveMessageBytes);
  services.RegisterWith(builder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  return *port != 0 ? std::move(server) : nullptr;
}

}  // namespace sematic::scheduler
