// The commands against a fake Client with canned responses: what they send, what they print,
// which exit code they give. No server.
#include "cli/commands/commands.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_split.h"
#include "cli/format.h"
#include "common/digest.h"
#include "common/ids.h"
#include "common/strings.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "sematic/codec.h"

namespace sematic::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::Status Unimplemented(std::string_view method) {
  return absl::UnimplementedError(
      absl::StrCat("the scheduler does not serve ", AsAbsl(method), " yet"));
}

// Canned responses (UNIMPLEMENTED when not set, like the RPCs not served yet) and recorded
// requests.
class FakeClient : public Client {
 public:
  absl::StatusOr<v1::SubmitJobResponse> SubmitJob(const v1::SubmitJobRequest& request) override {
    submitted.push_back(request);
    return submit_response;
  }
  absl::StatusOr<v1::Job> GetJob(std::string_view job_id) override {
    auto it = jobs.find(std::string(job_id));
    if (it == jobs.end())
      return absl::NotFoundError(absl::StrCat("job ", AsAbsl(job_id), ": not found"));
    return it->second;
  }
  absl::StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& request) override {
    list_jobs_requests.push_back(request);
    if (job_pages.empty()) return v1::ListJobsResponse();
    v1::ListJobsResponse page = job_pages.front();
    job_pages.erase(job_pages.begin());
    return page;
  }
  absl::StatusOr<v1::CancelJobResponse> CancelJob(std::string_view job_id) override {
    auto it = jobs.find(std::string(job_id));
    if (it == jobs.end())
      return absl::NotFoundError(absl::StrCat("job ", AsAbsl(job_id), ": not found"));
    it->second.set_state(v1::JOB_CANCELED);
    v1::CancelJobResponse response;
    *response.mutable_job() = it->second;
    return response;
  }
  absl::Status WatchJob(const v1::WatchJobRequest& request,
                        const StreamCallback<v1::JobEvent>& on_event) override {
    watch_requests.push_back(request);
    for (const v1::JobEvent& event : events) {
      if (event.sequence() <= request.after_sequence()) continue;
      if (!on_event(event)) break;
    }
    return absl::OkStatus();
  }
  absl::StatusOr<v1::Run> GetRun(std::string_view) override {
    return Unimplemented("RunService.GetRun");
  }
  absl::StatusOr<v1::ListRunsResponse> ListRuns(const v1::ListRunsRequest& request) override {
    v1::ListRunsResponse response;
    for (const v1::Run& run : runs) {
      if (run.job_id() == request.job_id()) *response.add_runs() = run;
    }
    return response;
  }
  absl::Status GetRunLogs(const v1::GetRunLogsRequest& request,
                          const StreamCallback<v1::LogLines>& on_lines) override {
    logs_requests.push_back(request);
    if (log_batches.empty()) return Unimplemented("RunService.GetRunLogs");
    for (const v1::LogLines& lines : log_batches) on_lines(lines);
    return absl::OkStatus();
  }
  absl::StatusOr<v1::GetLineageResponse> GetLineage(const v1::GetLineageRequest& request) override {
    lineage_requests.push_back(request);
    if (!lineage.has_value()) return Unimplemented("RunService.GetLineage");
    return *lineage;
  }
  absl::StatusOr<v1::GetRunMetricsResponse> GetRunMetrics(
      const v1::GetRunMetricsRequest& request) override {
    metrics_requests.push_back(request);
    if (!metrics.has_value()) return Unimplemented("RunService.GetRunMetrics");
    return *metrics;
  }
  absl::StatusOr<v1::GetArtifactResponse> GetArtifact(
      const v1::GetArtifactRequest& request) override {
    if (!artifact.has_value()) return Unimplemented("ArtifactService.GetArtifact");
    if (artifact->meta().digest() != request.digest()) {
      return absl::NotFoundError(absl::StrCat("no artifact ", request.digest()));
    }
    return *artifact;
  }
  // Serves `blob` from the requested offset in chunks of `chunk_size`, stopping (as a broken
  // connection would) after `fail_after_chunks` chunks when that is set.
  absl::Status Download(const v1::DownloadRequest& request,
                        const StreamCallback<v1::DownloadChunk>& on_chunk) override {
    download_requests.push_back(request);
    int sent = 0;
    for (uint64_t offset = request.offset(); offset < blob.size(); offset += chunk_size) {
      if (fail_after_chunks >= 0 && sent == fail_after_chunks) {
        return absl::UnavailableError("cannot reach scheduler at fake (connection reset)");
      }
      v1::DownloadChunk chunk;
      chunk.set_offset(offset);
      chunk.set_total_size(blob.size());
      chunk.set_data(blob.substr(offset, chunk_size));
      if (!on_chunk(chunk)) break;
      ++sent;
    }
    return absl::OkStatus();
  }
  absl::StatusOr<v1::ListWorkersResponse> ListWorkers() override { return workers; }
  absl::StatusOr<v1::ListFunctionsResponse> ListFunctions() override { return functions; }

  v1::SubmitJobResponse submit_response;
  std::map<std::string, v1::Job> jobs;
  std::vector<v1::ListJobsResponse> job_pages;
  std::vector<v1::JobEvent> events;
  std::vector<v1::Run> runs;
  std::vector<v1::LogLines> log_batches;
  std::optional<v1::GetLineageResponse> lineage;
  std::optional<v1::GetRunMetricsResponse> metrics;
  std::vector<v1::GetRunMetricsRequest> metrics_requests;
  std::optional<v1::GetArtifactResponse> artifact;
  std::string blob;
  size_t chunk_size = 4;
  int fail_after_chunks = -1;
  v1::ListWorkersResponse workers;
  v1::ListFunctionsResponse functions;

  std::vector<v1::SubmitJobRequest> submitted;
  std::vector<v1::ListJobsRequest> list_jobs_requests;
  std::vector<v1::WatchJobRequest> watch_requests;
  std::vector<v1::GetRunLogsRequest> logs_requests;
  std::vector<v1::GetLineageRequest> lineage_requests;
  std::vector<v1::DownloadRequest> download_requests;
};

// Runs a command line against `client`; returns the exit code and fills `out`.
ExitCode Sematic(std::vector<std::string> args, FakeClient& client, std::string* out,
                 std::string* error = nullptr) {
  absl::StatusOr<Invocation> inv = ParseCommandLine(args, Commands(), "");
  if (!inv.ok()) {
    if (error != nullptr) *error = ErrorLine(inv.status(), args[0]);
    return ExitCodeFor(inv.status());
  }
  std::ostringstream stream;
  CommandResult result = RunCommand(*inv, client, Output{stream});
  *out = stream.str();
  if (!result.ok()) {
    if (error != nullptr) *error = ErrorLine(result.status(), inv->command);
    return ExitCodeFor(result.status());
  }
  return *result;
}

void AddFunction(FakeClient& client, const std::string& name, const std::string& param,
                 const v1::TypeDesc& type) {
  v1::FunctionSignature* f = client.functions.add_functions();
  f->set_name(name);
  v1::Field* p = f->add_params();
  p->set_name(param);
  *p->mutable_type() = type;
  *f->mutable_result() = type;
}

v1::Job Job(const std::string& id, v1::JobState state) {
  v1::Job job;
  job.set_id(id);
  job.set_function("Sweep");
  job.set_state(state);
  job.set_created_unix_micros(1'700'000'000'000'000);
  if (IsTerminal(state)) job.set_ended_unix_micros(1'700'000'002'500'000);
  return job;
}

v1::Run MakeRun(const std::string& id, const std::string& parent, const std::string& function,
                v1::RunState state) {
  v1::Run run;
  run.set_id(id);
  run.set_parent_id(parent);
  run.set_job_id("j1");
  run.set_function(function);
  run.set_state(state);
  run.set_attempt(1);
  run.set_started_unix_micros(1'700'000'000'000'000);
  run.set_ended_unix_micros(1'700'000'001'000'000);
  return run;
}

TEST(SubmitTest, TypesTheArgsAndSendsTheOptions) {
  FakeClient client;
  AddFunction(client, "Double", "x", TypeOf<int32_t>());
  client.submit_response.mutable_job()->set_id("j42");
  std::string out;
  EXPECT_EQ(Sematic({"submit", "Double", "--args", R"({"x": 21})", "--tag", "team=ml", "--priority",
                     "3", "--continue", "--idempotency-key", "k1"},
                    client, &out),
            ExitCode::kOk);
  EXPECT_EQ(out, "j42\n");
  ASSERT_EQ(client.submitted.size(), 1u);
  const v1::SubmitJobRequest& request = client.submitted[0];
  EXPECT_EQ(request.function(), "Double");
  ASSERT_EQ(request.args_size(), 1);
  EXPECT_EQ(request.args(0).name(), "x");
  EXPECT_EQ(*Decode<int32_t>(request.args(0).value()), 21);
  EXPECT_THAT(request.options().tags(), ElementsAre("team=ml"));
  EXPECT_EQ(request.options().priority(), 3);
  EXPECT_EQ(request.options().failure_policy(), v1::CONTINUE_INDEPENDENT);
  EXPECT_EQ(request.idempotency_key(), "k1");
}

TEST(SubmitTest, MismatchedArgsAreAUsageErrorAndSubmitNothing) {
  FakeClient client;
  AddFunction(client, "Double", "n", TypeOf<int32_t>());
  std::string out, error;
  EXPECT_EQ(Sematic({"submit", "Double", "--args", R"({"n": "x"})"}, client, &out, &error),
            ExitCode::kUsage);
  EXPECT_EQ(error, "sematic submit: --args: field 'n': expected int32, got string \"x\"");
  EXPECT_TRUE(client.submitted.empty());
  EXPECT_EQ(Sematic({"submit", "Double", "--args", R"({"n": 1})", "--tag", "novalue"}, client, &out,
                    &error),
            ExitCode::kUsage);
  EXPECT_THAT(error, HasSubstr("--tag: expected KEY=VALUE"));
  EXPECT_EQ(Sematic({"submit", "Double", "--args", R"({"n": 1})", "--priority", "high"}, client,
                    &out, &error),
            ExitCode::kUsage);
  EXPECT_EQ(error, "sematic submit: --priority: expected an integer, got \"high\"");
  EXPECT_EQ(Sematic({"submit", "Double", "--args", R"({"n": 1})", "--fail-fast", "--continue"},
                    client, &out, &error),
            ExitCode::kUsage);
}

TEST(SubmitTest, UnknownFunctionIsNotFound) {
  FakeClient client;
  std::string out, error;
  EXPECT_EQ(Sematic({"submit", "Nope"}, client, &out, &error), ExitCode::kNotFound);
  EXPECT_EQ(error, "sematic: no live worker offers function Nope (sematic functions lists them)");
  EXPECT_TRUE(client.submitted.empty());
}

TEST(SubmitTest, WaitExitsWithTheJobsOutcome) {
  FakeClient client;
  AddFunction(client, "Double", "x", TypeOf<int32_t>());
  client.submit_response.mutable_job()->set_id("j1");
  client.jobs["j1"] = Job("j1", v1::JOB_PENDING);
  v1::JobEvent failed;
  failed.set_sequence(1);
  *failed.mutable_job() = Job("j1", v1::JOB_FAILED);
  failed.mutable_job()->set_error("step Double (run r1) failed: boom");
  client.events = {failed};
  std::string out;
  EXPECT_EQ(Sematic({"submit", "Double", "--args", R"({"x": 1})", "--wait"}, client, &out),
            ExitCode::kJobFailed);
  EXPECT_THAT(out, HasSubstr("j1 FAILED in 2.5s: step Double (run r1) failed: boom"));
}

TEST(JobsTest, TableFiltersAndPages) {
  FakeClient client;
  v1::ListJobsResponse page1;
  *page1.add_jobs() = Job("j2", v1::JOB_RUNNING);
  page1.mutable_jobs(0)->add_runs_by_state(0);
  for (int s = 1; s <= v1::TIMED_OUT; ++s) {
    page1.mutable_jobs(0)->add_runs_by_state(s == v1::SUCCEEDED ? 3 : (s == v1::RUNNING ? 2 : 0));
  }
  page1.mutable_jobs(0)->mutable_options()->add_tags("team=ml");
  page1.set_next_page_token("t2");
  v1::ListJobsResponse page2;
  *page2.add_jobs() = Job("j1", v1::JOB_SUCCEEDED);
  client.job_pages = {page1, page2};
  std::string out;
  EXPECT_EQ(Sematic({"jobs", "--state", "running,succeeded", "--state=CANCELLED", "--tag",
                     "team=ml", "--function", "Sweep", "--limit", "1", "--all"},
                    client, &out),
            ExitCode::kOk);
  ASSERT_EQ(client.list_jobs_requests.size(), 2u);
  const v1::ListJobsRequest& first = client.list_jobs_requests[0];
  EXPECT_THAT(first.states(), ElementsAre(v1::JOB_RUNNING, v1::JOB_SUCCEEDED, v1::JOB_CANCELED));
  EXPECT_EQ(first.tag(), "team=ml");
  EXPECT_EQ(first.function(), "Sweep");
  EXPECT_EQ(first.page_size(), 1);
  EXPECT_EQ(client.list_jobs_requests[1].page_token(), "t2");
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << out;
  // The running job's duration (since 2023) sets the DURATION column's width.
  EXPECT_THAT(lines[0], ::testing::StartsWith(
                            "JOB  FUNCTION  STATE      DONE  CREATED              DURATION"));
  EXPECT_THAT(lines[1],
              ::testing::StartsWith("j2   Sweep     RUNNING    3/5   2023-11-14 22:13:20"));
  EXPECT_THAT(lines[1], ::testing::EndsWith("  team=ml"));  // duration so far, then the tags
  EXPECT_THAT(lines[2],
              ::testing::StartsWith("j1   Sweep     SUCCEEDED  -     2023-11-14 22:13:20  2.5s"));
}

TEST(JobsTest, BadStateIsAUsageError) {
  FakeClient client;
  std::string out, error;
  EXPECT_EQ(Sematic({"jobs", "--state", "sleeping"}, client, &out, &error), ExitCode::kUsage);
  EXPECT_THAT(error, HasSubstr("--state: expected pending, running"));
}

TEST(JobsTest, JsonParsesBackAsTheResponse) {
  FakeClient client;
  v1::ListJobsResponse page;
  *page.add_jobs() = Job("j1", v1::JOB_FAILED);
  page.set_next_page_token("next");
  client.job_pages = {page};
  std::string out;
  EXPECT_EQ(Sematic({"jobs", "--json"}, client, &out), ExitCode::kOk);
  v1::ListJobsResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out, &parsed).ok()) << out;
  EXPECT_EQ(parsed.jobs(0).id(), "j1");
  EXPECT_EQ(parsed.jobs(0).state(), v1::JOB_FAILED);
  EXPECT_EQ(parsed.next_page_token(), "next");
}

TEST(StatusTest, RunTreeNestsByParent) {
  FakeClient client;
  client.jobs["j1"] = Job("j1", v1::JOB_FAILED);
  client.jobs["j1"].set_error("step Train failed");
  client.runs = {
      MakeRun("r1", "", "Sweep", v1::WAITING), MakeRun("r2", "r1", "Train", v1::SUCCEEDED),
      MakeRun("r3", "r1", "Inner", v1::WAITING), MakeRun("r4", "r3", "Train", v1::FAILED),
      MakeRun("r5", "r1", "PickBest", v1::CANCELED)};
  client.runs[3].set_error("boom");
  client.runs[3].set_attempt(3);
  client.runs[3].set_worker_id("w2");
  std::string out;
  EXPECT_EQ(Sematic({"status", "j1"}, client, &out), ExitCode::kOk);
  EXPECT_EQ(out,
            "job       j1\n"
            "function  Sweep\n"
            "state     FAILED\n"
            "created   2023-11-14 22:13:20\n"
            "duration  2.5s\n"
            "error     step Train failed\n"
            "\n"
            "RUN          ID  STATE      ATTEMPT  WORKER  DURATION  ERROR\n"
            "Sweep        r1  WAITING    1        -       1.0s\n"
            "├─ Train     r2  SUCCEEDED  1        -       1.0s\n"
            "├─ Inner     r3  WAITING    1        -       1.0s\n"
            "│  └─ Train  r4  FAILED     3        w2      1.0s      boom\n"
            "└─ PickBest  r5  CANCELED   1        -       1.0s\n");
}

TEST(StatusTest, JsonHasTheJobAndItsRuns) {
  FakeClient client;
  client.jobs["j1"] = Job("j1", v1::JOB_SUCCEEDED);
  client.runs = {MakeRun("r1", "", "Sweep", v1::SUCCEEDED)};
  std::string out;
  EXPECT_EQ(Sematic({"status", "j1", "--json"}, client, &out), ExitCode::kOk);
  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out, &parsed).ok()) << out;
  EXPECT_EQ(parsed.fields().at("job").struct_value().fields().at("id").string_value(), "j1");
  ASSERT_EQ(parsed.fields().at("runs").list_value().values_size(), 1);
  EXPECT_EQ(parsed.fields()
                .at("runs")
                .list_value()
                .values(0)
                .struct_value()
                .fields()
                .at("state")
                .string_value(),
            "SUCCEEDED");
}

TEST(StatusTest, UnknownJobIsNotFound) {
  FakeClient client;
  std::string out, error;
  EXPECT_EQ(Sematic({"status", "j404"}, client, &out, &error), ExitCode::kNotFound);
  EXPECT_EQ(error, "sematic: no job j404");
}

std::vector<v1::JobEvent> Events(v1::JobState final_state) {
  std::vector<v1::JobEvent> events;
  auto run = [&](const std::string& id, v1::RunState state) {
    v1::JobEvent& e = events.emplace_back();
    e.set_sequence(events.size());
    *e.mutable_run() = MakeRun(id, "", "Double", state);
  };
  run("r1", v1::QUEUED);
  run("r1", v1::RUNNING);
  run("r2", v1::QUEUED);
  run("r1", v1::SUCCEEDED);
  run("r2", final_state == v1::JOB_SUCCEEDED ? v1::SUCCEEDED : v1::FAILED);
  v1::JobEvent& job = events.emplace_back();
  job.set_sequence(events.size());
  *job.mutable_job() = Job("j1", final_state);
  return events;
}

TEST(WatchTest, PlainLinesOnChangeAndTheOutcomeAsExitCode) {
  FakeClient client;
  client.jobs["j1"] = Job("j1", v1::JOB_RUNNING);
  client.events = Events(v1::JOB_SUCCEEDED);
  std::string out;
  EXPECT_EQ(Sematic({"watch", "j1"}, client, &out), ExitCode::kOk);
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 7u) << out;
  EXPECT_THAT(lines[0], HasSubstr("RUNNING  0/1 done, 0 running, 1 queued, 0 failed"));
  EXPECT_THAT(lines[4], HasSubstr("RUNNING  2/2 done, 0 running, 0 queued, 0 failed"));
  EXPECT_THAT(lines[5], HasSubstr("SUCCEEDED  2/2 done"));
  EXPECT_EQ(lines[6], "j1 SUCCEEDED in 2.5s");

  client.events = Events(v1::JOB_FAILED);
  EXPECT_EQ(Sematic({"watch", "j1"}, client, &out), ExitCode::kJobFailed);
  EXPECT_THAT(out, HasSubstr("1 failed"));
  client.events = Events(v1::JOB_CANCELED);
  EXPECT_EQ(Sematic({"watch", "j1"}, client, &out), ExitCode::kJobFailed);
}

TEST(WatchTest, OnATerminalRedrawsOneLineInPlace) {
  FakeClient client;
  client.jobs["j1"] = Job("j1", v1::JOB_RUNNING);
  client.events = Events(v1::JOB_SUCCEEDED);
  absl::StatusOr<Invocation> inv = ParseCommandLine({"watch", "j1"}, Commands(), "");
  ASSERT_TRUE(inv.ok());
  std::ostringstream out;
  CommandResult result = RunCommand(*inv, client, Output{out, /*tty=*/true});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, ExitCode::kOk);
  // Every event redraws (carriage return, erase line); only the final summary ends lines.
  const std::string text = out.str();
  size_t redraws = 0;
  for (size_t at = text.find("\r\033[K"); at != std::string::npos;
       at = text.find("\r\033[K", at + 1)) {
    ++redraws;
  }
  EXPECT_EQ(redraws, client.events.size() + 1);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  EXPECT_THAT(text, ::testing::EndsWith("j1 SUCCEEDED in 2.5s\n"));
}

TEST(WatchTest, AFinishedJobIsReplayedToItsEnd) {
  FakeClient client;
  client.jobs["j1"] = Job("j1", v1::JOB_FAILED);
  client.events = Events(v1::JOB_FAILED);
  std::string out;
  EXPECT_EQ(Sematic({"watch", "j1"}, client, &out), ExitCode::kJobFailed);
  EXPECT_THAT(out, HasSubstr("FAILED  1/2 done, 0 running, 0 queued, 1 failed  elapsed 2.5s\n"));
  EXPECT_THAT(out, HasSubstr("j1 FAILED in 2.5s"));
}

// A fake whose stream ends after the first events, then serves all of them on the next call.
class EndingEarlyClient : public FakeClient {
 public:
  absl::Status WatchJob(const v1::WatchJobRequest& request,
                        const StreamCallback<v1::JobEvent>& on_event) override {
    absl::Status status = FakeClient::WatchJob(request, on_event);
    events = later;
    return status;
  }
  std::vector<v1::JobEvent> later;
};

TEST(WatchTest, ResumesAfterTheLastEventWhenTheStreamEndsEarly) {
  EndingEarlyClient client;
  client.jobs["j1"] = Job("j1", v1::JOB_RUNNING);  // GetJob keeps saying RUNNING
  client.later = Events(v1::JOB_SUCCEEDED);
  client.events.assign(client.later.begin(), client.later.begin() + 3);
  std::string out;
  EXPECT_EQ(Sematic({"watch", "j1"}, client, &out), ExitCode::kOk);
  ASSERT_EQ(client.watch_requests.size(), 2u);
  EXPECT_EQ(client.watch_requests[0].after_sequence(), 0u);
  EXPECT_EQ(client.watch_requests[1].after_sequence(), 3u);
  EXPECT_THAT(out, HasSubstr("j1 SUCCEEDED"));
}

TEST(WatchTest, JsonPrintsOneEventPerLine) {
  FakeClient client;
  client.jobs["j1"] = Job("j1", v1::JOB_RUNNING);
  client.events = Events(v1::JOB_SUCCEEDED);
  std::string out;
  EXPECT_EQ(Sematic({"watch", "j1", "--json"}, client, &out), ExitCode::kOk);
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), client.events.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    v1::JobEvent parsed;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(lines[i], &parsed).ok()) << lines[i];
    EXPECT_EQ(parsed.sequence(), i + 1);
  }
}

TEST(LogsTest, PrintsTimestampedLinesAndAsksToFollow) {
  FakeClient client;
  v1::LogLines batch;
  v1::LogEntry* e = batch.add_entries();
  e->set_unix_micros(1'700'000'000'000'000);
  e->set_text("epoch 1 loss 0.5");
  e = batch.add_entries();
  e->set_unix_micros(1'700'000'001'000'000);
  e->set_text("done\n");
  client.log_batches = {batch};
  std::string out;
  EXPECT_EQ(Sematic({"logs", "r1", "-f", "--from", "2"}, client, &out), ExitCode::kOk);
  EXPECT_EQ(out,
            "2023-11-14 22:13:20  epoch 1 loss 0.5\n"
            "2023-11-14 22:13:21  done\n");
  ASSERT_EQ(client.logs_requests.size(), 1u);
  EXPECT_TRUE(client.logs_requests[0].follow());
  EXPECT_EQ(client.logs_requests[0].from_index(), 2u);
  EXPECT_EQ(client.logs_requests[0].run_id(), "r1");
}

TEST(LogsTest, UnimplementedIsOneLineAndItsOwnExitCode) {
  FakeClient client;
  std::string out, error;
  EXPECT_EQ(Sematic({"logs", "r1"}, client, &out, &error), ExitCode::kUnsupported);
  EXPECT_EQ(error, "sematic: the scheduler does not serve RunService.GetRunLogs yet");
}

TEST(CancelTest, PrintsTheNewState) {
  FakeClient client;
  client.jobs["j1"] = Job("j1", v1::JOB_RUNNING);
  std::string out, error;
  EXPECT_EQ(Sematic({"cancel", "j1"}, client, &out), ExitCode::kOk);
  EXPECT_EQ(out, "cancelled j1 (CANCELED)\n");
  EXPECT_EQ(Sematic({"cancel", "j2"}, client, &out, &error), ExitCode::kNotFound);
}

const std::string kDigest(64, 'a');

TEST(GetTest, ShowsTypeAndValue) {
  FakeClient client;
  v1::GetArtifactResponse artifact;
  artifact.mutable_meta()->set_digest(kDigest);
  *artifact.mutable_meta()->mutable_type() = TypeOf<std::vector<int32_t>>();
  artifact.mutable_meta()->set_size_bytes(2048);
  artifact.mutable_meta()->set_producer_run_id("r7");
  artifact.set_json("[1,2,3]");
  client.artifact = artifact;
  std::string out, error;
  EXPECT_EQ(Sematic({"get", kDigest}, client, &out), ExitCode::kOk);
  EXPECT_EQ(out, "artifact  " + kDigest + "\n" + "type      vector<int32>\nsize      2.0KiB\n" +
                     "created   -\nproducer  r7\n\n[1,2,3]\n");
  EXPECT_EQ(Sematic({"get", kDigest, "--json"}, client, &out), ExitCode::kOk);
  v1::GetArtifactResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out, &parsed).ok()) << out;
  EXPECT_EQ(parsed.json(), "[1,2,3]");
  EXPECT_EQ(Sematic({"get", "xyz"}, client, &out, &error), ExitCode::kUsage);
  EXPECT_THAT(error, HasSubstr("get: ARTIFACT must be a SHA-256 digest"));
  EXPECT_EQ(Sematic({"get", std::string(64, 'b')}, client, &out, &error), ExitCode::kNotFound);
}

class DownloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / ("cli-get-" + RandomHex64());
    std::filesystem::create_directories(dir_);
    client_.blob = "0123456789abcdefghij";  // 20 bytes: 5 chunks of 4
    digest_ = Sha256Hex(client_.blob);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static std::string Read(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::filesystem::path dir_;
  FakeClient client_;
  std::string digest_;
};

TEST_F(DownloadTest, WritesAndVerifiesTheBytes) {
  const std::string file = (dir_ / "value.bin").string();
  std::string out;
  EXPECT_EQ(Sematic({"get", digest_, "-o", file}, client_, &out), ExitCode::kOk);
  EXPECT_EQ(Read(file), client_.blob);
  EXPECT_EQ(out, "wrote 20B to " + file + "\n");
  EXPECT_FALSE(std::filesystem::exists(file + ".part"));
}

TEST_F(DownloadTest, ResumesFromWhatAnInterruptedDownloadKept) {
  const std::string file = (dir_ / "value.bin").string();
  client_.fail_after_chunks = 2;
  std::string out, error;
  EXPECT_EQ(Sematic({"get", digest_, "-o", file}, client_, &out, &error), ExitCode::kUnreachable);
  EXPECT_THAT(error, HasSubstr("8 bytes kept in " + file + ".part; run again to resume"));
  EXPECT_EQ(Read(file + ".part"), "01234567");
  client_.fail_after_chunks = -1;
  EXPECT_EQ(Sematic({"get", digest_, "-o", file}, client_, &out), ExitCode::kOk);
  ASSERT_EQ(client_.download_requests.size(), 2u);
  EXPECT_EQ(client_.download_requests[1].offset(), 8u);
  EXPECT_EQ(Read(file), client_.blob);
}

TEST_F(DownloadTest, BytesNotMatchingTheDigestAreRejectedAndRemoved) {
  const std::string file = (dir_ / "value.bin").string();
  std::string out, error;
  EXPECT_EQ(Sematic({"get", std::string(64, 'c'), "-o", file}, client_, &out, &error),
            ExitCode::kInternal);
  EXPECT_THAT(error, HasSubstr("downloaded bytes hash to " + digest_));
  EXPECT_FALSE(std::filesystem::exists(file));
  EXPECT_FALSE(std::filesystem::exists(file + ".part"));
}

TEST(LineageTest, DigestOrRunAndBothTables) {
  FakeClient client;
  v1::GetLineageResponse lineage;
  v1::Run* run = lineage.add_runs();
  *run = MakeRun("r1", "", "Train", v1::SUCCEEDED);
  run->set_output_digest(kDigest);
  v1::LineageEdge* edge = lineage.add_edges();
  edge->set_artifact_digest(std::string(64, 'd'));
  edge->set_consumer_run_id("r1");
  edge->set_input_name("config");
  client.lineage = lineage;
  std::string out;
  EXPECT_EQ(Sematic({"lineage", kDigest, "--depth", "3"}, client, &out), ExitCode::kOk);
  EXPECT_EQ(client.lineage_requests[0].artifact_digest(), kDigest);
  EXPECT_EQ(client.lineage_requests[0].max_depth(), 3);
  EXPECT_THAT(out, HasSubstr("r1   Train     SUCCEEDED  j1   " + kDigest));
  EXPECT_THAT(out, HasSubstr(std::string(64, 'd') + "  (submitted)  r1        config"));
  EXPECT_EQ(Sematic({"lineage", "r1"}, client, &out), ExitCode::kOk);
  EXPECT_EQ(client.lineage_requests[1].run_id(), "r1");
  client.lineage.reset();
  std::string error;
  EXPECT_EQ(Sematic({"lineage", "r1"}, client, &out, &error), ExitCode::kUnsupported);
}

TEST(MetricsTest, ASummaryPerSeriesPointsAndJson) {
  FakeClient client;
  v1::GetRunMetricsResponse metrics;
  for (auto [name, value, step] : {std::tuple{"loss", 0.9, 1}, std::tuple{"loss", 0.4, 2},
                                   std::tuple{"accuracy", 0.7, 2}, std::tuple{"loss", 0.5, 3}}) {
    v1::MetricPoint* p = metrics.add_points();
    p->set_name(name);
    p->set_value(value);
    p->set_step(step);
  }
  client.metrics = metrics;
  std::string out;
  EXPECT_EQ(Sematic({"metrics", "r1"}, client, &out), ExitCode::kOk);
  EXPECT_EQ(client.metrics_requests[0].run_id(), "r1");
  // Series in the order first logged: last value, min and max of each.
  EXPECT_THAT(out, HasSubstr("loss      3       3          0.5   0.4  0.9"));
  EXPECT_THAT(out, HasSubstr("accuracy  1       2          0.7   0.7  0.7"));
  EXPECT_LT(out.find("loss"), out.find("accuracy"));

  EXPECT_EQ(Sematic({"metrics", "r1", "--points", "--name", "loss"}, client, &out),
            ExitCode::kOk);
  EXPECT_EQ(client.metrics_requests[1].name(), "loss");
  EXPECT_THAT(out, HasSubstr("STEP"));
  EXPECT_EQ(Sematic({"metrics", "r1", "--json"}, client, &out), ExitCode::kOk);
  EXPECT_THAT(out, HasSubstr(R"("name":"accuracy")"));

  client.metrics = v1::GetRunMetricsResponse();
  EXPECT_EQ(Sematic({"metrics", "r1"}, client, &out), ExitCode::kOk);
  EXPECT_THAT(out, HasSubstr("no metrics logged by r1"));
}

TEST(ClusterTest, WorkersAndFunctionsTables) {
  FakeClient client;
  v1::WorkerInfo* w = client.workers.add_workers();
  w->set_worker_id("w1");
  w->set_peer("ipv4:127.0.0.1:5000");
  w->set_running(2);
  w->set_max_concurrent_runs(8);
  w->mutable_resources()->set_cpus(8);
  w->mutable_in_use()->set_cpus(2);
  (*w->mutable_labels())["zone"] = "b";
  (*w->mutable_labels())["gpu"] = "none";
  w->add_functions("Double@");
  std::string out;
  EXPECT_EQ(Sematic({"workers"}, client, &out), ExitCode::kOk);
  EXPECT_THAT(out, HasSubstr("WORKER  PEER                 RUNS  CPUS  GPUS  MEMORY  FUNCTIONS  "
                             "HEARTBEAT  LABELS           STATE\n"));
  EXPECT_THAT(out, HasSubstr("w1      ipv4:127.0.0.1:5000  2/8   2/8   0/0   0B/0B   1          "
                             "-          gpu=none,zone=b  ready\n"));

  AddFunction(client, "Double", "x", TypeOf<int32_t>());
  client.functions.mutable_functions(0)->set_max_retries(3);
  client.functions.mutable_functions(0)->set_cpus(2);
  EXPECT_EQ(Sematic({"functions"}, client, &out), ExitCode::kOk);
  EXPECT_EQ(out,
            "FUNCTION  VERSION  SIGNATURE                  OPTIONS\n"
            "Double    -        Double(x: int32) -> int32  cpus=2 retries=3\n");
}

}  // namespace
}  // namespace sematic::cli
