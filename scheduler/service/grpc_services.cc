#include "scheduler/service/grpc_services.h"

#include <deque>
#include <string>

#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "sematic/v1/admin_service.grpc.pb.h"
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
    std::deque<v1::JobEvent> pending ABSL_GUARDED_BY(mu);
    bool writing ABSL_GUARDED_BY(mu) = false;
    bool ended ABSL_GUARDED_BY(mu) = false;  // the scheduler has no more events
    absl::Status end_status ABSL_GUARDED_BY(mu);
    bool finished ABSL_GUARDED_BY(mu) = false;
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
          if (shared->reactor == nullptr || shared->finished) return false;
          shared->pending.push_back(event);
          shared->reactor->Pump();
          return true;
        },
        [shared](absl::Status status) {
          absl::MutexLock lock(&shared->mu);
          shared->ended = true;
          shared->end_status = std::move(status);
          if (shared->reactor != nullptr) shared->reactor->Pump();
        });
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&shared_->mu);
    shared_->writing = false;
    if (!ok) {
      if (!shared_->finished) {
        shared_->finished = true;
        Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the client went away"));
      }
      return;
    }
    Pump();
  }

  void OnCancel() override {
    absl::MutexLock lock(&shared_->mu);
    if (!shared_->finished) {
      shared_->finished = true;
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
    if (shared_->writing || shared_->finished) return;
    if (!shared_->pending.empty()) {
      current_ = std::move(shared_->pending.front());
      shared_->pending.pop_front();
      shared_->writing = true;
      StartWrite(&current_);
      return;
    }
    if (shared_->ended) {
      shared_->finished = true;
      Finish(ToGrpcStatus(shared_->end_status));
    }
  }

  std::shared_ptr<Shared> shared_;
  v1::JobEvent current_;
};

grpc::ServerWriteReactor<v1::JobEvent>* JobServiceImpl::WatchJob(
    grpc::CallbackServerContext*, const v1::WatchJobRequest* request) {
  return new WatchReactor(scheduler_, *request);
}

class RunServiceImpl final : public v1::RunService::CallbackService {
 public:
  explicit RunServiceImpl(Scheduler* scheduler) : scheduler_(scheduler) {}

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
// shared state, so it stays safe after the stream is gone.
class WorkerStream : public grpc::ServerBidiReactor<v1::WorkerMessage, v1::SchedulerMessage> {
 public:
  struct Shared {
    absl::Mutex mu;
    WorkerStream* stream ABSL_GUARDED_BY(mu);
    std::deque<v1::SchedulerMessage> pending ABSL_GUARDED_BY(mu);
    bool writing ABSL_GUARDED_BY(mu) = false;
    bool closing ABSL_GUARDED_BY(mu) = false;  // Close() called: finish once written
    grpc::Status close_status ABSL_GUARDED_BY(mu);
    bool finished ABSL_GUARDED_BY(mu) = false;
  };

  class Connection : public WorkerConnection {
   public:
    explicit Connection(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
    void Send(v1::SchedulerMessage message) override {
      absl::MutexLock lock(&shared_->mu);
      if (shared_->stream == nullptr || shared_->finished) return;
      shared_->pending.push_back(std::move(message));
      shared_->stream->Pump();
    }
    void Close(absl::Status status) override {
      absl::MutexLock lock(&shared_->mu);
      if (shared_->stream == nullptr || shared_->finished) return;
      shared_->closing = true;
      shared_->close_status = ToGrpcStatus(status);
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
      scheduler_->OnWorkerGone(session_, absl::UnavailableError("the worker's stream ended"));
      absl::MutexLock lock(&shared_->mu);
      if (!shared_->finished && !shared_->writing) {
        shared_->finished = true;
        Finish(grpc::Status::OK);
      } else {
        shared_->closing = true;
      }
      return;
    }
    scheduler_->OnWorkerMessage(session_, std::move(incoming_));
    incoming_.Clear();
    StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&shared_->mu);
    shared_->writing = false;
    if (!ok) {
      shared_->pending.clear();
      shared_->closing = true;
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
  void Pump() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared_->mu) {
    if (shared_->writing || shared_->finished) return;
    if (!shared_->pending.empty()) {
      current_ = std::move(shared_->pending.front());
      shared_->pending.pop_front();
      shared_->writing = true;
      StartWrite(&current_);
      return;
    }
    if (shared_->closing) {
      shared_->finished = true;
      Finish(shared_->close_status);
    }
  }

  Scheduler* scheduler_;
  std::shared_ptr<Shared> shared_;
  WorkerSessionId session_ = 0;
  v1::WorkerMessage incoming_;
  v1::SchedulerMessage current_;
};

class WorkerServiceImpl final : public v1::WorkerService::CallbackService {
 public:
  explicit WorkerServiceImpl(Scheduler* scheduler) : scheduler_(scheduler) {}

  grpc::ServerBidiReactor<v1::WorkerMessage, v1::SchedulerMessage>* Connect(
      grpc::CallbackServerContext* context) override {
    return new WorkerStream(scheduler_, context->peer());
  }

 private:
  Scheduler* scheduler_;
};

class GrpcServicesImpl : public GrpcServices {
 public:
  explicit GrpcServicesImpl(Scheduler* scheduler)
      : jobs_(scheduler), runs_(scheduler), admin_(scheduler), workers_(scheduler) {}

  void RegisterWith(grpc::ServerBuilder& builder) override {
    builder.RegisterService(&jobs_);
    builder.RegisterService(&runs_);
    builder.RegisterService(&admin_);
    builder.RegisterService(&workers_);
  }

 private:
  JobServiceImpl jobs_;
  RunServiceImpl runs_;
  AdminServiceImpl admin_;
  WorkerServiceImpl workers_;
};

}  // namespace

std::unique_ptr<GrpcServices> MakeGrpcServices(Scheduler* scheduler) {
  return std::make_unique<GrpcServicesImpl>(scheduler);
}

}  // namespace sematic::scheduler
