#include "worker/worker_main.h"

#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "worker/grpc_transport.h"
#include "worker/step_process.h"
#include "worker/worker.h"

namespace sematic::worker {

bool IsWorkerCommand(int argc, char** argv) {
  return argc > 1 && (std::strcmp(argv[1], "worker") == 0 || IsStepProcessCommand(argc, argv));
}

int Main(int argc, char** argv) {
  if (IsStepProcessCommand(argc, argv)) return StepProcessMain(argc, argv);
  std::vector<std::string> args;
  for (int i = IsWorkerCommand(argc, argv) ? 2 : 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0) {
      std::fputs(WorkerUsage(argv[0], false).c_str(), stdout);
      return 0;
    }
    args.emplace_back(argv[i]);
  }
  absl::StatusOr<WorkerFlags> flags = ParseWorkerFlags(args, DetectMachine());
  if (!flags.ok()) {
    std::fprintf(stderr, "%s: %s\n%s", argv[0], std::string(flags.status().message()).c_str(),
                 WorkerUsage(argv[0], false).c_str());
    return 2;
  }
  absl::Status done = RunWorker(*flags);
  if (!done.ok()) {
    std::fprintf(stderr, "%s: %s\n", argv[0], done.ToString().c_str());
    return 1;
  }
  return 0;
}

absl::Status RunWorker(const WorkerFlags& flags) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // worker threads inherit the mask

  std::shared_ptr<grpc::Channel> channel =
      MakeSchedulerChannel(flags.scheduler, flags.options.reconnect_max_backoff);
  ASSIGN_OR_RETURN(std::unique_ptr<Worker> worker,
                   Worker::Create(flags.options, MakeGrpcConnector(channel, flags.scheduler),
                                  MakeGrpcArtifactClient(channel)));
  // "serving" only once the scheduler has welcomed us; until then the worker says what it
  // waits for at every attempt.
  std::fprintf(stderr, "sematic-worker %s: connecting to scheduler at %s\n", worker->id().c_str(),
               flags.scheduler.c_str());
  worker->Start();
  // Until a signal or the scheduler's Drain message starts draining.
  const timespec tick{0, 200'000'000};
  bool was_connected = false;
  while (!worker->WaitUntilDrained(absl::ZeroDuration()).ok()) {
    if (const bool connected = worker->connected(); connected != was_connected) {
      if (connected) {
        std::fprintf(stderr, "sematic-worker %s: serving scheduler at %s\n", worker->id().c_str(),
                     flags.scheduler.c_str());
      }
      was_connected = connected;
    }
    siginfo_t info;
    const int signal = sigtimedwait(&signals, &info, &tick);
    if (signal > 0) {
      std::fprintf(stderr, "sematic-worker %s: signal %d\n", worker->id().c_str(), signal);
      worker->Drain();
      break;
    }
  }
  RETURN_IF_ERROR(worker->WaitUntilDrained(flags.drain_timeout));
  std::fprintf(stderr, "sematic-worker %s: drained\n", worker->id().c_str());
  return absl::OkStatus();
}

}  // namespace sematic::worker
