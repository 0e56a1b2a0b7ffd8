// The dashboard in a real browser: sematic-scheduler serving the built UI over its HTTP gateway,
// two sematic-worker daemons serving the fixture steps (tests/ui/fixture_steps.cc), and
// ui/e2e/run.mjs (node + playwright-core + chromium) submitting its own jobs over the JSON API
// and checking what a user sees. Passes when the script exits 0; its output (one line per check)
// is printed either way. A missing piece (the built UI, node, chromium, the script) fails the
// test with a message naming it: it is never skipped.
//
// Compile definitions: SEMATIC_SCHEDULER_BINARY, SEMATIC_WORKER_BINARY,
// SEMATIC_UI_FIXTURE_LIBRARY, SEMATIC_UI_DIST_DIR, SEMATIC_UI_E2E_SCRIPT, SEMATIC_NODE_BINARY,
// SEMATIC_CHROMIUM_BINARY and SEMATIC_UI_SCREENSHOT_DIR.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "sematic/v1/admin_service.grpc.pb.h"
#include "tests/testing/processes.h"

namespace sematic_ui_browser_test {
namespace {

namespace fs = std::filesystem;
namespace v1 = ::sematic::v1;
using ::sematic::testing::ChildProcess;
using ::sematic::testing::ProcessResult;
using ::sematic::testing::SchedulerProcess;

constexpr int kWorkers = 2;
constexpr absl::Duration kScriptTimeout = absl::Minutes(10);

// What is missing to run the browser checks; empty when nothing is.
std::vector<std::string> MissingPrerequisites() {
  std::vector<std::string> missing;
  const fs::path index = fs::path(SEMATIC_UI_DIST_DIR) / "index.html";
  if (!fs::exists(index)) {
    missing.push_back(absl::StrCat("the built dashboard: ", index.string(),
                                   " does not exist (build the sematic_ui target)"));
  }
  if (access(SEMATIC_NODE_BINARY, X_OK) != 0) {
    missing.push_back(absl::StrCat("node: \"", SEMATIC_NODE_BINARY,
                                   "\" is not an executable (install nodejs, re-run cmake)"));
  }
  if (access(SEMATIC_CHROMIUM_BINARY, X_OK) != 0) {
    missing.push_back(absl::StrCat("chromium: ", SEMATIC_CHROMIUM_BINARY,
                                   " is not an executable (apt-get install chromium)"));
  }
  if (!fs::exists(SEMATIC_UI_E2E_SCRIPT)) {
    missing.push_back(
        absl::StrCat("the browser tests: ", SEMATIC_UI_E2E_SCRIPT, " does not exist"));
  }
  return missing;
}

// Waits (at most 30 s) until the scheduler lists `n` workers; whether it did.
bool AwaitWorkers(const std::string& address, int n) {
  auto admin =
      v1::AdminService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  for (const absl::Time end = absl::Now() + absl::Seconds(30); absl::Now() < end;) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::ListWorkersResponse response;
    if (admin->ListWorkers(&context, v1::ListWorkersRequest(), &response).ok() &&
        response.workers_size() == n) {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(20));  // polling the scheduler's worker list
  }
  return false;
}

class UiBrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) / ("ui-browser-" + sematic::RandomHex64());
    fs::create_directories(root_);
  }
  void TearDown() override {
    workers_.clear();  // killed and reaped
    scheduler_.reset();
    fs::remove_all(root_);
  }

  fs::path root_;
  std::unique_ptr<SchedulerProcess> scheduler_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
};

TEST_F(UiBrowserTest, EndToEndScriptPasses) {
  const std::vector<std::string> missing = MissingPrerequisites();
  for (const std::string& m : missing) ADD_FAILURE() << "missing " << m;
  if (!missing.empty()) return;

  scheduler_ = std::make_unique<SchedulerProcess>(
      std::vector<std::string>{SEMATIC_SCHEDULER_BINARY}, (root_ / "data").string(), 0,
      std::vector<std::string>{"--http-port=0", "--ui-dir=" SEMATIC_UI_DIST_DIR,
                               "--recovery-grace=10s", "--heartbeat-timeout=120s"});
  if (scheduler_->address().empty() || scheduler_->http_url().empty()) {
    const int exit_code = scheduler_->process().Wait(absl::Seconds(1));
    FAIL() << "sematic-scheduler --http-port=0 --ui-dir=" SEMATIC_UI_DIST_DIR
           << " did not print \"listening on 127.0.0.1:PORT\" and then \"http on "
              "127.0.0.1:PORT\": "
           << (exit_code >= 0 ? absl::StrCat("it exited with code ", exit_code)
                              : "it was still running after 30 s, or died of a signal")
           << " (gRPC address: \"" << scheduler_->address() << "\"; its stderr is above)";
  }

  for (int i = 1; i <= kWorkers; ++i) {
    const std::string id = absl::StrCat("ui-worker-", i);
    workers_.push_back(std::make_unique<ChildProcess>(std::vector<std::string>{
        SEMATIC_WORKER_BINARY, "--load=" SEMATIC_UI_FIXTURE_LIBRARY,
        "--scheduler=" + scheduler_->address(), "--cpus=4", "--memory=4GiB", "--gpus=0",
        "--max-runs=4", "--worker-id=" + id, "--cache-dir=" + (root_ / ("cache-" + id)).string(),
        "--max-reconnect-backoff=200ms", "--drain-timeout=5s", "--cancel-grace=2s"}));
  }
  ASSERT_TRUE(AwaitWorkers(scheduler_->address(), kWorkers))
      << "the scheduler did not list " << kWorkers << " workers within 30 s";

  const fs::path screenshots = fs::path(SEMATIC_UI_SCREENSHOT_DIR);
  fs::create_directories(screenshots);
  // /usr/bin/env sets the script's environment without touching this process's.
  const ProcessResult e2e = ::sematic::testing::RunProcess(
      {"/usr/bin/env", "SEMATIC_URL=" + scheduler_->http_url(), "CHROMIUM=" SEMATIC_CHROMIUM_BINARY,
       "SCREENSHOT_DIR=" + screenshots.string(), SEMATIC_NODE_BINARY, SEMATIC_UI_E2E_SCRIPT},
      kScriptTimeout);
  const std::string output = absl::StrCat("--- stdout of ui/e2e/run.mjs ---\n", e2e.out,
                                          "--- stderr of ui/e2e/run.mjs ---\n", e2e.err);
  EXPECT_EQ(e2e.exit_code, 0) << "node " SEMATIC_UI_E2E_SCRIPT " failed (exit code "
                              << e2e.exit_code << ", -1 = killed after "
                              << absl::FormatDuration(kScriptTimeout) << " or by a signal)\n"
                              << output;
  if (e2e.exit_code == 0) std::cout << output;
  // The daemons survived everything the dashboard asked of them.
  EXPECT_TRUE(scheduler_->process().Running()) << "sematic-scheduler exited during the checks";
  for (int i = 0; i < kWorkers; ++i) {
    EXPECT_TRUE(workers_[i]->Running()) << "ui-worker-" << i + 1 << " exited during the checks";
  }
}

}  // namespace
}  // namespace sematic_ui_browser_test
