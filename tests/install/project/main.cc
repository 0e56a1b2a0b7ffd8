// A pipeline built against an installed Sematic, its runner chosen by flags (Sematic::engine):
//   my_pipeline --runner=silent                       in-process
//   my_pipeline --runner=embedded --data-dir=DIR      the embedded engine (the default)
//   my_pipeline --scheduler=HOST:PORT                 a cluster
// and it serves its steps to a scheduler as `my_pipeline worker --scheduler=HOST:PORT`.
// Prints the result on stdout and the job's id (none for the silent runner) on stderr.
#include <iostream>
#include <memory>

#include "sematic/engine.h"
#include "steps.h"
#include "worker/worker_main.h"

int main(int argc, char** argv) {
  if (sematic::worker::IsWorkerCommand(argc, argv)) return sematic::worker::Main(argc, argv);
  absl::StatusOr<std::unique_ptr<sematic::Runner>> runner = sematic::RunnerFromFlags(argc, argv);
  if (!runner.ok()) {
    std::cerr << runner.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<int> total = (*runner)->Resolve(sematic::Call(SumOfSquares, 10));
  if (!total.ok()) {
    std::cerr << total.status() << "\n";
    return 1;
  }
  if (!(*runner)->last_job_id().empty()) std::cerr << "job " << (*runner)->last_job_id() << "\n";
  std::cout << "sum of squares: " << *total << "\n";
  return 0;
}
