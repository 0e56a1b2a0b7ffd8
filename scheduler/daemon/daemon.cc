// The scheduler daemon (see daemon.h): flags, gRPC server, signal handling.
//
// Serves JobService, RunService, ArtifactService, AdminService and WorkerService, plus
// grpc.health.v1 and server
// reflection. Prints one line "listening on HOST:PORT" once ready (with --port=0 the port is
// chosen by the kernel). SIGTERM or SIGINT: stop accepting, drain streams, commit, flush, exit 0.
#include "scheduler/daemon/daemon.h"

#include <signal.h>

#include <cstdio>
#include <limits>
#include <utility>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "scheduler/core/scheduler.h"
#include "scheduler/http/http_gateway.h"
#include "scheduler/service/grpc_services.h"

ABSL_FLAG(std::string, data_dir, ".sematic/scheduler", "where the scheduler keeps its state");
ABSL_FLAG(std::string, host, "127.0.0.1", "address to listen on (0.0.0.0 for all interfaces)");
ABSL_FLAG(int, port, sematic::scheduler::kDefaultPort, "gRPC port; 0 picks a free one");
ABSL_FLAG(int, http_port, sematic::scheduler::kDefaultHttpPort,
          "HTTP port of the dashboard, JSON API and /metrics (same address as gRPC); 0 picks a "
          "free one (the default when --port=0), -1 turns HTTP off");
ABSL_FLAG(std::string, ui_dir, SEMATIC_UI_DIST_DIR,
          "the built dashboard (index.html and assets/) served on the HTTP port");
ABSL_FLAG(bool, sync, false, "fsync every committed batch (survives power loss)");
ABSL_FLAG(absl::Duration, heartbeat_timeout, absl::Seconds(15),
          "a worker silent for this long is declared dead");
ABSL_FLAG(absl::Duration, recovery_grace, absl::Seconds(10),
          "after a restart, how long reconnecting workers may report their runs");
ABSL_FLAG(std::string, placement, "pack", "placement policy: pack or spread");
ABSL_FLAG(int64_t, max_message_bytes, 256 << 20,
          "largest gRPC message accepted (a nested step's graph is one message: ~80 bytes a "
          "node, so --max-graph-nodes of no-op calls fit)");
ABSL_FLAG(int64_t, max_graph_nodes, 2'000'000,
          "most nodes in one sub-graph registration (a 1M-step fan-out has 1M + 2)");
ABSL_FLAG(int64_t, max_runs_per_job, 10'000'000, "most runs one job may create");
ABSL_FLAG(int64_t, max_inline_value_bytes, 64 << 20,
          "largest value sent inline (larger ones are uploaded as artifacts)");

namespace sematic::scheduler {
namespace {

// Accepts --data-dir as well as abseil's --data_dir spelling.
void NormalizeFlagNames(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] != '-' || argv[i][1] != '-') continue;
    for (char* c = argv[i] + 2; *c != '\0' && *c != '='; ++c) {
      if (*c == '-') *c = '_';
    }
  }
}

}  // namespace

int DaemonMain(int argc, char** argv) {
  const std::string program = argc > 0 ? argv[0] : "sematic-scheduler";
  absl::SetProgramUsageMessage(absl::StrCat(program, " --data-dir=DIR --port=PORT"));
  NormalizeFlagNames(argc, argv);
  bool http_port_given = false;
  for (int i = 1; i < argc; ++i) {
    http_port_given = http_port_given || absl::StartsWith(argv[i], "--http_port");
  }
  absl::ParseCommandLine(argc, argv);

  // Signals are taken synchronously by the main thread: block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  SchedulerOptions options;
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.sync = absl::GetFlag(FLAGS_sync);
  options.heartbeat_timeout = absl::GetFlag(FLAGS_heartbeat_timeout);
  options.recovery_grace = absl::GetFlag(FLAGS_recovery_grace);
  options.placement = absl::GetFlag(FLAGS_placement);
  for (auto [name, value] : {std::pair{"--max-graph-nodes", absl::GetFlag(FLAGS_max_graph_nodes)},
                             std::pair{"--max-runs-per-job", absl::GetFlag(FLAGS_max_runs_per_job)},
                             std::pair{"--max-inline-value-bytes",
                                       absl::GetFlag(FLAGS_max_inline_value_bytes)}}) {
    if (value <= 0) {
      std::fprintf(stderr, "%s: %s: expected a positive number, got %lld\n", program.c_str(), name,
                   static_cast<long long>(value));
      return 2;
    }
  }
  // Artifact chunks (4 MiB and framing) must fit; gRPC takes an int.
  if (absl::GetFlag(FLAGS_max_message_bytes) < kMinReceiveMessageBytes ||
      absl::GetFlag(FLAGS_max_message_bytes) > std::numeric_limits<int>::max()) {
    std::fprintf(stderr, "%s: --max-message-bytes: expected %d to %d, got %lld\n",
                 program.c_str(), kMinReceiveMessageBytes, std::numeric_limits<int>::max(),
                 static_cast<long long>(absl::GetFlag(FLAGS_max_message_bytes)));
    return 2;
  }
  options.limits.max_graph_nodes = static_cast<size_t>(absl::GetFlag(FLAGS_max_graph_nodes));
  options.limits.max_message_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_max_message_bytes));
  options.limits.max_runs_per_job = static_cast<size_t>(absl::GetFlag(FLAGS_max_runs_per_job));
  options.limits.max_inline_value_bytes =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_inline_value_bytes));
  absl::StatusOr<std::unique_ptr<Scheduler>> scheduler = Scheduler::Create(options);
  if (!scheduler.ok()) {
    std::fprintf(stderr, "%s: %s\n", program.c_str(), scheduler.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<GrpcServices> services = MakeGrpcServices(scheduler->get());

  grpc::EnableDefaultHealthCheckService(true);
  // Links the health protocol's descriptors (protos/grpc/health/v1/health.proto) so reflection
  // can describe the health service that gRPC serves, not only list it.
  static_cast<void>(grpc::health::v1::HealthCheckRequest::descriptor());
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string address =
      absl::StrCat(absl::GetFlag(FLAGS_host), ":", absl::GetFlag(FLAGS_port));
  int port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(absl::GetFlag(FLAGS_max_message_bytes)));
  services->RegisterWith(builder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "%s: cannot listen on %s\n", program.c_str(), address.c_str());
    return 1;
  }
  std::printf("listening on %s:%d\n", absl::GetFlag(FLAGS_host).c_str(), port);
  std::unique_ptr<http::HttpGateway> gateway;
  int http_port = absl::GetFlag(FLAGS_http_port);
  // A daemon on a port of the kernel's choosing (tests, several on one machine) does not take
  // the fixed HTTP port unless told to.
  if (absl::GetFlag(FLAGS_port) == 0 && !http_port_given) {
    http_port = 0;
  }
  if (http_port >= 0) {
    absl::StatusOr<std::unique_ptr<http::HttpGateway>> started = http::HttpGateway::Start(
        scheduler->get(), {.host = absl::GetFlag(FLAGS_host),
                           .port = http_port,
                           .ui_dir = absl::GetFlag(FLAGS_ui_dir),
                           .rpc_counts = &services->rpc_counts()});
    if (!started.ok()) {
      std::fprintf(stderr, "%s: %s\n", program.c_str(),
                   std::string(started.status().message()).c_str());
      server->Shutdown(std::chrono::system_clock::now());
      (*scheduler)->Shutdown();
      return 1;
    }
    gateway = *std::move(started);
    std::printf("http on %s:%d\n", absl::GetFlag(FLAGS_host).c_str(), gateway->port());
    std::fprintf(stderr, "dashboard: %s\n", gateway->url().c_str());
  }
  std::fflush(stdout);

  int signal = 0;
  sigwait(&signals, &signal);
  std::fprintf(stderr, "%s: signal %d: draining\n", program.c_str(), signal);
  if (gateway != nullptr) gateway->Stop();  // its streams end before the scheduler does
  (*scheduler)->Shutdown();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  services.reset();
  scheduler->reset();
  std::fprintf(stderr, "%s: stopped\n", program.c_str());
  return 0;
}

}  // namespace sematic::scheduler
