// The `worker` entry point of pipeline binaries: any binary built with the SDK serves its
// registered steps to a scheduler.
//
//   int main(int argc, char** argv) {
//     if (sematic::worker::IsWorkerCommand(argc, argv)) return sematic::worker::Main(argc, argv);
//     ...  // the pipeline's own main
//   }
//
//   $ ./my_pipeline worker --scheduler=127.0.0.1:7070 --cpus=4 --memory=8GiB --max-runs=4
//
// SIGTERM or SIGINT drains the worker: no new assignments, running steps finish, results are
// flushed, then Main returns 0 (1 when draining timed out, 2 for bad flags).
#ifndef SEMATIC_WORKER_WORKER_MAIN_H_
#define SEMATIC_WORKER_WORKER_MAIN_H_

#include "absl/status/status.h"
#include "worker/flags.h"

namespace sematic::worker {

// True when argv[1] is "worker", or the hidden subcommand of a step process (--isolate=process
// re-executes this binary to run one step; see step_process.h).
bool IsWorkerCommand(int argc, char** argv);

// Parses the flags after argv[0] (and an optional "worker"), then runs RunWorker.
int Main(int argc, char** argv);

// Connects to flags.scheduler over gRPC and serves until drained (by a signal or by the
// scheduler). Blocks SIGTERM and SIGINT in the calling thread before any worker thread starts,
// and takes them synchronously. Returns DEADLINE_EXCEEDED when draining took longer than
// flags.drain_timeout.
absl::Status RunWorker(const WorkerFlags& flags);

}  // namespace sematic::worker

#endif  // SEMATIC_WORKER_WORKER_MAIN_H_
