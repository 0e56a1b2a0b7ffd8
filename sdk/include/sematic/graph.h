// Checks on graphs of calls (v1::Graph) that come from outside the process's own typed C++ code:
// JSON submissions, remote clients, sub-graph registrations.
//
//   RETURN_IF_ERROR(sematic::ValidateGraph(graph));
#ifndef SEMATIC_GRAPH_H_
#define SEMATIC_GRAPH_H_

#include <cstddef>

#include "absl/status/status.h"
#include "google/protobuf/arena.h"
#include "sematic/v1/graph.pb.h"

namespace sematic {

struct GraphLimits {
  size_t max_nodes = 1'000'000;
  size_t max_args_per_node = 1'000'000;
  size_t max_id_length = 256;
};

// OK when `graph` is well-formed: unique non-empty node ids; every function registered in this
// process at the given version (or a built-in); arguments named and ordered as the function's
// parameters; node references pointing at earlier nodes; literal values and referenced outputs
// of the parameter's type; `output_node` present. Otherwise INVALID_ARGUMENT (or NOT_FOUND for
// an unknown function) naming the node and argument, e.g. "nodes[3] (n3).args[1] (data): ...".
absl::Status ValidateGraph(const v1::Graph& graph, const GraphLimits& limits = {});

// True when two type descriptors describe the same type.
bool SameType(const v1::TypeDesc& a, const v1::TypeDesc& b);

namespace internal {
// Arena blocks growing to 1 MiB, for arenas holding many messages (graphs, run records).
google::protobuf::ArenaOptions LargeArenaOptions();
}  // namespace internal

}  // namespace sematic

#endif  // SEMATIC_GRAPH_H_
