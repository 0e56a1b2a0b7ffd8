// Command-line flags of a worker process, and what the machine offers when they are omitted.
//
//   ./my_pipeline worker --scheduler=10.0.0.5:7070 --cpus=4 --memory=8GiB --gpus=1
//       --resource=tpu=2 --label=pool=gpu --max-runs=4 --cache-dir=/var/cache/sematic
//       --isolate=process
//
//   ASSIGN_OR_RETURN(WorkerFlags flags, ParseWorkerFlags(args, DetectMachine()));
//
// Errors are one line naming the flag and what it expects:
//   "--memory: expected a size like 8GiB, 512MiB or 1000000, got \"8XB\"".
#ifndef SEMATIC_WORKER_FLAGS_H_
#define SEMATIC_WORKER_FLAGS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/worker.h"

namespace sematic::worker {

// What this machine (or container) offers.
struct Machine {
  double cpus = 1;           // CPUs this process may run on (sched_getaffinity)
  int64_t memory_bytes = 0;  // physical memory, or the cgroup limit when lower
  int gpus = 0;              // `nvidia-smi -L` lines; 0 without nvidia-smi
};
Machine DetectMachine();

struct WorkerFlags {
  std::string scheduler;  // host:port
  WorkerOptions options;
  absl::Duration drain_timeout = absl::Minutes(1);
  std::vector<std::string> load;  // --load: shared libraries of steps (sematic-worker only)
};

// Parses flags (`--name=value` or `--name value`; the program name and the `worker` subcommand
// already removed). Resources omitted default to `machine`; --max-runs defaults to the cpu
// count (at least 1). `--load` is accepted only when `allow_load`. INVALID_ARGUMENT naming the
// flag for anything unknown, missing or malformed.
absl::StatusOr<WorkerFlags> ParseWorkerFlags(const std::vector<std::string>& args,
                                             const Machine& machine, bool allow_load = false);

// "8GiB", "512MiB", "1.5G", "100MB", "4096" (bytes). Binary units: KiB MiB GiB TiB (or Ki, Mi,
// Gi, Ti); decimal: K/KB, M/MB, G/GB, T/TB; case-insensitive; an optional "B" for bytes.
// INVALID_ARGUMENT for anything else, negative sizes or sizes beyond 2^63.
absl::StatusOr<int64_t> ParseByteSize(std::string_view text);

// The usage text printed for --help and after an error.
std::string WorkerUsage(std::string_view program, bool allow_load);

}  // namespace sematic::worker

#endif  // SEMATIC_WORKER_FLAGS_H_
