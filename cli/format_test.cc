#include "cli/format.h"

#include <sstream>

#include "cli/exit_codes.h"
#include "cli/progress.h"
#include "cli/table.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sematic::cli {
namespace {

using ::testing::HasSubstr;

TEST(TableTest, ColumnsAlignToTheWidestCell) {
  Table table({"ID", "STATE", "NOTE"});
  table.AddRow({"j1", "SUCCEEDED", "ok"});
  table.AddRow({"job-22", "RUNNING"});  // missing cell: empty, no trailing spaces
  table.AddRow({"├─ x", "two\nlines", "z"});
  std::ostringstream out;
  table.Print(out);
  EXPECT_EQ(out.str(),
            "ID      STATE      NOTE\n"
            "j1      SUCCEEDED  ok\n"
            "job-22  RUNNING\n"
            "├─ x    two lines  z\n");
}

TEST(FormatTest, Durations) {
  EXPECT_EQ(HumanDuration(absl::Milliseconds(850)), "850ms");
  EXPECT_EQ(HumanDuration(absl::Milliseconds(3250)), "3.2s");
  EXPECT_EQ(HumanDuration(absl::Seconds(245)), "4m05s");
  EXPECT_EQ(HumanDuration(absl::Minutes(123)), "2h03m");
  EXPECT_EQ(HumanDuration(absl::Seconds(-1)), "-");
  const absl::Time now = absl::FromUnixSeconds(100);
  EXPECT_EQ(ElapsedText(0, 0, now), "-");
  EXPECT_EQ(ElapsedText(90'000'000, 0, now), "10.0s");          // still running
  EXPECT_EQ(ElapsedText(90'000'000, 91'500'000, now), "1.5s");  // finished
}

TEST(FormatTest, TimesBytesAndStates) {
  EXPECT_EQ(FormatTime(0), "-");
  EXPECT_EQ(FormatTime(1'700'000'000'000'000), "2023-11-14 22:13:20");
  EXPECT_EQ(FormatBytes(512), "512B");
  EXPECT_EQ(FormatBytes(1536), "1.5KiB");
  EXPECT_EQ(FormatBytes(3u << 30), "3.0GiB");
  EXPECT_EQ(JobStateName(v1::JOB_CANCELED), "CANCELED");
  EXPECT_TRUE(IsTerminal(v1::JOB_FAILED));
  EXPECT_FALSE(IsTerminal(v1::JOB_RUNNING));
}

TEST(FormatTest, JsonIsProtobufJson) {
  v1::Job job;
  job.set_id("j1");
  job.set_state(v1::JOB_RUNNING);
  job.set_created_unix_micros(5);
  EXPECT_EQ(*ToJsonLine(job), R"({"id":"j1","state":"JOB_RUNNING","createdUnixMicros":"5"})");
}

TEST(ExitCodeTest, EveryCanonicalCodeMapsToADocumentedExitCode) {
  EXPECT_EQ(ExitCodeFor(absl::OkStatus()), ExitCode::kOk);
  EXPECT_EQ(ExitCodeFor(absl::UnavailableError("x")), ExitCode::kUnreachable);
  EXPECT_EQ(ExitCodeFor(absl::DeadlineExceededError("x")), ExitCode::kUnreachable);
  EXPECT_EQ(ExitCodeFor(absl::NotFoundError("x")), ExitCode::kNotFound);
  EXPECT_EQ(ExitCodeFor(absl::InvalidArgumentError("x")), ExitCode::kRejected);
  EXPECT_EQ(ExitCodeFor(UsageError("x")), ExitCode::kUsage);
  EXPECT_EQ(ExitCodeFor(absl::FailedPreconditionError("x")), ExitCode::kRejected);
  EXPECT_EQ(ExitCodeFor(absl::ResourceExhaustedError("x")), ExitCode::kRejected);
  EXPECT_EQ(ExitCodeFor(absl::UnimplementedError("x")), ExitCode::kUnsupported);
  EXPECT_EQ(ExitCodeFor(absl::PermissionDeniedError("x")), ExitCode::kDenied);
  EXPECT_EQ(ExitCodeFor(absl::UnauthenticatedError("x")), ExitCode::kDenied);
  EXPECT_EQ(ExitCodeFor(absl::InternalError("x")), ExitCode::kInternal);
  EXPECT_EQ(ExitCodeFor(absl::DataLossError("x")), ExitCode::kInternal);
}

TEST(ExitCodeTest, ErrorLines) {
  EXPECT_EQ(ErrorLine(absl::NotFoundError("no job j1"), "status"), "sematic: no job j1");
  EXPECT_EQ(
      ErrorLine(UsageError("submit: --args: field 'n': expected int32, got string"), "submit"),
      "sematic submit: --args: field 'n': expected int32, got string");
  // A scheduler message that happens to start with a word and a colon keeps "sematic: ".
  EXPECT_EQ(ErrorLine(absl::InvalidArgumentError("submit: x"), "submit"), "sematic: submit: x");
  EXPECT_EQ(ErrorLine(absl::InternalError("two\nlines"), ""), "sematic: two lines");
}

v1::JobEvent RunEvent(uint64_t seq, const std::string& id, v1::RunState state,
                      bool builtin = false) {
  v1::JobEvent e;
  e.set_sequence(seq);
  e.mutable_run()->set_id(id);
  e.mutable_run()->set_state(state);
  e.mutable_run()->set_builtin(builtin);
  return e;
}

TEST(ProgressTest, CountsFollowEachRunsLatestState) {
  const absl::Time start = absl::FromUnixSeconds(1000);
  JobProgress progress(start);
  progress.Apply(RunEvent(1, "a", v1::QUEUED));
  progress.Apply(RunEvent(2, "b", v1::QUEUED));
  progress.Apply(RunEvent(3, "c", v1::QUEUED));
  progress.Apply(RunEvent(4, "g", v1::QUEUED, /*builtin=*/true));  // not a step: not counted
  progress.Apply(RunEvent(5, "a", v1::RUNNING));
  progress.Apply(RunEvent(6, "a", v1::SUCCEEDED));
  progress.Apply(RunEvent(7, "b", v1::FAILED));
  progress.Apply(RunEvent(8, "b", v1::QUEUED));  // retried
  EXPECT_EQ(progress.counts(), (ProgressCounts{.done = 1, .running = 0, .queued = 2, .failed = 0}));
  EXPECT_EQ(progress.last_sequence(), 8u);
  // One done in 10s, two left: about 20s more.
  EXPECT_EQ(progress.Eta(start + absl::Seconds(10)), absl::Seconds(20));
  EXPECT_EQ(progress.Line(start + absl::Seconds(10)),
            "RUNNING  1/3 done, 0 running, 2 queued, 0 failed  elapsed 10.0s  ETA 20.0s");
  v1::JobEvent job;
  job.set_sequence(9);
  job.mutable_job()->set_state(v1::JOB_SUCCEEDED);
  progress.Apply(job);
  EXPECT_THAT(progress.Line(start), HasSubstr("SUCCEEDED"));
}

TEST(ProgressTest, NoEtaBeforeTheFirstStepFinishes) {
  JobProgress progress(absl::FromUnixSeconds(0));
  progress.Apply(RunEvent(1, "a", v1::RUNNING));
  EXPECT_EQ(progress.Eta(absl::FromUnixSeconds(5)), std::nullopt);
  EXPECT_THAT(progress.Line(absl::FromUnixSeconds(5)), ::testing::Not(HasSubstr("ETA")));
}

}  // namespace
}  // namespace sematic::cli
