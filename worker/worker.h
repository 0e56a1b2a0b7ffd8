// The worker runtime: serves the steps registered in this process (SEMATIC_FUNC) to a
// scheduler. Transport-free: it speaks WorkerMessage / SchedulerMessage over a Connector, so the
// same worker runs over gRPC (a cluster) and in-process (the embedded engine).
//
//   WorkerOptions options;
//   options.resources.set_cpus(4);
//   options.max_concurrent_runs = 4;
//   ASSIGN_OR_RETURN(std::unique_ptr<Worker> worker,
//                    Worker::Create(options, MakeGrpcConnector(channel), MakeGrpcArtifactClient(channel)));
//   worker->Start();
//   ...  worker->Drain();          // SIGTERM: stop taking work, finish, flush
//   absl::Status done = worker->WaitUntilDrained(absl::InfiniteDuration());
//
// What it does: announces every registered step with the machine's resources; runs assignments
// on a pool of max_concurrent_runs threads, each within the resources it declared (GPU ids are
// handed to the step through Context::gpu_ids()); fetches inputs given by digest through a
// local cache; uploads large outputs; streams logs and metrics; sends results in batches and
// keeps them until acknowledged; heartbeats; honours cancellation and deadlines (a step that
// ignores Context::Cancelled() past a grace period is reported and its resources freed, though
// its thread stays busy until it returns — unless `isolation` runs it in a child process, which
// is killed); reconnects with exponential backoff and jitter, and
// resends whatever the scheduler has not acknowledged. While no stream opens it says so, once
// per attempt: "waiting for scheduler at HOST:PORT (connection refused); retrying in 1.6s".
//
// Thread-safety: all public methods may be called from any thread. State lives on one event
// loop. Destruction closes the stream and waits for steps still running to return.
#ifndef SEMATIC_WORKER_WORKER_H_
#define SEMATIC_WORKER_WORKER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sematic/v1/function.pb.h"
#include "worker/transport.h"

namespace sematic::worker {

// Where a step's body runs.
enum class Isolation {
  kThread,   // on a thread of the worker: cheapest; a crashing step takes the worker down
  kProcess,  // in a child process per attempt (worker/step_process.h): a crash fails one attempt
};

struct WorkerOptions {
  std::string worker_id;  // empty: "<host>-<pid>-<random>", stable for the process
  v1::Resources resources;
  std::map<std::string, std::string> labels;
  int max_concurrent_runs = 1;
  std::string cache_dir;            // empty: no local artifact cache
  int64_t cache_max_bytes = int64_t{10} << 30;
  int64_t max_inline_output_bytes = 1 << 20;  // larger outputs are uploaded as artifacts
  absl::Duration cancel_grace = absl::Seconds(5);
  absl::Duration reconnect_initial_backoff = absl::Milliseconds(100);
  absl::Duration reconnect_max_backoff = absl::Seconds(10);
  absl::Duration log_flush_interval = absl::Milliseconds(200);
  // How long a run runs before news of it is sent (the scheduler shows it RUNNING, not
  // ASSIGNED, from then on): a step that ends sooner needs none, its result says it all, so
  // short steps — even back to back — cost one message each way instead of two.
  absl::Duration started_notice_delay = absl::Milliseconds(20);
  // How long finished results may wait for company while more runs sent ahead wait here than
  // results are unsent (the scheduler needs none of them to keep this worker busy): several
  // then go up in one message and cost the scheduler one turn, not one each. In practice the
  // wait ends sooner: once half the waiting runs have finished, or 16 results wait. Zero sends
  // every turn's results at its end. Like Dask's batched worker stream, but only when queued
  // up: a chain or an idle worker never waits.
  absl::Duration result_hold = absl::Milliseconds(25);
  size_t max_buffered_log_entries = 100'000;  // beyond this (no stream), the oldest are dropped
  Isolation isolation = Isolation::kThread;
  // kProcess: shared libraries the step process dlopen()s before looking the step up (the
  // --load libraries of sematic-worker; empty for pipeline binaries, whose steps are linked in).
  std::vector<std::string> step_process_libraries;
  // Where the worker's one-line notices go ("sematic-worker ID: waiting for scheduler at ...",
  // draining, a step ignoring cancellation), without the newline; called on the worker's event
  // loop. Null: stderr.
  std::function<void(const std::string& line)> notice;
};

class Worker {
 public:
  // INVALID_ARGUMENT naming the option when one is out of range; the cache's error when the
  // cache directory cannot be opened. `artifacts` may be null: outputs then always travel
  // inline, and inputs given by digest fail the attempt as an infrastructure error.
  static absl::StatusOr<std::unique_ptr<Worker>> Create(WorkerOptions options,
                                                        std::unique_ptr<Connector> connector,
                                                        std::unique_ptr<ArtifactClient> artifacts);
  virtual ~Worker() = default;

  // Connects (and keeps reconnecting) and starts taking assignments.
  virtual void Start() = 0;
  // Stops taking assignments; running steps finish and their results are flushed. The
  // scheduler's Drain message does the same.
  virtual void Drain() = 0;
  // Blocks until draining finished (no run left, every result acknowledged): OK; or
  // DEADLINE_EXCEEDED after `timeout`.
  virtual absl::Status WaitUntilDrained(absl::Duration timeout) = 0;

  virtual const std::string& id() const = 0;
  // True while a stream is open and the scheduler has welcomed this worker.
  virtual bool connected() const = 0;
};

}  // namespace sematic::worker

#endif  // SEMATIC_WORKER_WORKER_H_
