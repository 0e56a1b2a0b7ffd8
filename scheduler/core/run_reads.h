// RunService reads over the store's committed state: log pages, metrics, lineage. Plain
// functions of a Store, so they run wherever the caller reads (the scheduler calls them on its
// loop after the turn's commit) and tests can call them on a store they fill themselves.
//
//   ASSIGN_OR_RETURN(v1::LogLines page, ReadLogPage(store, run, /*from=*/0, /*max_lines=*/500));
//   ASSIGN_OR_RETURN(v1::GetLineageResponse lineage, BuildLineage(store, request));
#ifndef SEMATIC_SCHEDULER_CORE_RUN_READS_H_
#define SEMATIC_SCHEDULER_CORE_RUN_READS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/store/keys.h"
#include "scheduler/store/store.h"
#include "sematic/v1/run_service.pb.h"

namespace sematic::scheduler {

// Lines of `run` from index `from`, at most `max_lines` (first_index = from).
absl::StatusOr<v1::LogLines> ReadLogPage(const Store& store, RunKey run, uint64_t from,
                                         size_t max_lines);

// The metric points of `run` in the order they were logged; only those called `name` unless it
// is empty.
absl::StatusOr<v1::GetRunMetricsResponse> ReadMetrics(const Store& store, RunKey run,
                                                      std::string_view name);

// The name of argument `index` of `node` as clients see it: the parameter's name, or "[i]" for
// the i-th element of a gather (whose arguments have none).
std::string InputName(const v1::CallNode& node, int index);

// `stored`'s inputs (Run.inputs): name, the producing run and its output's digest, or the
// literal value; at most `max_inputs` (a gather of a million inputs is summarised by its first).
// `produced` overrides the digest per argument where it is known and not empty (a live run's
// inputs can be newer than the producers' committed records).
absl::StatusOr<google::protobuf::RepeatedPtrField<v1::RunInput>> ReadRunInputs(
    const Store& store, const internal::StoredRun& stored,
    const std::vector<std::string>& produced = {}, size_t max_inputs = 1000);

// Lineage (see run_service.proto). By artifact: its producer run, that run's inputs and their
// producers, transitively. By run: the same upstream walk from the run, plus the consumers of its
// output, transitively. Both stop at `max_depth` hops (default 10) and after `max_runs` runs.
// Runs appear once each, without logs or metrics. An input given as an inline literal has an
// edge with no digest and no producer (it is not stored as an artifact).
// INVALID_ARGUMENT: neither digest nor run id, a malformed one, a negative max_depth;
// NOT_FOUND: unknown digest or run.
absl::StatusOr<v1::GetLineageResponse> BuildLineage(const Store& store,
                                                    const v1::GetLineageRequest& request,
                                                    size_t max_runs = 10'000);

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_CORE_RUN_READS_H_
