// sematic-worker: a worker daemon serving the steps of shared libraries it loads.
//
//   sematic-worker --load=libmy_steps.so --scheduler=10.0.0.5:7070 --cpus=8 --gpus=2
//
// Each --load library is dlopen()ed before the worker announces itself, so the SEMATIC_FUNC
// registrations in its static initialisers are served. The libraries link against this binary's
// SDK (it exports its symbols): build them without linking sematic_sdk or the protos again, or
// they would carry a second step registry and a second protobuf descriptor pool.
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "worker/flags.h"
#include "worker/step_process.h"
#include "worker/worker_main.h"

int main(int argc, char** argv) {
  using namespace sematic::worker;
  // --isolate=process: this binary re-executed to run one step (it loads the libraries itself).
  if (IsStepProcessCommand(argc, argv)) return StepProcessMain(argc, argv);
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0) {
      std::fputs(WorkerUsage(argv[0], true).c_str(), stdout);
      return 0;
    }
    args.emplace_back(argv[i]);
  }
  absl::StatusOr<WorkerFlags> flags = ParseWorkerFlags(args, DetectMachine(), /*allow_load=*/true);
  if (!flags.ok()) {
    std::fprintf(stderr, "sematic-worker: %s\n%s", std::string(flags.status().message()).c_str(),
                 WorkerUsage(argv[0], true).c_str());
    return 2;
  }
  for (const std::string& path : flags->load) {
    if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
      std::fprintf(stderr, "sematic-worker: --load: %s\n", dlerror());
      return 2;
    }
  }
  absl::Status done = RunWorker(*flags);
  if (!done.ok()) {
    std::fprintf(stderr, "sematic-worker: %s\n", done.ToString().c_str());
    return 1;
  }
  return 0;
}
