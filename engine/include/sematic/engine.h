// Where a pipeline runs, chosen when it starts: in this process, on the embedded engine, or on a
// cluster. The pipeline's code does not change; only the Runner does.
//
//   int main(int argc, char** argv) {
//     if (sematic::worker::IsWorkerCommand(argc, argv)) return sematic::worker::Main(argc, argv);
//     // The pipeline's own flags are declared; any other flag is refused, naming the known ones.
//     absl::StatusOr<std::unique_ptr<sematic::Runner>> runner =
//         sematic::RunnerFromFlags(argc, argv, {"--full", "--data"});
//     if (!runner.ok()) { std::cerr << runner.status().message() << "\n"; return 2; }
//     ...  // argv now holds the program name, the declared flags and the positional arguments
//     absl::StatusOr<Report> report = (*runner)->Resolve(sematic::Call(Sweep, spec));
//   }
//
//   $ ./pipeline                                  # embedded engine, data in ./.sematic
//   $ ./pipeline --isolate=process                # embedded, each step in a child process
//   $ ./pipeline --runner=silent                  # in-process, nothing stored
//   $ ./pipeline --scheduler=10.0.0.5:7070        # a cluster (same as --runner=cluster)
//
// The embedded engine starts the real scheduler on the data directory and in-process workers in
// this process; the cluster runner talks to a `sematic-scheduler` over gRPC, whose workers are
// copies of this binary run as `./pipeline worker --scheduler=...`. Both submit the root call as
// a job: it must be a call of a registered step with literal arguments (a call whose arguments
// are other calls' futures is composed inside a nested step instead; see docs/architecture.md),
// follow it with one line per finished step on stderr, and fetch and decode its output.
// Runs stay in the data directory (embedded) or on the scheduler: `sematic jobs --data-dir
// ./.sematic` or `sematic jobs --scheduler=HOST:PORT`.
#ifndef SEMATIC_ENGINE_H_
#define SEMATIC_ENGINE_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "sematic/runner.h"

namespace sematic {

enum class RunnerKind { kSilent, kEmbedded, kCluster };

struct EngineOptions {
  RunnerKind kind = RunnerKind::kEmbedded;
  std::string data_dir = ".sematic";  // embedded: the scheduler's store and blobs
  std::string scheduler;              // cluster: HOST:PORT
  // Steps running at once: the silent runner's threads, the embedded worker's concurrent runs.
  // <= 0: the machine's hardware threads.
  int parallelism = 0;
  bool progress = true;  // one line per finished step on stderr
  // Embedded: the dashboard's HTTP port on 127.0.0.1 while the pipeline runs (taken: a free one
  // instead); 0 picks a free one; -1 serves none.
  int ui_port = 7071;
  // How long a submit waits for a worker offering the root step (workers still connecting).
  absl::Duration worker_wait = absl::Seconds(30);
  // Embedded only: each step attempt runs in a child process (this binary re-executed), so a
  // step that crashes fails its attempt instead of the pipeline; see docs/architecture.md,
  // "Isolation". The silent runner and the cluster runner refuse it (a cluster's workers choose
  // with `worker --isolate=process`).
  bool isolate_steps = false;
};

// Reads the engine's flags and removes them from argv (argc shrinks; the rest keep their
// order), so the program parses what is left:
//   --runner=silent|embedded|cluster   default $SEMATIC_RUNNER, else embedded; --scheduler
//                                      alone means cluster
//   --scheduler=HOST:PORT              default $SEMATIC_SCHEDULER
//   --data-dir=DIR                     default .sematic
//   --parallelism=N  --quiet (no progress lines)
//   --ui-port=N                        embedded: the dashboard's port (default 7071; 0: any
//                                      free one; -1: none)
//   --isolate=thread|process           embedded: where steps run (default thread)
// `pipeline_flags` are the program's own flags, by name ("--full", "--mnist-dir"): they are left
// in argv, as `--name` or `--name=value`. Any other argument starting with '-' (but not a
// negative number) is refused: INVALID_ARGUMENT "unknown flag --bogus=3; known flags: ...",
// listing the engine's and the pipeline's. Positional arguments stay; everything after a `--`
// is left to the program unchecked (the `--` itself is removed).
// INVALID_ARGUMENT naming the flag for a bad value, a cluster without a scheduler address, or
// --isolate=process on a runner that cannot isolate.
//
// Also: when argv is a step process of --isolate=process (worker/step_process.h) because main
// did not dispatch worker::IsWorkerCommand first, runs the step and exits the process.
absl::StatusOr<EngineOptions> ParseEngineFlags(
    int& argc, char** argv, absl::Span<const std::string_view> pipeline_flags = {});

// Starts the runner: the embedded engine opens its data directory (UNAVAILABLE, in one line,
// when another process holds it) and starts its scheduler and workers, which live until the
// runner is destroyed. The cluster runner connects lazily; an unreachable scheduler fails the
// first Resolve with UNAVAILABLE naming the address. INVALID_ARGUMENT for isolate_steps on a
// runner other than the embedded engine.
absl::StatusOr<std::unique_ptr<Runner>> MakeRunner(const EngineOptions& options);

// ParseEngineFlags, then MakeRunner.
absl::StatusOr<std::unique_ptr<Runner>> RunnerFromFlags(
    int& argc, char** argv, absl::Span<const std::string_view> pipeline_flags = {});

// Where the pipeline runs, for people: "in-process (silent runner)", "on the embedded engine
// (data in .sematic)" (", each step in a child process" with isolate_steps), "on the cluster
// at HOST:PORT".
std::string DescribeRunner(const EngineOptions& options);

}  // namespace sematic

#endif  // SEMATIC_ENGINE_H_
