// The scheduler behind its real gRPC services on loopback, driven by a worker stream and a client.
#include "scheduler/service/grpc_services.h"

#include <filesystem>
#include <thread>

#include "common/ids.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "sematic/sematic.h"
#include "sematic/v1/admin_service.grpc.pb.h"
#include "sematic/v1/job.grpc.pb.h"
#include "sematic/v1/run_service.grpc.pb.h"
#include "sematic/v1/worker_service.grpc.pb.h"
#include "scheduler/store/keys.h"

namespace grpc_services_test {

namespace v1 = ::sematic::v1;
namespace sch = ::sematic::scheduler;

int Cube(int x) { return x * x * x; }
SEMATIC_FUNC(Cube, "x");

class GrpcServicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / ("grpc-" + sematic::RandomHex64());
    sch::SchedulerOptions options;
    options.data_dir = dir_.string();
    options.recovery_grace = absl::Milliseconds(100);
    ASSERT_OK_AND_ASSIGN(scheduler_, sch::Scheduler::Create(options));
    services_ = sch::MakeGrpcServices(scheduler_.get());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    services_->RegisterWith(builder);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials());
  }

  void TearDown() override {
    scheduler_->Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_.reset();
    services_.reset();
    scheduler_.reset();
    std::filesystem::remove_all(dir_);
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return context;
  }

  std::filesystem::path dir_;
  std::unique_ptr<sch::Scheduler> scheduler_;
  std::unique_ptr<sch::GrpcServices> services_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(GrpcServicesTest, AWorkerStreamRunsASubmittedJob) {
  auto workers = v1::WorkerService::NewStub(channel_);
  auto worker_context = Context();
  auto stream = workers->Connect(worker_context.get());
  v1::WorkerMessage hello;
  hello.mutable_hello()->set_worker_id("w1");
  *hello.mutable_hello()->add_functions() = sematic::SignatureOf(**sematic::FindFunc("Cube"));
  hello.mutable_hello()->mutable_resources()->set_cpus(2);
  ASSERT_TRUE(stream->Write(hello));
  v1::SchedulerMessage in;
  ASSERT_TRUE(stream->Read(&in));
  EXPECT_TRUE(in.has_welcome());

  auto jobs = v1::JobService::NewStub(channel_);
  v1::SubmitJobRequest submit;
  submit.set_function("Cube");
  v1::NamedArg* arg = submit.add_args();
  arg->set_name("x");
  *arg->mutable_value() = sematic::Encode(3);
  v1::SubmitJobResponse submitted;
  ASSERT_TRUE(jobs->SubmitJob(Context().get(), submit, &submitted).ok());

  ASSERT_TRUE(stream->Read(&in));
  ASSERT_TRUE(in.has_assignments());
  const v1::Assignment& a = in.assignments().assignments(0);
  EXPECT_EQ(a.function(), "Cube");
  const sematic::FuncInfo* cube = *sematic::FindFunc("Cube");
  std::vector<const v1::Value*> args = {&a.inputs(0).value()};
  sematic::StepResult result = cube->invoke(args);
  v1::WorkerMessage done;
  v1::RunResult* r = done.mutable_results()->add_results();
  r->set_run_id(a.run_id());
  r->set_attempt(a.attempt());
  *r->mutable_value() = *result.value;
  ASSERT_TRUE(stream->Write(done));

  // The watch replays the job's events and ends when the job does.
  v1::WatchJobRequest watch;
  watch.set_job_id(submitted.job().id());
  auto watch_context = Context();
  auto events = jobs->WatchJob(watch_context.get(), watch);
  v1::JobEvent event;
  v1::JobState last = v1::JOB_STATE_UNSPECIFIED;
  uint64_t sequence = 0;
  while (events->Read(&event)) {
    if (event.sequence() != 0) {  // 0: a live progress event, not stored
      EXPECT_EQ(event.sequence(), sequence + 1);
      sequence = event.sequence();
    }
    if (event.has_job()) last = event.job().state();
  }
  EXPECT_TRUE(events->Finish().ok());
  EXPECT_EQ(last, v1::JOB_SUCCEEDED);

  v1::GetJobRequest get;
  get.set_job_id(submitted.job().id());
  v1::Job job;
  ASSERT_TRUE(jobs->GetJob(Context().get(), get, &job).ok());
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED);
  EXPECT_EQ(job.output_digest(),
            sematic::ArtifactId(sematic::TypeOf<int>(), sematic::Encode(27)));

  auto admin = v1::AdminService::NewStub(channel_);
  v1::ListWorkersResponse listed;
  ASSERT_TRUE(admin->ListWorkers(Context().get(), {}, &listed).ok());
  ASSERT_EQ(listed.workers_size(), 1);
  EXPECT_EQ(listed.workers(0).worker_id(), "w1");

  stream->WritesDone();
  while (stream->Read(&in)) {  // the scheduler's acks
  }
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(GrpcServicesTest, ErrorsKeepTheirCanonicalCodes) {
  auto jobs = v1::JobService::NewStub(channel_);
  v1::GetJobRequest get;
  get.set_job_id("not-a-job");
  v1::Job job;
  grpc::Status s = jobs->GetJob(Context().get(), get, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("not-a-job"));
  get.set_job_id(sch::FormatJobId(777));
  EXPECT_EQ(jobs->GetJob(Context().get(), get, &job).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::SubmitJobRequest submit;
  v1::SubmitJobResponse submitted;
  s = jobs->SubmitJob(Context().get(), submit, &submitted);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("function"));
}

TEST_F(GrpcServicesTest, AStreamThatDoesNotSayHelloIsClosed) {
  auto workers = v1::WorkerService::NewStub(channel_);
  auto context = Context();
  auto stream = workers->Connect(context.get());
  v1::WorkerMessage heartbeat;
  heartbeat.mutable_heartbeat()->set_unix_micros(1);
  ASSERT_TRUE(stream->Write(heartbeat));
  v1::SchedulerMessage in;
  while (stream->Read(&in)) {
  }
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("hello"));
}

}  // namespace grpc_services_test
