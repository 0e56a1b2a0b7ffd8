// What the two ends of the worker stream (protos/sematic/v1/worker_service.proto) rely on of
// each other beyond the messages themselves.
#ifndef SEMATIC_COMMON_WORKER_PROTOCOL_H_
#define SEMATIC_COMMON_WORKER_PROTOCOL_H_

#include <cstddef>

namespace sematic {

// A worker holds back at most this many finished results at a time, waiting for company
// (WorkerOptions::result_hold). So when a worker is lost, the scheduler knows that of the runs
// it sent ahead there (which start in the order sent, as runs end), only the first
// max_concurrent_runs + kMostResultsHeld can have started; the rest never did.
inline constexpr size_t kMostResultsHeld = 16;

}  // namespace sematic

#endif  // SEMATIC_COMMON_WORKER_PROTOCOL_H_
