// Cross-process: the real sematic-scheduler daemon on loopback, a worker stream over real gRPC,
// and kill -9 of the daemon in the middle of a job. Every run completed before the kill must keep
// its result; the job must finish after a restart on the same data directory.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "common/digest.h"
#include "common/ids.h"
#include "common/status_matchers.h"
#include "tests/testing/processes.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "sematic/sematic.h"
#include "sematic/v1/admin_service.grpc.pb.h"
#include "sematic/v1/artifact_service.grpc.pb.h"
#include "sematic/v1/job.grpc.pb.h"
#include "sematic/v1/run_service.grpc.pb.h"
#include "sematic/v1/worker_service.grpc.pb.h"

namespace daemon_test {

namespace v1 = ::sematic::v1;

// The steps (Double, Total, DoubleAll, Hold...) come from worker/testing/test_steps.cc.

// The daemon on 127.0.0.1 with a kernel-chosen port, a short recovery grace and a heartbeat
// timeout long enough that a slow machine never drops the test's worker.
class Daemon : public sematic::testing::SchedulerProcess {
 public:
  explicit Daemon(const std::string& data_dir)
      : SchedulerProcess({SEMATIC_SCHEDULER_BINARY}, data_dir, 0,
                         {"--recovery-grace=300ms", "--heartbeat-timeout=120s"}) {}
  void Kill(int signal) { process().Kill(signal); }
};

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return context;
}

// A worker over a real stream: executes assignments with the SDK's invokers.
class Worker {
 public:
  Worker(const std::string& address, std::vector<v1::RunAttempt> in_flight = {},
         const std::string& id = "w1") {
    channel_ = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
    stub_ = v1::WorkerService::NewStub(channel_);
    context_ = std::make_unique<grpc::ClientContext>();
    context_->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    stream_ = stub_->Connect(context_.get());
    v1::WorkerMessage hello;
    hello.mutable_hello()->set_worker_id(id);
    for (const sematic::FuncInfo* f : sematic::ListFuncs()) {
      *hello.mutable_hello()->add_functions() = sematic::SignatureOf(*f);
    }
    hello.mutable_hello()->mutable_resources()->set_cpus(64);
    for (const auto& a : in_flight) *hello.mutable_hello()->add_in_flight() = a;
    stream_->Write(hello);
  }

  // Reads until an assignment batch arrives; false when the stream ends.
  bool NextAssignments(std::vector<v1::Assignment>* out) {
    v1::SchedulerMessage in;
    while (stream_->Read(&in)) {
      if (in.has_assignments()) {
        out->assign(in.assignments().assignments().begin(), in.assignments().assignments().end());
        return true;
      }
    }
    return false;
  }

  // The next message of any kind; false when the stream ends.
  bool Next(v1::SchedulerMessage* in) { return stream_->Read(in); }

  // Reads until a message satisfying `want` arrives; false when the stream ends first.
  bool ReadUntil(const std::function<bool(const v1::SchedulerMessage&)>& want,
                 v1::SchedulerMessage* in) {
    while (stream_->Read(in)) {
      if (want(*in)) return true;
    }
    return false;
  }

  bool Run(const v1::Assignment& a) { return Send(Result(a)); }

  static v1::RunResult Result(const v1::Assignment& a) {
    const sematic::FuncInfo* info = *sematic::FindFunc(a.function());
    std::vector<const v1::Value*> args;
    for (const auto& input : a.inputs()) args.push_back(&input.value());
    sematic::StepResult r = info->invoke(args);
    v1::RunResult result;
    result.set_run_id(a.run_id());
    result.set_attempt(a.attempt());
    if (r.graph != nullptr) {
      *result.mutable_graph() = *r.graph;
    } else {
      *result.mutable_value() = *r.value;
    }
    return result;
  }

  bool Send(v1::RunResult result) {
    v1::WorkerMessage m;
    *m.mutable_results()->add_results() = std::move(result);
    return stream_->Write(m);
  }

  void Close() { context_->TryCancel(); }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::WorkerMessage, v1::SchedulerMessage>> stream_;
};

std::map<std::string, v1::Run> Runs(const std::string& address, const std::string& job_id) {
  return sematic::testing::ListAllRuns(address, job_id);
}

TEST(SchedulerDaemonTest, KillNineMidJobLosesNoResult) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / ("daemon-" + sematic::RandomHex64());
  std::string job_id;
  std::map<std::string, std::string> completed;  // run id -> output digest
  std::vector<v1::Assignment> unfinished;  // assigned before the kill, finished after
  {
    Daemon daemon(dir.string());
    ASSERT_FALSE(daemon.address().empty()) << "the daemon did not start";
    Worker worker(daemon.address());
    auto jobs = v1::JobService::NewStub(
        grpc::CreateChannel(daemon.address(), grpc::InsecureChannelCredentials()));
    v1::SubmitJobRequest submit;
    submit.set_function("DoubleAll");
    v1::NamedArg* arg = submit.add_args();
    arg->set_name("n");
    *arg->mutable_value() = sematic::Encode(12);
    v1::SubmitJobResponse submitted;
    // The worker's Hello may land after the submit: retry briefly while no worker offers it.
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    grpc::Status status;
    while (absl::Now() < deadline) {
      status = jobs->SubmitJob(Context().get(), submit, &submitted);
      if (status.error_code() != grpc::StatusCode::NOT_FOUND) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    ASSERT_TRUE(status.ok()) << status.error_message();
    job_id = submitted.job().id();

    std::vector<v1::Assignment> batch;
    ASSERT_TRUE(worker.NextAssignments(&batch));
    ASSERT_EQ(batch.size(), 1u);
    ASSERT_TRUE(worker.Run(batch[0]));  // the nested root registers 12 Doubles
    ASSERT_TRUE(worker.NextAssignments(&batch));
    ASSERT_EQ(batch.size(), 12u);
    for (size_t i = 0; i < 6; ++i) ASSERT_TRUE(worker.Run(batch[i]));
    unfinished.assign(batch.begin() + 6, batch.end());
    // Wait until the six results are recorded, then kill -9.
    const absl::Time recorded_by = absl::Now() + absl::Seconds(30);
    while (absl::Now() < recorded_by) {
      completed.clear();
      for (const auto& [id, run] : Runs(daemon.address(), job_id)) {
        if (run.state() == v1::SUCCEEDED && run.function() == "Double") {
          completed[id] = run.output_digest();
        }
      }
      if (completed.size() == 6) break;
      absl::SleepFor(absl::Milliseconds(10));
    }
    ASSERT_EQ(completed.size(), 6u);
    daemon.Kill(SIGKILL);
    worker.Close();
  }

  Daemon restarted(dir.string());
  ASSERT_FALSE(restarted.address().empty());
  // The worker comes back still running the other six, reports them, and finishes them: their
  // results must be accepted (same attempt), not re-run.
  std::vector<v1::RunAttempt> in_flight;
  for (const auto& assignment : unfinished) {
    v1::RunAttempt a;
    a.set_run_id(assignment.run_id());
    a.set_attempt(assignment.attempt());
    in_flight.push_back(a);
  }
  Worker worker(restarted.address(), in_flight);
  for (const auto& assignment : unfinished) ASSERT_TRUE(worker.Run(assignment));
  auto jobs = v1::JobService::NewStub(
      grpc::CreateChannel(restarted.address(), grpc::InsecureChannelCredentials()));
  // Serve the job to its end. The job's state is read only when every result sent has been
  // acknowledged (acks follow the commit), so a stale RUNNING never sends the loop back to
  // wait for assignments that will not come.
  v1::Job job;
  size_t unacknowledged = unfinished.size();
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    if (unacknowledged == 0) {
      v1::GetJobRequest get;
      get.set_job_id(job_id);
      ASSERT_TRUE(jobs->GetJob(Context().get(), get, &job).ok());
      if (job.state() == v1::JOB_SUCCEEDED || job.state() == v1::JOB_FAILED) break;
    }
    v1::SchedulerMessage in;
    if (!worker.Next(&in)) break;
    if (in.has_assignments()) {
      for (const auto& a : in.assignments().assignments()) {
        ASSERT_TRUE(worker.Run(a));
        ++unacknowledged;
      }
    }
    if (in.has_ack()) {
      unacknowledged -= std::min<size_t>(
          unacknowledged, in.ack().accepted_size() + in.ack().rejected_size());
    }
  }
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  if (job.state() != v1::JOB_SUCCEEDED) {  // what stalled, for whoever reads the log
    for (const auto& [id, run] : Runs(restarted.address(), job_id)) {
      ADD_FAILURE() << id << " " << run.function() << " " << v1::RunState_Name(run.state())
                    << " attempt " << run.attempt() << " " << run.error();
    }
  }
  int expected = 0;
  for (int i = 0; i < 12; ++i) expected += 2 * i;
  EXPECT_EQ(job.output_digest(),
            sematic::ArtifactId(sematic::TypeOf<int>(), sematic::Encode(expected)));
  std::map<std::string, v1::Run> after = Runs(restarted.address(), job_id);
  for (const auto& assignment : unfinished) {
    EXPECT_EQ(after[assignment.run_id()].attempt(), 1)
        << "a run the worker still held was re-run after the restart";
  }
  for (const auto& [id, digest] : completed) {
    ASSERT_TRUE(after.contains(id));
    EXPECT_EQ(after[id].state(), v1::SUCCEEDED);
    EXPECT_EQ(after[id].output_digest(), digest) << id;
    EXPECT_EQ(after[id].attempt(), 1) << id << " ran again after the restart";
  }
  worker.Close();
  restarted.Kill(SIGTERM);
  std::filesystem::remove_all(dir);
}

// Submits `function(name=value)` once a worker offers it.
absl::StatusOr<v1::Job> SubmitWhenOffered(const std::string& address, const std::string& function,
                                          const std::string& name, v1::Value value) {
  v1::SubmitJobRequest submit;
  submit.set_function(function);
  v1::NamedArg* arg = submit.add_args();
  arg->set_name(name);
  *arg->mutable_value() = std::move(value);
  return sematic::testing::SubmitWhenOffered(address, submit);
}

v1::Job AwaitJob(const std::string& address, const std::string& job_id) {
  return sematic::testing::AwaitJobEnd(address, job_id);
}

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / ("daemon-" + sematic::RandomHex64());
    daemon_ = std::make_unique<Daemon>(dir_.string());
    ASSERT_FALSE(daemon_->address().empty()) << "the daemon did not start";
  }
  void TearDown() override {
    daemon_.reset();  // SIGKILL and reap
    std::filesystem::remove_all(dir_);
  }
  const std::string& address() const { return daemon_->address(); }

  std::filesystem::path dir_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(DaemonTest, AWorkersBrokenStreamSendsItsRunToAnotherWorker) {
  auto first = std::make_unique<Worker>(address(), std::vector<v1::RunAttempt>{}, "first");
  ASSERT_OK_AND_ASSIGN(v1::Job job, SubmitWhenOffered(address(), "Double", "x",
                                                      sematic::Encode(21)));
  std::vector<v1::Assignment> batch;
  ASSERT_TRUE(first->NextAssignments(&batch));
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].attempt(), 1);
  Worker second(address(), {}, "second");
  first->Close();  // the stream breaks mid-run
  first.reset();
  std::vector<v1::Assignment> retried;
  ASSERT_TRUE(second.NextAssignments(&retried));
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_EQ(retried[0].run_id(), batch[0].run_id());
  EXPECT_EQ(retried[0].attempt(), 2);
  ASSERT_TRUE(second.Run(retried[0]));
  v1::Job done = AwaitJob(address(), job.id());
  EXPECT_EQ(done.state(), v1::JOB_SUCCEEDED) << done.error();
  EXPECT_EQ(done.output_digest(), sematic::ArtifactId(sematic::TypeOf<int>(), sematic::Encode(42)));
  second.Close();
}

TEST_F(DaemonTest, CancelReachesTheWorkerRunningTheStep) {
  Worker worker(address());
  ASSERT_OK_AND_ASSIGN(v1::Job job, SubmitWhenOffered(address(), "DoubleAll", "n",
                                                      sematic::Encode(3)));
  std::vector<v1::Assignment> batch;
  ASSERT_TRUE(worker.NextAssignments(&batch));
  ASSERT_TRUE(worker.Run(batch[0]));  // the nested root registers three Doubles
  ASSERT_TRUE(worker.NextAssignments(&batch));
  ASSERT_EQ(batch.size(), 3u);
  auto jobs = v1::JobService::NewStub(
      grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
  v1::CancelJobRequest cancel;
  cancel.set_job_id(job.id());
  v1::CancelJobResponse cancelled;
  ASSERT_TRUE(jobs->CancelJob(Context().get(), cancel, &cancelled).ok());
  EXPECT_EQ(cancelled.job().state(), v1::JOB_CANCELED);
  v1::SchedulerMessage in;
  std::set<std::string> told;  // the cancellations may come in several messages
  while (told.size() < batch.size() &&
         worker.ReadUntil([](const v1::SchedulerMessage& m) { return m.has_cancel(); }, &in)) {
    for (const auto& a : in.cancel().runs()) told.insert(a.run_id());
  }
  for (const auto& a : batch) EXPECT_TRUE(told.contains(a.run_id())) << a.run_id();
  // A result that arrives after the cancel is not recorded.
  ASSERT_TRUE(worker.Run(batch[0]));
  ASSERT_TRUE(worker.ReadUntil([](const v1::SchedulerMessage& m) { return m.has_ack(); }, &in));
  EXPECT_EQ(in.ack().rejected_size(), 1);
  std::map<std::string, v1::Run> runs = Runs(address(), job.id());
  EXPECT_EQ(runs[batch[0].run_id()].state(), v1::CANCELED);
  worker.Close();
}

TEST_F(DaemonTest, AStaleAttemptIsRejectedAndTheCurrentOneRecorded) {
  Worker worker(address());
  ASSERT_OK_AND_ASSIGN(v1::Job job, SubmitWhenOffered(address(), "Double", "x",
                                                      sematic::Encode(5)));
  std::vector<v1::Assignment> batch;
  ASSERT_TRUE(worker.NextAssignments(&batch));
  ASSERT_EQ(batch.size(), 1u);
  v1::RunResult stale = Worker::Result(batch[0]);
  stale.set_attempt(batch[0].attempt() + 3);
  *stale.mutable_value() = sematic::Encode(999);
  ASSERT_TRUE(worker.Send(stale));
  v1::SchedulerMessage in;
  ASSERT_TRUE(worker.ReadUntil([](const v1::SchedulerMessage& m) { return m.has_ack(); }, &in));
  EXPECT_EQ(in.ack().rejected_size(), 1);
  EXPECT_EQ(in.ack().accepted_size(), 0);
  ASSERT_TRUE(worker.Run(batch[0]));
  ASSERT_TRUE(worker.ReadUntil([](const v1::SchedulerMessage& m) { return m.has_ack(); }, &in));
  EXPECT_EQ(in.ack().accepted_size(), 1);
  v1::Job done = AwaitJob(address(), job.id());
  EXPECT_EQ(done.state(), v1::JOB_SUCCEEDED);
  EXPECT_EQ(done.output_digest(), sematic::ArtifactId(sematic::TypeOf<int>(), sematic::Encode(10)));
  worker.Close();
}

// What a generic call got back: its status and the responses' bytes.
struct RawReply {
  grpc::Status status;
  std::vector<std::string> responses;
};

// Sends `requests` (raw bytes, whatever they hold), half-closes and reads every response, over a
// generic streaming call: no generated stubs, so the wire format is what the test says it is
// (the reflection and health protocols are spoken from their descriptors; malformed requests
// reach the server as they are). Serves unary and streaming methods alike.
RawReply RawCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                 const std::vector<std::string>& requests) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call = stub.PrepareCall(&context, method, &cq);
  void* tag;
  bool ok = false;
  auto wait = [&](intptr_t expected) {
    return cq.Next(&tag, &ok) && reinterpret_cast<intptr_t>(tag) == expected && ok;
  };
  RawReply reply;
  call->StartCall(reinterpret_cast<void*>(1));
  bool sent = wait(1);
  for (const std::string& request : requests) {
    if (!sent) break;
    grpc::Slice slice(request);
    grpc::ByteBuffer out(&slice, 1);
    call->Write(out, reinterpret_cast<void*>(2));
    sent = wait(2);
  }
  if (sent) {
    call->WritesDone(reinterpret_cast<void*>(3));
    sent = wait(3);
  }
  while (sent) {
    grpc::ByteBuffer in;
    call->Read(&in, reinterpret_cast<void*>(4));
    if (!wait(4)) break;
    std::vector<grpc::Slice> slices;
    in.Dump(&slices);
    std::string bytes;
    for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    reply.responses.push_back(std::move(bytes));
  }
  call->Finish(&reply.status, reinterpret_cast<void*>(5));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return reply;
}

// One request, then every response.
std::vector<std::string> Exchange(const std::shared_ptr<grpc::Channel>& channel,
                                  const std::string& method, const std::string& request) {
  return RawCall(channel, method, {request}).responses;
}

TEST(SchedulerDaemonTest, ReflectionListsTheServicesAndHealthSaysServing) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / ("daemon-" + sematic::RandomHex64());
  Daemon daemon(dir.string());
  ASSERT_FALSE(daemon.address().empty());
  auto channel = grpc::CreateChannel(daemon.address(), grpc::InsecureChannelCredentials());

  // grpc.reflection.v1alpha: ServerReflectionRequest{list_services: ""}, read with descriptors.
  // (Referencing the plugin links libgrpc++_reflection, which registers those descriptors.)
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool();
  const auto* request_type =
      pool->FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionRequest");
  const auto* response_type =
      pool->FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionResponse");
  ASSERT_NE(request_type, nullptr) << "link gRPC::grpc++_reflection for its descriptors";
  google::protobuf::DynamicMessageFactory factory(pool);
  std::unique_ptr<google::protobuf::Message> request(factory.GetPrototype(request_type)->New());
  request->GetReflection()->SetString(request.get(),
                                      request_type->FindFieldByName("list_services"), "");
  std::vector<std::string> responses =
      Exchange(channel, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
               request->SerializeAsString());
  ASSERT_EQ(responses.size(), 1u);
  std::unique_ptr<google::protobuf::Message> response(factory.GetPrototype(response_type)->New());
  ASSERT_TRUE(response->ParseFromString(responses[0]));
  std::vector<std::string> services;
  const auto* list_field = response_type->FindFieldByName("list_services_response");
  const google::protobuf::Message& list = response->GetReflection()->GetMessage(*response, list_field);
  const auto* service_field = list.GetDescriptor()->FindFieldByName("service");
  for (int i = 0; i < list.GetReflection()->FieldSize(list, service_field); ++i) {
    const google::protobuf::Message& service =
        list.GetReflection()->GetRepeatedMessage(list, service_field, i);
    services.push_back(service.GetReflection()->GetString(
        service, service.GetDescriptor()->FindFieldByName("name")));
  }
  EXPECT_THAT(services, ::testing::IsSupersetOf({"sematic.v1.JobService", "sematic.v1.RunService",
                                                 "sematic.v1.ArtifactService",
                                                 "sematic.v1.AdminService",
                                                 "sematic.v1.WorkerService",
                                                 "grpc.health.v1.Health"}));

  // Health is described too, not only listed: file_containing_symbol finds its definition.
  std::unique_ptr<google::protobuf::Message> describe(factory.GetPrototype(request_type)->New());
  describe->GetReflection()->SetString(
      describe.get(), request_type->FindFieldByName("file_containing_symbol"),
      "grpc.health.v1.Health");
  std::vector<std::string> described =
      Exchange(channel, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
               describe->SerializeAsString());
  ASSERT_EQ(described.size(), 1u);
  std::unique_ptr<google::protobuf::Message> file(factory.GetPrototype(response_type)->New());
  ASSERT_TRUE(file->ParseFromString(described[0]));
  EXPECT_TRUE(file->GetReflection()->HasField(
      *file, response_type->FindFieldByName("file_descriptor_response")))
      << file->DebugString();

  // grpc.health.v1.Health/Check{service: ""} answers {status: SERVING (1)}: field 1, varint 1.
  std::vector<std::string> health = Exchange(channel, "/grpc.health.v1.Health/Check", "");
  ASSERT_EQ(health.size(), 1u);
  EXPECT_EQ(health[0], std::string("\x08\x01", 2));
  daemon.Kill(SIGTERM);
  std::filesystem::remove_all(dir);
}

}  // namespace daemon_test

namespace daemon_test {

// /metrics on the HTTP port counts the gRPC calls served, by method and final code.
TEST(SchedulerDaemonTest, MetricsCountGrpcCallsByMethodAndCode) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / ("daemon-" + sematic::RandomHex64());
  sematic::testing::SchedulerProcess daemon({SEMATIC_SCHEDULER_BINARY}, dir.string(), 0,
                                            {"--recovery-grace=300ms", "--http-port=0"});
  ASSERT_FALSE(daemon.address().empty());
  ASSERT_FALSE(daemon.http_url().empty());
  auto channel = grpc::CreateChannel(daemon.address(), grpc::InsecureChannelCredentials());
  auto jobs = v1::JobService::NewStub(channel);
  v1::GetJobRequest get;
  get.set_job_id("j0000000000ff");
  v1::Job job;
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(jobs->GetJob(Context().get(), get, &job).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  v1::SchedulerInfo info;
  ASSERT_TRUE(v1::AdminService::NewStub(channel)
                  ->GetSchedulerInfo(Context().get(), v1::GetSchedulerInfoRequest(), &info)
                  .ok());

  httplib::Client http(daemon.http_url());
  httplib::Result metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_THAT(metrics->body,
              ::testing::HasSubstr("sematic_grpc_requests_total{method=\"/sematic.v1.JobService/GetJob\","
                        "code=\"NOT_FOUND\"} 2\n"));
  EXPECT_THAT(metrics->body, ::testing::HasSubstr("sematic_grpc_requests_total{method=\"/sematic.v1."
                                       "AdminService/GetSchedulerInfo\",code=\"OK\"} 1\n"));
  EXPECT_THAT(metrics->body, ::testing::HasSubstr("sematic_commit_seconds_count "));
  EXPECT_THAT(metrics->body, ::testing::HasSubstr("sematic_dispatch_seconds_bucket{le=\"+Inf\"} "));
  httplib::Result health = http.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  daemon.process().Kill(SIGTERM);
  std::filesystem::remove_all(dir);
}

TEST(SchedulerDaemonTest, BadLimitFlagsAreRefusedInOneLineNamingTheFlag) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                                    ("daemon-flags-" + sematic::RandomHex64());
  for (const auto& [flag, expected] : std::vector<std::pair<std::string, std::string>>{
           {"--max-message-bytes=1000", "--max-message-bytes: expected 4259840 to"},
           {"--max-message-bytes=4294967296", "--max-message-bytes: expected"},
           {"--max-graph-nodes=0", "--max-graph-nodes: expected a positive number"}}) {
    const sematic::testing::ProcessResult r = sematic::testing::RunProcess(
        {SEMATIC_SCHEDULER_BINARY, "--data-dir=" + dir.string(), "--port=0", "--host=127.0.0.1",
         flag},
        absl::Seconds(30));
    EXPECT_EQ(r.exit_code, 2) << flag << ": " << r.err;
    EXPECT_THAT(r.err, ::testing::HasSubstr(expected)) << flag;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace daemon_test

namespace daemon_test {

// Bytes that are not a request message reach no handler: gRPC's deserialization fails first.
// Every method answers INVALID_ARGUMENT naming the request type, and the daemon goes on serving.
TEST_F(DaemonTest, RequestsThatDoNotParseAreInvalidArgumentNamingTheType) {
  auto channel = grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
  const std::string garbage = "\xff\xff\xff\xff\xff";  // a tag whose varint never ends
  const std::string bad_utf8_id = "\x0a\x02\xc3\x28";  // field 1 (a string): not UTF-8
  struct Case {
    std::string method;
    std::string bytes;
    std::string type;
  };
  for (const Case& c : std::vector<Case>{
           {"/sematic.v1.JobService/SubmitJob", garbage, "sematic.v1.SubmitJobRequest"},
           {"/sematic.v1.JobService/GetJob", bad_utf8_id, "sematic.v1.GetJobRequest"},
           {"/sematic.v1.RunService/ListRuns", garbage, "sematic.v1.ListRunsRequest"},
           {"/sematic.v1.AdminService/ListWorkers", garbage, "sematic.v1.ListWorkersRequest"},
           {"/sematic.v1.JobService/WatchJob", bad_utf8_id, "sematic.v1.WatchJobRequest"},
           {"/sematic.v1.ArtifactService/Download", garbage, "sematic.v1.DownloadRequest"},
           {"/sematic.v1.ArtifactService/Upload", garbage, "sematic.v1.UploadChunk"},
           {"/sematic.v1.WorkerService/Connect", garbage, "sematic.v1.WorkerMessage"}}) {
    RawReply reply = RawCall(channel, c.method, {c.bytes});
    EXPECT_EQ(reply.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.method << ": " << reply.status.error_code() << " " << reply.status.error_message();
    EXPECT_THAT(reply.status.error_message(), ::testing::HasSubstr(c.type)) << c.method;
    EXPECT_THAT(reply.status.error_message(), ::testing::HasSubstr("could not be parsed"))
        << c.method;
    EXPECT_TRUE(reply.responses.empty()) << c.method;
  }
  // A method the daemon does not serve stays UNIMPLEMENTED, whatever its bytes.
  RawReply unknown = RawCall(channel, "/sematic.v1.JobService/NoSuchMethod", {garbage});
  EXPECT_EQ(unknown.status.error_code(), grpc::StatusCode::UNIMPLEMENTED)
      << unknown.status.error_message();
  // Still serving: a well-formed request gets its ordinary answer.
  v1::GetJobRequest get;
  get.set_job_id("no-such-job");
  RawReply ordinary = RawCall(channel, "/sematic.v1.JobService/GetJob", {get.SerializeAsString()});
  EXPECT_EQ(ordinary.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << ordinary.status.error_message();
  EXPECT_THAT(ordinary.status.error_message(), ::testing::Not(::testing::HasSubstr("parsed")));
}

}  // namespace daemon_test

namespace daemon_test {

int64_t BlobBytes(const sematic::Blob& blob) { return static_cast<int64_t>(blob.data.size()); }
SEMATIC_FUNC(BlobBytes, "blob");

// Uploads `bytes` in one chunk (a raw payload when `payload`); the upload's status.
grpc::Status UploadOnce(const std::string& address, const std::string& bytes, bool payload) {
  auto artifacts = v1::ArtifactService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  v1::UploadResponse response;
  std::unique_ptr<grpc::ClientContext> context = Context();
  auto writer = artifacts->Upload(context.get(), &response);
  v1::UploadChunk chunk;
  chunk.set_digest(sematic::Sha256Hex(bytes));
  chunk.set_total_size(bytes.size());
  chunk.set_data(bytes);
  chunk.set_payload(payload);
  writer->Write(chunk);
  writer->WritesDone();
  return writer->Finish();
}

// Canonical form (sematic/payload.h) is enforced where values enter: a payload of 1 MiB or more
// held inline, and a ref to a payload never uploaded, are refused with the field named, at submit
// and at upload; before, both were accepted and the second failed its job after 4 attempts.
TEST_F(DaemonTest, NonCanonicalValuesAreRefusedAtSubmitAndUpload) {
  Worker worker(address());
  const std::string big(2 << 20, 'b');

  absl::StatusOr<v1::Job> inline_blob =
      SubmitWhenOffered(address(), "BlobBytes", "blob", sematic::Encode(sematic::Blob{big}));
  EXPECT_EQ(inline_blob.status().code(), absl::StatusCode::kInvalidArgument)
      << inline_blob.status();
  EXPECT_THAT(inline_blob.status().message(),
              ::testing::HasSubstr("args[0].value: a BLOB of 2097152 bytes inline"));

  v1::Value dangling = sematic::Encode(sematic::Blob{big});
  std::vector<sematic::Payload> payloads = sematic::ExternalizePayloads(&dangling);
  ASSERT_EQ(payloads.size(), 1u);
  absl::StatusOr<v1::Job> never_uploaded =
      SubmitWhenOffered(address(), "BlobBytes", "blob", dangling);
  EXPECT_EQ(never_uploaded.status().code(), absl::StatusCode::kFailedPrecondition)
      << never_uploaded.status();
  EXPECT_THAT(never_uploaded.status().message(),
              ::testing::HasSubstr("args[0].value: payload " + payloads[0].digest));

  // The case: a tensor whose data is a payload never uploaded.
  v1::Value tensor = sematic::Encode(sematic::Tensor(sematic::DType::kFloat32, {1 << 19}));
  std::vector<sematic::Payload> tensor_payloads = sematic::ExternalizePayloads(&tensor);
  ASSERT_EQ(tensor_payloads.size(), 1u);
  absl::StatusOr<v1::Job> dangling_tensor =
      SubmitWhenOffered(address(), "CheckTensor", "t", tensor);
  EXPECT_EQ(dangling_tensor.status().code(), absl::StatusCode::kFailedPrecondition)
      << dangling_tensor.status();
  EXPECT_THAT(dangling_tensor.status().message(),
              ::testing::HasSubstr("args[0].value: payload " + tensor_payloads[0].digest));

  v1::TypedValue typed;
  *typed.mutable_type() = sematic::TypeOf<sematic::Blob>();
  *typed.mutable_value() = sematic::Encode(sematic::Blob{big});
  grpc::Status uploaded = UploadOnce(address(), typed.SerializeAsString(), /*payload=*/false);
  EXPECT_EQ(uploaded.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << uploaded.error_message();
  EXPECT_THAT(uploaded.error_message(),
              ::testing::HasSubstr("data.value: a BLOB of 2097152 bytes inline"));
  *typed.mutable_value() = dangling;
  uploaded = UploadOnce(address(), typed.SerializeAsString(), /*payload=*/false);
  EXPECT_EQ(uploaded.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << uploaded.error_message();
  EXPECT_THAT(uploaded.error_message(),
              ::testing::HasSubstr("data.value: payload " + payloads[0].digest));

  // Once the payload is uploaded, the same value is accepted at both doors.
  grpc::Status payload = UploadOnce(address(), payloads[0].bytes, /*payload=*/true);
  ASSERT_TRUE(payload.ok()) << payload.error_message();
  uploaded = UploadOnce(address(), typed.SerializeAsString(), /*payload=*/false);
  EXPECT_TRUE(uploaded.ok()) << uploaded.error_message();
  absl::StatusOr<v1::Job> submitted = SubmitWhenOffered(address(), "BlobBytes", "blob", dangling);
  EXPECT_TRUE(submitted.ok()) << submitted.status();
  worker.Close();
}

}  // namespace daemon_test
