// The scheduler behind its real gRPC services on loopback, driven by a worker stream and a client.
#include "scheduler/service/grpc_services.h"

#include <sys/resource.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include "common/digest.h"
#include "common/ids.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "sematic/sematic.h"
#include "sematic/v1/admin_service.grpc.pb.h"
#include "sematic/v1/artifact_service.grpc.pb.h"
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
    int port = 0;
    server_ = sch::ServeOnLoopback(*services_, &port);
    ASSERT_NE(server_, nullptr);
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

  static std::unique_ptr<grpc::ClientContext> Context(int seconds = 30) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
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

// ---- Artifacts and run history over gRPC ---------------------------------------------------------

// Fills `out` with bytes [offset, offset + n) of an upload.
using ByteSource = std::function<void(uint64_t offset, size_t n, std::string* out)>;

// Uploads `size` bytes from `source` in chunks of `chunk` bytes; the first carries the digest.
grpc::Status UploadStream(v1::ArtifactService::Stub& stub, grpc::ClientContext* context,
                          const std::string& digest, uint64_t size, size_t chunk,
                          const ByteSource& source, v1::UploadResponse* response) {
  std::unique_ptr<grpc::ClientWriter<v1::UploadChunk>> writer = stub.Upload(context, response);
  v1::UploadChunk message;
  for (uint64_t at = 0; at < size; at += chunk) {
    message.Clear();
    if (at == 0) {
      message.set_digest(digest);
      message.set_total_size(size);
    }
    source(at, static_cast<size_t>(std::min<uint64_t>(chunk, size - at)),
           message.mutable_data());
    if (!writer->Write(message)) break;  // the server ended the stream: Finish says why
  }
  writer->WritesDone();
  return writer->Finish();
}

// Downloads [offset, offset + limit), handing each chunk to `sink`; checks offsets and chunk sizes.
grpc::Status DownloadStream(v1::ArtifactService::Stub& stub, grpc::ClientContext* context,
                            const std::string& digest, uint64_t offset, uint64_t limit,
                            const std::function<void(const std::string&)>& sink,
                            uint64_t* total_size = nullptr) {
  v1::DownloadRequest request;
  request.set_digest(digest);
  request.set_offset(offset);
  request.set_limit(limit);
  std::unique_ptr<grpc::ClientReader<v1::DownloadChunk>> reader = stub.Download(context, request);
  v1::DownloadChunk chunk;
  uint64_t at = offset;
  while (reader->Read(&chunk)) {
    EXPECT_EQ(chunk.offset(), at);
    EXPECT_LE(chunk.data().size(), size_t{1} << 20);
    if (total_size != nullptr) *total_size = chunk.total_size();
    at += chunk.data().size();
    sink(chunk.data());
  }
  return reader->Finish();
}

TEST_F(GrpcServicesTest, A64MiBArtifactUploadsAndDownloadsByteIdenticalWithAResume) {
  std::string data(64 << 20, '\0');
  for (size_t i = 0; i + 8 <= data.size(); i += 8) {
    const uint64_t word = i * 0x9E3779B97F4A7C15ull;
    std::memcpy(&data[i], &word, 8);
  }
  const v1::TypeDesc type = sematic::TypeOf<sematic::Bytes>();
  const v1::Value value = sematic::Encode(sematic::Bytes{std::move(data)});
  const std::string bytes = *sematic::CanonicalBytes(type, value);
  const std::string digest = sematic::Sha256Hex(bytes);
  auto stub = v1::ArtifactService::NewStub(channel_);

  v1::FindMissingRequest find;
  find.add_digests(digest);
  v1::FindMissingResponse missing;
  ASSERT_TRUE(stub->FindMissing(Context().get(), find, &missing).ok());
  EXPECT_THAT(missing.missing(), ::testing::ElementsAre(digest));

  const ByteSource from_bytes = [&](uint64_t at, size_t n, std::string* out) {
    out->assign(bytes, at, n);
  };
  // A chunk over 4 MiB is refused, and nothing is kept.
  v1::UploadResponse uploaded;
  grpc::Status status = UploadStream(*stub, Context().get(), digest, bytes.size(),
                                     (4 << 20) + 1, from_bytes, &uploaded);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("data: a chunk of"));
  // Exactly 4 MiB per chunk is fine.
  status = UploadStream(*stub, Context().get(), digest, bytes.size(), 4 << 20, from_bytes,
                        &uploaded);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(uploaded.digest(), digest);
  EXPECT_EQ(uploaded.committed_size(), bytes.size());
  ASSERT_TRUE(stub->FindMissing(Context().get(), find, &missing).ok());
  EXPECT_EQ(missing.missing_size(), 0);

  v1::GetArtifactRequest get;
  get.set_digest(digest);
  get.set_include_json(true);
  get.set_json_max_elements(16);
  v1::GetArtifactResponse meta;
  ASSERT_TRUE(stub->GetArtifact(Context().get(), get, &meta).ok());
  EXPECT_EQ(meta.meta().size_bytes(), bytes.size());
  EXPECT_EQ(meta.meta().type().kind(), v1::TypeDesc::BYTES);
  // Over the 64 MiB rendering cap: the view says so instead of loading the value.
  EXPECT_THAT(meta.json(), ::testing::HasSubstr("preview_unavailable"));
  EXPECT_LT(meta.json().size(), 300u);

  // Download the first 40 MiB, then resume from where it stopped.
  std::string back;
  uint64_t total = 0;
  status = DownloadStream(*stub, Context().get(), digest, 0, 40 << 20,
                          [&](const std::string& piece) { back += piece; }, &total);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(back.size(), size_t{40} << 20);
  EXPECT_EQ(total, bytes.size());
  status = DownloadStream(*stub, Context().get(), digest, back.size(), 0,
                          [&](const std::string& piece) { back += piece; });
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(back.size(), bytes.size());
  EXPECT_TRUE(back == bytes);

  status = DownloadStream(*stub, Context().get(), digest, bytes.size() + 1, 0,
                          [](const std::string&) {});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  status = DownloadStream(*stub, Context().get(), sematic::Sha256Hex("none"), 0, 0,
                          [](const std::string&) {});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcServicesTest, RunLogsFollowUntilTheRunEndsAndMetricsAndLineageAreServed) {
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
  auto jobs = v1::JobService::NewStub(channel_);
  v1::SubmitJobRequest submit;
  submit.set_function("Cube");
  v1::NamedArg* arg = submit.add_args();
  arg->set_name("x");
  *arg->mutable_value() = sematic::Encode(2);
  v1::SubmitJobResponse submitted;
  ASSERT_TRUE(jobs->SubmitJob(Context().get(), submit, &submitted).ok());
  ASSERT_TRUE(stream->Read(&in));
  ASSERT_TRUE(in.has_assignments());
  const v1::Assignment a = in.assignments().assignments(0);

  // Follow the log from the start, before any line exists.
  auto runs = v1::RunService::NewStub(channel_);
  v1::GetRunLogsRequest follow;
  follow.set_run_id(a.run_id());
  follow.set_follow(true);
  auto follow_context = Context();
  auto lines = runs->GetRunLogs(follow_context.get(), follow);

  v1::WorkerMessage logs;
  v1::RunLogs* run_logs = logs.mutable_logs()->add_runs();
  run_logs->set_run_id(a.run_id());
  run_logs->add_entries()->set_text("one");
  run_logs->add_entries()->set_text("two");
  v1::MetricPoint* loss = run_logs->add_metrics();
  loss->set_name("loss");
  loss->set_value(0.5);
  v1::MetricPoint* acc = run_logs->add_metrics();
  acc->set_name("acc");
  acc->set_value(0.9);
  ASSERT_TRUE(stream->Write(logs));

  std::vector<std::string> texts;
  v1::LogLines page;
  while (texts.size() < 2 && lines->Read(&page)) {
    EXPECT_EQ(page.first_index(), texts.size());
    for (const auto& e : page.entries()) texts.push_back(e.text());
  }
  EXPECT_THAT(texts, ::testing::ElementsAre("one", "two"));

  // The run ends: the follower's stream ends with OK.
  v1::WorkerMessage done;
  v1::RunResult* r = done.mutable_results()->add_results();
  r->set_run_id(a.run_id());
  r->set_attempt(a.attempt());
  *r->mutable_value() = sematic::Encode(8);
  ASSERT_TRUE(stream->Write(done));
  EXPECT_FALSE(lines->Read(&page));
  grpc::Status status = lines->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();

  // Resume from index 1 without following.
  v1::GetRunLogsRequest resume;
  resume.set_run_id(a.run_id());
  resume.set_from_index(1);
  auto resume_context = Context();
  auto rest = runs->GetRunLogs(resume_context.get(), resume);
  texts.clear();
  while (rest->Read(&page)) {
    for (const auto& e : page.entries()) texts.push_back(e.text());
  }
  EXPECT_TRUE(rest->Finish().ok());
  EXPECT_THAT(texts, ::testing::ElementsAre("two"));

  v1::GetRunMetricsRequest metrics_request;
  metrics_request.set_run_id(a.run_id());
  metrics_request.set_name("acc");
  v1::GetRunMetricsResponse metrics;
  ASSERT_TRUE(runs->GetRunMetrics(Context().get(), metrics_request, &metrics).ok());
  ASSERT_EQ(metrics.points_size(), 1);
  EXPECT_EQ(metrics.points(0).value(), 0.9);

  v1::GetLineageRequest lineage_request;
  lineage_request.set_artifact_digest(sematic::ArtifactId(sematic::TypeOf<int>(),
                                                          sematic::Encode(8)));
  v1::GetLineageResponse lineage;
  ASSERT_TRUE(runs->GetLineage(Context().get(), lineage_request, &lineage).ok());
  ASSERT_EQ(lineage.runs_size(), 1);
  EXPECT_EQ(lineage.runs(0).id(), a.run_id());

  v1::GetRunLogsRequest unknown;
  unknown.set_run_id(sch::FormatRunId({4242, 0}));
  auto unknown_context = Context();
  auto none = runs->GetRunLogs(unknown_context.get(), unknown);
  EXPECT_FALSE(none->Read(&page));
  EXPECT_EQ(none->Finish().error_code(), grpc::StatusCode::NOT_FOUND);

  stream->WritesDone();
  while (stream->Read(&in)) {
  }
  EXPECT_TRUE(stream->Finish().ok());
}

// A TypedValue of BYTES holding `size` generated bytes, streamed without ever being in memory:
// the serialization's head is written by hand (a protobuf message cannot exceed 2 GiB).
class GeneratedBytesValue {
 public:
  explicit GeneratedBytesValue(uint64_t size) : size_(size) {
    std::string type;
    {
      google::protobuf::io::StringOutputStream out(&type);
      google::protobuf::io::CodedOutputStream coded(&out);
      coded.SetSerializationDeterministic(true);
      sematic::TypeOf<sematic::Bytes>().SerializeToCodedStream(&coded);
    }
    google::protobuf::io::StringOutputStream out(&head_);
    google::protobuf::io::CodedOutputStream coded(&out);
    const uint64_t value_size =
        1 + google::protobuf::io::CodedOutputStream::VarintSize64(size) + size;
    coded.WriteTag((1 << 3) | 2);  // TypedValue.type
    coded.WriteVarint32(static_cast<uint32_t>(type.size()));
    coded.WriteRaw(type.data(), static_cast<int>(type.size()));
    coded.WriteTag((2 << 3) | 2);  // TypedValue.value
    coded.WriteVarint64(value_size);
    coded.WriteTag((6 << 3) | 2);  // Value.bytes_value
    coded.WriteVarint64(size);
  }

  uint64_t total_size() const { return head_.size() + size_; }

  // Bytes [offset, offset + n) of the serialization.
  void Fill(uint64_t offset, size_t n, std::string* out) const {
    out->resize(n);
    for (size_t i = 0; i < n; ++i) {
      const uint64_t at = offset + i;
      if (at < head_.size()) {
        (*out)[i] = head_[at];
        continue;
      }
      // The rest is a cheap pattern, filled a word at a time where aligned.
      const uint64_t d = at - head_.size();
      if (d % 8 == 0 && i + 8 <= n) {
        const uint64_t word = (d / 8) * 0x9E3779B97F4A7C15ull;
        std::memcpy(&(*out)[i], &word, 8);
        i += 7;
      } else {
        const uint64_t word = (d / 8) * 0x9E3779B97F4A7C15ull;
        (*out)[i] = static_cast<char>(word >> (8 * (d % 8)));
      }
    }
  }

  std::string Digest() const {
    sematic::Sha256 sha;
    std::string chunk;
    for (uint64_t at = 0; at < total_size(); at += kChunk) {
      Fill(at, static_cast<size_t>(std::min<uint64_t>(kChunk, total_size() - at)), &chunk);
      sha.Update(chunk);
    }
    return sha.HexDigest();
  }

  static constexpr size_t kChunk = 4 << 20;

 private:
  const uint64_t size_;
  std::string head_;
};

long PeakRssKiB() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

// Several GiB must stream through Upload and Download without being held in memory. Takes about
// 10 s and writes 2 GiB to disk, so it runs on demand:
//   grpc_services_test --gtest_also_run_disabled_tests --gtest_filter='*TwoGiB*'
// Figures: docs/benchmarks.md.
TEST_F(GrpcServicesTest, DISABLED_AnUploadOfOverTwoGiBStreamsInBoundedMemory) {
  const GeneratedBytesValue value((uint64_t{2} << 30) + (uint64_t{1} << 20));
  const long rss_before = PeakRssKiB();
  absl::Time start = absl::Now();
  const std::string digest = value.Digest();
  const absl::Duration hashing = absl::Now() - start;

  auto stub = v1::ArtifactService::NewStub(channel_);
  v1::UploadResponse uploaded;
  start = absl::Now();
  grpc::Status status = UploadStream(
      *stub, Context(600).get(), digest, value.total_size(), GeneratedBytesValue::kChunk,
      [&](uint64_t at, size_t n, std::string* out) { value.Fill(at, n, out); }, &uploaded);
  const absl::Duration upload = absl::Now() - start;
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(uploaded.committed_size(), value.total_size());

  sematic::Sha256 sha;
  uint64_t received = 0;
  start = absl::Now();
  status = DownloadStream(*stub, Context(600).get(), digest, 0, 0, [&](const std::string& piece) {
    sha.Update(piece);
    received += piece.size();
  });
  const absl::Duration download = absl::Now() - start;
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(received, value.total_size());
  EXPECT_EQ(sha.HexDigest(), digest);

  const long rss_after = PeakRssKiB();
  std::printf("2 GiB+ artifact (%llu bytes): client hash %s, upload %s (%.0f MiB/s), download %s "
              "(%.0f MiB/s), peak RSS %ld MiB before, %ld MiB after\n",
              static_cast<unsigned long long>(value.total_size()),
              absl::FormatDuration(hashing).c_str(), absl::FormatDuration(upload).c_str(),
              value.total_size() / 1048576.0 / absl::ToDoubleSeconds(upload),
              absl::FormatDuration(download).c_str(),
              value.total_size() / 1048576.0 / absl::ToDoubleSeconds(download),
              rss_before / 1024, rss_after / 1024);
  // Client and server share this process: holding the blob anywhere would add 2 GiB.
  EXPECT_LT(rss_after - rss_before, 512L * 1024);
}

}  // namespace grpc_services_test
