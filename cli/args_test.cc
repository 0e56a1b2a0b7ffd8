#include "cli/args.h"

#include "cli/exit_codes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sematic::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<Invocation> Parse(std::vector<std::string> args, std::string env = "") {
  return ParseCommandLine(args, Commands(), env);
}

TEST(ArgsTest, SubmitWithFlagsInBothSpellings) {
  absl::StatusOr<Invocation> inv =
      Parse({"submit", "Train", "--args", R"({"n": 1})", "--tag=team=ml", "--tag", "run=3",
             "--priority=5", "--continue", "--wait"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->command, "submit");
  EXPECT_THAT(inv->positional, ElementsAre("Train"));
  EXPECT_EQ(inv->Value("args"), R"({"n": 1})");
  EXPECT_THAT(inv->Values("tag"), ElementsAre("team=ml", "run=3"));
  EXPECT_EQ(inv->Value("priority"), "5");
  EXPECT_TRUE(inv->Has("continue"));
  EXPECT_TRUE(inv->Has("wait"));
  EXPECT_FALSE(inv->Has("fail-fast"));
}

TEST(ArgsTest, GlobalFlagsBeforeOrAfterTheCommand) {
  absl::StatusOr<Invocation> inv =
      Parse({"--scheduler", "10.0.0.1:9", "status", "j1", "--json", "--timeout=2s"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->global.scheduler, "10.0.0.1:9");
  EXPECT_TRUE(inv->global.json);
  EXPECT_EQ(inv->global.timeout, absl::Seconds(2));
  EXPECT_THAT(inv->positional, ElementsAre("j1"));
}

TEST(ArgsTest, SchedulerAddressFromEnvironmentUnlessFlagged) {
  EXPECT_EQ(Parse({"workers"})->global.scheduler, "127.0.0.1:7070");
  EXPECT_EQ(Parse({"workers"}, "h:1")->global.scheduler, "h:1");
  EXPECT_EQ(Parse({"workers", "--scheduler=h:2"}, "h:1")->global.scheduler, "h:2");
}

TEST(ArgsTest, ShortFlagsAndDoubleDash) {
  absl::StatusOr<Invocation> inv = Parse({"logs", "-f", "r1"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_TRUE(inv->Has("follow"));
  inv = Parse({"get", "-o", "out.bin", "abc"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->Value("output"), "out.bin");
  inv = Parse({"get", "-oout.bin", "abc"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->Value("output"), "out.bin");
  inv = Parse({"status", "--", "-weird-id"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_THAT(inv->positional, ElementsAre("-weird-id"));
}

TEST(ArgsTest, SchedulerPassesEverythingThrough) {
  absl::StatusOr<Invocation> inv = Parse({"scheduler", "--port=0", "--data-dir", "/tmp/x"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->command, "scheduler");
  EXPECT_THAT(inv->positional, ElementsAre("--port=0", "--data-dir", "/tmp/x"));
}

TEST(ArgsTest, HelpForms) {
  EXPECT_EQ(Parse({})->command, "help");
  EXPECT_EQ(Parse({"--help"})->command, "help");
  absl::StatusOr<Invocation> inv = Parse({"submit", "-h"});
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->command, "help");
  EXPECT_THAT(inv->positional, ElementsAre("submit"));
  EXPECT_THAT(Parse({"help", "watch"})->positional, ElementsAre("watch"));
}

struct BadLine {
  std::vector<std::string> args;
  std::string message;
};

class BadArgsTest : public ::testing::TestWithParam<BadLine> {};

TEST_P(BadArgsTest, IsAUsageErrorNamingTheProblem) {
  absl::StatusOr<Invocation> inv = Parse(GetParam().args);
  ASSERT_FALSE(inv.ok());
  EXPECT_EQ(ExitCodeFor(inv.status()), ExitCode::kUsage) << inv.status();
  EXPECT_THAT(std::string(inv.status().message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Lines, BadArgsTest,
    ::testing::Values(BadLine{{"frobnicate"}, "unknown command \"frobnicate\""},
                      BadLine{{"status"}, "status: usage: sematic status JOB"},
                      BadLine{{"status", "a", "b"}, "status: usage"},
                      BadLine{{"status", "j1", "--jsn"}, "status: unknown flag --jsn"},
                      BadLine{{"status", "j1", "--state=x"}, "status: unknown flag --state=x"},
                      BadLine{{"submit", "F", "--args"}, "submit: --args needs a value"},
                      BadLine{{"submit", "F", "--wait=yes"}, "submit: --wait takes no value"},
                      BadLine{{"submit", "F", "--priority", "1", "--priority", "2"},
                              "--priority given twice"},
                      BadLine{{"jobs", "--timeout=soon"}, "--timeout: expected a duration"},
                      BadLine{{"jobs", "--timeout=-1s"}, "--timeout: must be positive"},
                      BadLine{{"jobs", "--scheduler="}, "--scheduler: expected HOST:PORT"}));

TEST(ArgsTest, HelpListsEveryCommandAndTheExitCodes) {
  const std::string help = HelpText(Commands());
  for (const CommandSpec& c : Commands()) EXPECT_THAT(help, HasSubstr("  " + c.name + " "));
  EXPECT_THAT(help, HasSubstr("3   scheduler unreachable"));
  EXPECT_THAT(CommandHelp(Commands()[1]), HasSubstr("--idempotency-key"));
}

TEST(ArgsTest, Timeouts) {
  EXPECT_EQ(*ParseTimeout("500ms"), absl::Milliseconds(500));
  EXPECT_EQ(*ParseTimeout("3"), absl::Seconds(3));
  EXPECT_FALSE(ParseTimeout("0").ok());
}

}  // namespace
}  // namespace sematic::cli
