#include "cli/ui_command.h"

#include <signal.h>

#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/exit_codes.h"
#include "cli/local_client.h"
#include "scheduler/daemon/daemon.h"
#include "scheduler/http/http_gateway.h"

namespace sematic::cli {

int RunUi(const Invocation& inv) {
  auto fail = [](const absl::Status& status) {
    std::cerr << ErrorLine(status, "ui") << std::endl;
    return static_cast<int>(ExitCodeFor(status));
  };
  if (inv.global.data_dir.empty()) {
    return fail(UsageError(
        "ui: --data-dir DIR is required (a pipeline's data, e.g. .sematic; a scheduler daemon "
        "serves its own dashboard on its --http-port)"));
  }
  int port = scheduler::kDefaultHttpPort;
  if (inv.Has("port") && !absl::SimpleAtoi(inv.Value("port", ""), &port)) {
    return fail(UsageError(absl::StrCat("ui: --port: expected a number, got \"",
                                        inv.Value("port", ""), "\"")));
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<scheduler::Scheduler>> opened =
      OpenLocalScheduler(inv.global.data_dir);
  if (!opened.ok()) return fail(opened.status());
  absl::StatusOr<std::unique_ptr<scheduler::http::HttpGateway>> gateway =
      scheduler::http::HttpGateway::Start(
          opened->get(), {.host = inv.Value("host", "127.0.0.1"),
                          .port = port,
                          .ui_dir = inv.Value("ui-dir", SEMATIC_UI_DIST_DIR),
                          .read_only = true});
  if (!gateway.ok()) return fail(gateway.status());
  std::cout << "Dashboard of " << inv.global.data_dir << " (read-only): " << (*gateway)->url()
            << "\nPress Ctrl-C to stop." << std::endl;
  int signal = 0;
  sigwait(&signals, &signal);
  (*gateway)->Stop();
  (*opened)->Shutdown();
  return 0;
}

}  // namespace sematic::cli
