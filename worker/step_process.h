// Runs one step attempt in a child process, so that a crash (segfault, abort, the OOM killer)
// fails that attempt instead of the worker. Used by workers with --isolate=process.
//
//   // Worker side, on the thread that would otherwise run the step:
//   absl::StatusOr<internal::StepProcessOutcome> outcome =
//       RunStepProcess(request, libraries, context, sink, *cancelled, options.cancel_grace);
//
//   // Child side: the binary's main dispatches the hidden subcommand first.
//   if (IsStepProcessCommand(argc, argv)) return StepProcessMain(argc, argv);
//
// The child is /proc/self/exe started with posix_spawn (never a bare fork: the worker is full of
// gRPC and pool threads whose locks a forked child would inherit mid-use). It re-loads the
// `libraries` (sematic-worker's --load), finds the step in its own registry, reads the request
// from fd 3 and writes logs, metrics and then the outcome back on the same socket. Its stdout
// and stderr are pipes that the worker reads into the same log (stdout is line-buffered there).
// Cancellation reaches it as SIGTERM, which sets Context::Cancelled(); SIGKILL follows after
// the grace period.
#ifndef SEMATIC_WORKER_STEP_PROCESS_H_
#define SEMATIC_WORKER_STEP_PROCESS_H_

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sematic/context.h"
#include "sematic/internal/step_process.pb.h"

namespace sematic::worker {

// argv[1] of the child process. Not for humans: it is absent from every usage text.
inline constexpr char kStepProcessCommand[] = "__sematic_step";

// Starts each line the step wrote to stderr in its log; stdout lines are as written.
inline constexpr char kStderrPrefix[] = "[stderr] ";

// True when argv[1] is kStepProcessCommand.
bool IsStepProcessCommand(int argc, char** argv);

// The child's main: `argv` is {exe, kStepProcessCommand, "--load=LIB"...}. Returns the exit
// code (0 once the outcome is written, whether or not the step succeeded).
int StepProcessMain(int argc, char** argv);

// Runs `request` in a child process and returns the outcome it reported. Its logs and metrics
// go to `sink` as lines of `context`, and so does what it writes to stdout and stderr, line by
// line (worker/output_lines.h: lines over 64 KiB are cut; stderr lines start with
// kStderrPrefix). All of it has reached `sink` when this returns, a crash's last lines
// included. Once `cancelled` turns true the child gets SIGTERM, and
// SIGKILL `cancel_grace` later. Blocks until the child has exited and been reaped.
//
// Errors (the attempt is then an infrastructure failure): UNAVAILABLE when the child could not
// be started; ABORTED "step F crashed (signal 11, SIGSEGV)" when a signal killed it before it
// reported;
// INTERNAL when it exited without an outcome or broke the protocol.
absl::StatusOr<internal::StepProcessOutcome> RunStepProcess(
    const internal::StepProcessRequest& request, const std::vector<std::string>& libraries,
    const Context& context, ContextSink& sink, const std::atomic<bool>& cancelled,
    absl::Duration cancel_grace);

// "SIGSEGV" for SIGSEGV; "signal 64" for one without a name.
std::string SignalName(int signal);

}  // namespace sematic::worker

#endif  // SEMATIC_WORKER_STEP_PROCESS_H_
