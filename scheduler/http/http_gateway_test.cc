// The HTTP gateway over a real scheduler and an in-process worker running real SDK steps, driven
// by an HTTP client on 127.0.0.1: every route's success and error mapping, server-sent events and
// their resumption, bad input, and a client that disconnects mid-stream.
#include "scheduler/http/http_gateway.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "scheduler/core/scheduler.h"
#include "scheduler/http/json_mapping.h"
#include "sematic/sematic.h"
#include "sematic/v1/http.pb.h"
#include "worker/in_process.h"
#include "worker/worker.h"

namespace http_gateway_test {

namespace v1 = ::sematic::v1;
namespace sch = ::sematic::scheduler;
namespace fs = std::filesystem;
using ::sematic::Call;
using ::sematic::Future;
using ::testing::HasSubstr;

int Square(int x) {
  sematic::Context& ctx = sematic::Context::Current();
  ctx.Log("squaring ", x);
  ctx.LogMetric("x", x, 1);
  return x * x;
}
SEMATIC_FUNC(Square, "x");

int Sum(const std::vector<int>& xs) {
  int t = 0;
  for (int x : xs) t += x;
  return t;
}
SEMATIC_FUNC(Sum, "xs");

Future<int> SumOfSquares(int n) {
  std::vector<Future<int>> squares;
  for (int i = 0; i < n; ++i) squares.push_back(Call(Square, i));
  return Call(Sum, squares);
}
SEMATIC_FUNC(SumOfSquares, "n");

sematic::Image Picture() {
  std::vector<uint8_t> rgb(4 * 2 * 3, 255);
  return *sematic::Image::FromRgb8(4, 2, rgb.data());
}
SEMATIC_FUNC(Picture);

// Logs `lines` lines, then waits until the test releases it (or it is cancelled).
absl::Notification* release_chatty = nullptr;
int Chatty(int lines) {
  sematic::Context& ctx = sematic::Context::Current();
  for (int i = 1; i <= lines; ++i) ctx.Log("line ", i);
  const absl::Time end = absl::Now() + absl::Seconds(60);
  while (!ctx.Cancelled() && absl::Now() < end &&
         !release_chatty->WaitForNotificationWithTimeout(absl::Milliseconds(5))) {
  }
  return lines;
}
SEMATIC_FUNC(Chatty, "lines");

// A client holding a job's event stream open on a thread of its own until the stream ends
// (the job ends or the server stops; at most a minute).
class HeldStream {
 public:
  HeldStream(int port, const std::string& job_id)
      : thread_([this, port, job_id] {
          httplib::Client client("127.0.0.1", port);
          client.set_read_timeout(60, 0);
          client.Get("/api/v1/jobs/" + job_id + "/events", [this](const char*, size_t) {
            received_ = true;
            return true;
          });
        }) {}
  ~HeldStream() { thread_.join(); }

  // Whether the stream's first bytes arrived within 30 s.
  bool AwaitFirstBytes() {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (!received_ && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
    return received_;
  }

 private:
  std::atomic<bool> received_ = false;
  std::thread thread_;
};

class HttpGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    release_chatty = &release_;
    dir_ = fs::path(::testing::TempDir()) /
           absl::StrCat("http_gateway_test_", getpid(), "_", absl::ToUnixMicros(absl::Now()));
    sch::SchedulerOptions options;
    options.data_dir = (dir_ / "data").string();
    options.recovery_grace = absl::ZeroDuration();
    ASSERT_OK_AND_ASSIGN(scheduler_, sch::Scheduler::Create(options));
    sematic::worker::WorkerOptions w;
    w.max_concurrent_runs = 4;
    w.resources.set_cpus(4);
    w.resources.set_memory_bytes(int64_t{4} << 30);
    w.log_flush_interval = absl::Milliseconds(20);
    ASSERT_OK_AND_ASSIGN(worker_,
                         sematic::worker::Worker::Create(
                             w, sematic::worker::MakeInProcessConnector(scheduler_.get()),
                             sematic::worker::MakeInProcessArtifactClient(scheduler_.get())));
    worker_->Start();
    StartGateway(false);
  }

  void TearDown() override {
    if (!release_.HasBeenNotified()) release_.Notify();
    if (gateway_ != nullptr) gateway_->Stop();
    worker_->Drain();
    (void)worker_->WaitUntilDrained(absl::Seconds(30));
    worker_.reset();
    scheduler_->Shutdown();
    scheduler_.reset();
    fs::remove_all(dir_);
  }

  void StartGateway(bool read_only) {
    if (gateway_ != nullptr) gateway_->Stop();
    gateway_.reset();
    ASSERT_OK_AND_ASSIGN(gateway_, sch::http::HttpGateway::Start(
                                       scheduler_.get(), {.host = "127.0.0.1",
                                                          .port = 0,
                                                          .ui_dir = "",
                                                          .read_only = read_only,
                                                          .keepalive = absl::Milliseconds(200)}));
    client_ = std::make_unique<httplib::Client>("127.0.0.1", gateway_->port());
    client_->set_read_timeout(30, 0);
  }

  httplib::Result Get(const std::string& path, const httplib::Headers& headers = {}) {
    return client_->Get(path, headers);
  }

  template <typename Message>
  Message Parse(const httplib::Result& res) {
    Message m;
    EXPECT_TRUE(res) << "no reply";
    if (res) {
      EXPECT_OK(sch::http::FromJson(res->body, &m)) << res->body;
    }
    return m;
  }

  // Submits `function` with one int argument over HTTP (retrying until the worker's Hello has
  // landed) and returns the job id.
  std::string Submit(const std::string& function, const std::string& arg_json) {
    const std::string body =
        absl::StrCat(R"({"function":")", function, R"(","args":[)", arg_json, "]}");
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      httplib::Result res = client_->Post("/api/v1/jobs", body, "application/json");
      if (res && res->status == 200) return Parse<v1::SubmitJobResponse>(res).job().id();
      if (!res || res->status != 404) {
        ADD_FAILURE() << "submit: " << (res ? res->body : "no reply");
        return "";
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    ADD_FAILURE() << "no worker offered " << function;
    return "";
  }

  v1::Job AwaitJob(const std::string& job_id) {
    v1::Job job;
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (absl::Now() < deadline) {
      job = Parse<v1::Job>(Get("/api/v1/jobs/" + job_id));
      if (job.state() != v1::JOB_PENDING && job.state() != v1::JOB_RUNNING) break;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return job;
  }

  v1::HttpError ExpectError(const httplib::Result& res, int status, const std::string& code) {
    v1::HttpError error;
    EXPECT_TRUE(res);
    if (!res) return error;
    EXPECT_EQ(res->status, status) << res->body;
    error = Parse<v1::HttpError>(res);
    EXPECT_EQ(error.code(), code) << res->body;
    EXPECT_FALSE(error.message().empty());
    EXPECT_EQ(error.message().find('\n'), std::string::npos) << "one line: " << error.message();
    return error;
  }

  // The server-sent events of `path` until the stream ends: (id, event, data) per frame.
  struct Frame {
    std::string id, event, data;
  };
  std::vector<Frame> ReadEvents(const std::string& path, const httplib::Headers& headers = {}) {
    std::string body;
    httplib::Result res = client_->Get(path, headers, [&](const char* data, size_t n) {
      body.append(data, n);
      return true;
    });
    EXPECT_TRUE(res);
    std::vector<Frame> frames;
    for (absl::string_view block : absl::StrSplit(body, "\n\n", absl::SkipEmpty())) {
      Frame frame;
      for (absl::string_view line : absl::StrSplit(block, '\n')) {
        if (absl::ConsumePrefix(&line, "id: ")) frame.id = std::string(line);
        if (absl::ConsumePrefix(&line, "event: ")) frame.event = std::string(line);
        if (absl::ConsumePrefix(&line, "data: ")) frame.data = std::string(line);
      }
      if (!frame.event.empty()) frames.push_back(frame);
    }
    return frames;
  }

  absl::Notification release_;
  fs::path dir_;
  std::unique_ptr<sch::Scheduler> scheduler_;
  std::unique_ptr<sematic::worker::Worker> worker_;
  std::unique_ptr<sch::http::HttpGateway> gateway_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpGatewayTest, JobRunsLogsMetricsAndLineageAsJson) {
  const std::string job_id = Submit("SumOfSquares", R"({"name":"n","value":{"intValue":"3"}})");
  ASSERT_FALSE(job_id.empty());
  const v1::Job job = AwaitJob(job_id);
  ASSERT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();

  httplib::Result listed = Get("/api/v1/jobs?states=JOB_SUCCEEDED&function=SumOfSquares");
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->get_header_value("Content-Type"), "application/json");
  const auto jobs = Parse<v1::ListJobsResponse>(listed);
  ASSERT_EQ(jobs.jobs_size(), 1);
  EXPECT_EQ(jobs.jobs(0).id(), job_id);
  EXPECT_THAT(listed->body, HasSubstr(R"("state":"JOB_SUCCEEDED")"));  // enums by name
  EXPECT_EQ(Parse<v1::ListJobsResponse>(Get("/api/v1/jobs?states=JOB_FAILED")).jobs_size(), 0);

  // Runs: the root, three squares, the sum (and the gather feeding it).
  const auto runs = Parse<v1::ListRunsResponse>(Get("/api/v1/jobs/" + job_id + "/runs"));
  std::vector<v1::Run> squares;
  for (const v1::Run& r : runs.runs()) {
    if (r.function() == "Square") squares.push_back(r);
  }
  ASSERT_EQ(squares.size(), 3u);
  const auto only_squares = Parse<v1::ListRunsResponse>(
      Get("/api/v1/jobs/" + job_id + "/runs?function=Square&page_size=2"));
  EXPECT_EQ(only_squares.runs_size(), 2);
  EXPECT_FALSE(only_squares.next_page_token().empty());

  const auto groups =
      Parse<v1::ListRunGroupsResponse>(Get("/api/v1/jobs/" + job_id + "/run_groups"));
  bool found = false;
  for (const v1::RunGroup& g : groups.groups()) {
    if (g.function() != "Square") continue;
    found = true;
    EXPECT_EQ(g.count(), 3);
    EXPECT_EQ(g.runs_by_state(v1::SUCCEEDED), 3);
    EXPECT_EQ(g.parent_id(), job.root_run_id());
  }
  EXPECT_TRUE(found) << groups.DebugString();

  // One run, with its literal input by name and value.
  // The root returned a graph: it is nested, in its record and in its group.
  EXPECT_TRUE(Parse<v1::Run>(Get("/api/v1/runs/" + job.root_run_id())).nested());
  EXPECT_TRUE(std::any_of(groups.groups().begin(), groups.groups().end(),
                          [](const v1::RunGroup& g) {
                            return g.function() == "SumOfSquares" && g.nested();
                          }));
  const v1::Run run = Parse<v1::Run>(Get("/api/v1/runs/" + squares[2].id()));
  ASSERT_EQ(run.inputs_size(), 1);
  EXPECT_EQ(run.inputs(0).name(), "x");
  EXPECT_EQ(run.inputs(0).literal().int_value(), 2);
  EXPECT_EQ(run.state(), v1::SUCCEEDED);

  // The sum's inputs are a gather's: named by position, each with its producer and digest.
  v1::Run sum;
  for (const v1::Run& r : runs.runs()) {
    if (r.function() == "sematic.gather") sum = Parse<v1::Run>(Get("/api/v1/runs/" + r.id()));
  }
  ASSERT_EQ(sum.inputs_size(), 3) << sum.DebugString();
  EXPECT_EQ(sum.inputs(1).name(), "[1]");
  EXPECT_FALSE(sum.inputs(1).producer_run_id().empty());
  EXPECT_EQ(sum.inputs(1).digest().size(), 64u);

  const auto lines = Parse<v1::LogLines>(Get("/api/v1/runs/" + squares[2].id() + "/logs"));
  ASSERT_GE(lines.entries_size(), 1);
  EXPECT_EQ(lines.entries(0).text(), "squaring 2");
  EXPECT_TRUE(lines.run_ended());
  httplib::Result text = Get("/api/v1/runs/" + squares[2].id() + "/logs.txt");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->body, "squaring 2\n");
  EXPECT_THAT(text->get_header_value("Content-Disposition"), HasSubstr("attachment"));

  const auto metrics =
      Parse<v1::GetRunMetricsResponse>(Get("/api/v1/runs/" + squares[2].id() + "/metrics"));
  ASSERT_EQ(metrics.points_size(), 1);
  EXPECT_EQ(metrics.points(0).name(), "x");
  EXPECT_EQ(metrics.points(0).value(), 2);

  const auto lineage =
      Parse<v1::GetLineageResponse>(Get("/api/v1/runs/" + squares[2].id() + "/lineage"));
  bool literal_edge = false;
  for (const v1::LineageEdge& e : lineage.edges()) {
    if (e.consumer_run_id() == squares[2].id() && e.input_name() == "x") {
      literal_edge = e.literal().int_value() == 2;
    }
  }
  EXPECT_TRUE(literal_edge) << lineage.DebugString();

  // The job's output: metadata, value, bytes (whole and ranged), lineage by artifact.
  const std::string digest = job.output_digest();
  const auto artifact =
      Parse<v1::GetArtifactResponse>(Get("/api/v1/artifacts/" + digest + "?include_json=true"));
  EXPECT_EQ(artifact.meta().digest(), digest);
  EXPECT_EQ(artifact.json(), "5");
  const auto value = Parse<v1::TypedValue>(Get("/api/v1/artifacts/" + digest + "/value"));
  EXPECT_EQ(value.value().int_value(), 5);
  httplib::Result bytes = Get("/api/v1/artifacts/" + digest + "/bytes");
  ASSERT_TRUE(bytes);
  EXPECT_EQ(bytes->status, 200);
  EXPECT_EQ(bytes->body, value.SerializeAsString());
  httplib::Result range = Get("/api/v1/artifacts/" + digest + "/bytes", {{"Range", "bytes=1-2"}});
  ASSERT_TRUE(range);
  EXPECT_EQ(range->status, 206);
  EXPECT_EQ(range->body, bytes->body.substr(1, 2));
  const auto by_artifact =
      Parse<v1::GetLineageResponse>(Get("/api/v1/artifacts/" + digest + "/lineage"));
  EXPECT_GE(by_artifact.runs_size(), 1);

  // Replies go uncompressed even to a browser that accepts brotli (httplib's brotli is slower
  // than sending the bytes).
  httplib::Result plain = Get("/api/v1/jobs/" + job_id, {{"Accept-Encoding", "gzip, deflate, br"}});
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->has_header("Content-Encoding"));
  EXPECT_EQ(Parse<v1::Job>(plain).id(), job_id);

  EXPECT_GE(Parse<v1::ListWorkersResponse>(Get("/api/v1/workers")).workers_size(), 1);
  EXPECT_GE(Parse<v1::ListFunctionsResponse>(Get("/api/v1/functions")).functions_size(), 4);
  EXPECT_FALSE(Parse<v1::SchedulerInfo>(Get("/api/v1/info")).scheduler_id().empty());
}

TEST_F(HttpGatewayTest, ImagesAreServedWithTheirContentType) {
  const std::string job_id = Submit("Picture", "");
  const v1::Job job = AwaitJob(job_id);
  ASSERT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  httplib::Result image = Get("/api/v1/artifacts/" + job.output_digest() + "/image");
  ASSERT_TRUE(image);
  EXPECT_EQ(image->status, 200);
  EXPECT_EQ(image->get_header_value("Content-Type"), "image/png");
  EXPECT_EQ(image->body.substr(1, 3), "PNG");

  // Not an image: said in one line.
  const std::string other = Submit("Square", R"({"name":"x","value":{"intValue":"3"}})");
  const v1::Job square = AwaitJob(other);
  ExpectError(Get("/api/v1/artifacts/" + square.output_digest() + "/image"), 400,
              "FAILED_PRECONDITION");
}

TEST_F(HttpGatewayTest, ErrorsMapToHttpStatusesWithOneLine) {
  ExpectError(Get("/api/v1/nothing/here"), 404, "NOT_FOUND");
  ExpectError(Get("/api/v1/jobs/not-a-job"), 400, "INVALID_ARGUMENT");
  ExpectError(Get("/api/v1/jobs/j000000000099"), 404, "NOT_FOUND");
  ExpectError(Get("/api/v1/runs/r-bogus"), 400, "INVALID_ARGUMENT");
  ExpectError(Get("/api/v1/artifacts/xyz"), 400, "INVALID_ARGUMENT");
  ExpectError(Get("/api/v1/artifacts/xyz/bytes"), 400, "INVALID_ARGUMENT");
  ExpectError(Get("/api/v1/artifacts/" + std::string(64, 'a')), 404, "NOT_FOUND");
  ExpectError(Get("/api/v1/artifacts/" + std::string(64, 'a') + "/bytes"), 404, "NOT_FOUND");
  // Every route with an id says which: malformed (400) or unknown (404).
  const std::string no_run = "r0000000000ff-0000000000";
  const std::string no_digest(64, 'b');
  for (const std::string& path : std::vector<std::string>{
           "/api/v1/jobs/j000000000099/runs", "/api/v1/jobs/j000000000099/run_groups",
           "/api/v1/runs/" + no_run, "/api/v1/runs/" + no_run + "/logs",
           "/api/v1/runs/" + no_run + "/logs.txt", "/api/v1/runs/" + no_run + "/logs/events",
           "/api/v1/runs/" + no_run + "/metrics", "/api/v1/runs/" + no_run + "/lineage",
           "/api/v1/artifacts/" + no_digest + "/value", "/api/v1/artifacts/" + no_digest + "/image",
           "/api/v1/artifacts/" + no_digest + "/lineage"}) {
    SCOPED_TRACE(path);
    ExpectError(Get(path), 404, "NOT_FOUND");
  }
  for (const std::string& path : std::vector<std::string>{
           "/api/v1/jobs/x/runs", "/api/v1/jobs/x/run_groups", "/api/v1/runs/x/logs",
           "/api/v1/runs/x/logs/events", "/api/v1/runs/x/metrics", "/api/v1/runs/x/lineage",
           "/api/v1/artifacts/x/value", "/api/v1/artifacts/x/image", "/api/v1/artifacts/x/lineage",
           "/api/v1/runs/" + no_run + "/logs?max_lines=0",
           "/api/v1/runs/" + no_run + "/logs?follow=true",
           "/api/v1/jobs/j000000000099/runs?states=NOPE"}) {
    SCOPED_TRACE(path);
    ExpectError(Get(path), 400, "INVALID_ARGUMENT");
  }
  const v1::HttpError unknown = ExpectError(Get("/api/v1/jobs?bogus=3"), 400, "INVALID_ARGUMENT");
  EXPECT_THAT(unknown.message(), HasSubstr("bogus"));
  EXPECT_THAT(unknown.message(), HasSubstr("page_size"));  // lists what is known
  ExpectError(Get("/api/v1/jobs?page_size=many"), 400, "INVALID_ARGUMENT");
  ExpectError(Get("/api/v1/jobs?page_size=5000"), 400, "INVALID_ARGUMENT");
  const v1::HttpError state =
      ExpectError(Get("/api/v1/jobs?states=SOMETIMES"), 400, "INVALID_ARGUMENT");
  EXPECT_THAT(state.message(), HasSubstr("JOB_RUNNING"));
  ExpectError(Get("/api/v1/jobs?states=99"), 400, "INVALID_ARGUMENT");
  ExpectError(Get("/api/v1/workers?x=1"), 400, "INVALID_ARGUMENT");
  ExpectError(client_->Post("/api/v1/jobs", "{not json", "application/json"), 400,
              "INVALID_ARGUMENT");
  ExpectError(client_->Post("/api/v1/jobs", R"({"function":"NoSuchStep"})", "application/json"),
              404, "NOT_FOUND");
  httplib::Result wrong_method = client_->Post("/api/v1/workers", "", "application/json");
  ASSERT_TRUE(wrong_method);
  EXPECT_EQ(wrong_method->status, 405);
  EXPECT_EQ(wrong_method->get_header_value("Allow"), "GET");

  // Cancelling a job that has ended: the request is valid, the state is not.
  const std::string job_id = Submit("Square", R"({"name":"x","value":{"intValue":"4"}})");
  ASSERT_EQ(AwaitJob(job_id).state(), v1::JOB_SUCCEEDED);
  ExpectError(client_->Post("/api/v1/jobs/" + job_id + "/cancel", "", "application/json"), 400,
              "FAILED_PRECONDITION");
  ExpectError(Get("/api/v1/jobs/" + job_id + "/runs?page_token=garbage"), 400, "INVALID_ARGUMENT");
  ExpectError(Get("/api/v1/jobs/" + job_id + "/events?after_sequence=x"), 400, "INVALID_ARGUMENT");
  ExpectError(Get("/api/v1/jobs/j000000000099/events"), 404, "NOT_FOUND");
  ExpectError(Get("/api/v1/jobs/" + job_id + "/events", {{"Last-Event-ID", "soon"}}), 400,
              "INVALID_ARGUMENT");

  // A query string over the server's limit is refused, and the server stays healthy.
  httplib::Result huge = Get("/api/v1/jobs?tag=" + std::string(100'000, 'x'));
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 414);
  httplib::Result health = Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(HttpGatewayTest, JobEventsStreamAndResumeFromLastEventId) {
  const std::string job_id = Submit("SumOfSquares", R"({"name":"n","value":{"intValue":"4"}})");
  ASSERT_EQ(AwaitJob(job_id).state(), v1::JOB_SUCCEEDED);

  // A finished job's stream replays its stored events, then ends OK.
  const std::vector<Frame> all = ReadEvents("/api/v1/jobs/" + job_id + "/events");
  ASSERT_GE(all.size(), 3u);
  EXPECT_EQ(all.back().event, "end");
  EXPECT_THAT(all.back().data, HasSubstr(R"("code":"OK")"));
  std::vector<uint64_t> ids;
  for (const Frame& f : all) {
    if (f.event == "end") continue;
    ASSERT_TRUE(f.event == "run" || f.event == "job") << f.event;
    v1::JobEvent event;
    ASSERT_OK(sch::http::FromJson(f.data, &event));
    ASSERT_FALSE(f.id.empty());  // replayed events are stored ones
    uint64_t id;
    ASSERT_TRUE(absl::SimpleAtoi(f.id, &id));
    EXPECT_EQ(id, event.sequence());
    ids.push_back(id);
  }
  ASSERT_GE(ids.size(), 2u);
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_EQ(ids[i], ids[i - 1] + 1);

  // Resumed with Last-Event-ID: only what follows it.
  const uint64_t resume_after = ids[ids.size() / 2];
  const std::vector<Frame> rest = ReadEvents("/api/v1/jobs/" + job_id + "/events",
                                             {{"Last-Event-ID", absl::StrCat(resume_after)}});
  ASSERT_EQ(rest.size(), ids.size() - (ids.size() / 2 + 1) + 1);  // the later ones and the end
  EXPECT_EQ(rest.front().id, absl::StrCat(resume_after + 1));
  // job_only leaves the run events out.
  for (const Frame& f : ReadEvents("/api/v1/jobs/" + job_id + "/events?job_only=true")) {
    EXPECT_NE(f.event, "run");
  }
}

TEST_F(HttpGatewayTest, LiveEventsAndLogTailOfARunningStep) {
  const std::string job_id = Submit("Chatty", R"({"name":"lines","value":{"intValue":"5"}})");
  ASSERT_FALSE(job_id.empty());
  // A watcher that disconnects mid-stream (after its first frame).
  std::string seen;
  client_->Get("/api/v1/jobs/" + job_id + "/events", [&](const char* data, size_t n) {
    seen.append(data, n);
    return false;
  });
  EXPECT_FALSE(seen.empty());
  const std::string run_id = Parse<v1::Job>(Get("/api/v1/jobs/" + job_id)).root_run_id();
  ASSERT_FALSE(run_id.empty());

  // Its log is tailed while it runs: the five lines arrive before it is released.
  std::string tail;
  httplib::Client tail_client("127.0.0.1", gateway_->port());
  tail_client.set_read_timeout(30, 0);
  std::atomic<bool> released = false;
  httplib::Result logs =
      tail_client.Get("/api/v1/runs/" + run_id + "/logs/events", [&](const char* data, size_t n) {
        tail.append(data, n);
        if (!released && absl::StrContains(tail, "line 5")) {
          released = true;
          release_.Notify();
        }
        return true;
      });
  ASSERT_TRUE(logs);
  EXPECT_TRUE(released) << tail;
  EXPECT_THAT(tail, HasSubstr("event: logs"));
  EXPECT_THAT(tail, HasSubstr("event: end"));
  ASSERT_EQ(AwaitJob(job_id).state(), v1::JOB_SUCCEEDED);

  // A tail resumed after the fifth line has nothing more, and ends.
  const std::vector<Frame> resumed =
      ReadEvents("/api/v1/runs/" + run_id + "/logs/events", {{"Last-Event-ID", "5"}});
  ASSERT_EQ(resumed.size(), 1u);
  EXPECT_EQ(resumed[0].event, "end");

  // The client that went away mid-stream cost nothing: the server answers, and metrics count.
  httplib::Result metrics = Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("sematic_workers 1\n"));
  EXPECT_THAT(metrics->body,
              HasSubstr(R"(sematic_http_requests_total{route="/api/v1/jobs",code="200"})"));
  EXPECT_THAT(metrics->body, HasSubstr("sematic_http_request_seconds_bucket"));
}

TEST_F(HttpGatewayTest, CancelOverHttpAndStopEndsOpenStreams) {
  const std::string job_id = Submit("Chatty", R"({"name":"lines","value":{"intValue":"1"}})");
  {
    // A stream left open on a running job...
    HeldStream watcher(gateway_->port(), job_id);
    ASSERT_TRUE(watcher.AwaitFirstBytes());
    // ...does not stop the cancel from the page.
    httplib::Result cancel =
        client_->Post("/api/v1/jobs/" + job_id + "/cancel", "", "application/json");
    ASSERT_TRUE(cancel);
    EXPECT_EQ(cancel->status, 200) << cancel->body;
    EXPECT_EQ(AwaitJob(job_id).state(), v1::JOB_CANCELED);
  }  // the stream ended with the job: the watcher's thread is joined

  // Read-only (sematic ui --data-dir): reads work, writes are refused.
  StartGateway(true);
  EXPECT_EQ(Parse<v1::Job>(Get("/api/v1/jobs/" + job_id)).state(), v1::JOB_CANCELED);
  ExpectError(client_->Post("/api/v1/jobs/" + job_id + "/cancel", "", "application/json"), 400,
              "FAILED_PRECONDITION");

  // Stop ends a stream that would otherwise wait forever (a running job's).
  StartGateway(false);
  const std::string running = Submit("Chatty", R"({"name":"lines","value":{"intValue":"1"}})");
  HeldStream held(gateway_->port(), running);
  ASSERT_TRUE(held.AwaitFirstBytes());
  gateway_->Stop();  // returns once the held stream has ended (its thread then joins)
}

}  // namespace http_gateway_test
