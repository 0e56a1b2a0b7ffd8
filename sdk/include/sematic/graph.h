// Checks on graphs of calls (v1::Graph) that come from outside the process's own typed C++ code:
// JSON submissions, remote clients, sub-graph registrations.
//
//   RETURN_IF_ERROR(sematic::ValidateGraph(graph));
#ifndef SEMATIC_GRAPH_H_
#define SEMATIC_GRAPH_H_

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/arena.h"
#include "sematic/v1/graph.pb.h"

namespace sematic {

struct GraphLimits {
  size_t max_nodes = 1'000'000;
  size_t max_args_per_node = 1'000'000;
  size_t max_id_length = 256;
};

// What validation needs to know of a function. The pointers stay valid while the lookup's owner
// lives.
struct SignatureRef {
  std::string_view name;
  const std::vector<std::string>* param_names = nullptr;
  // Not owned (like param_names): a lookup per node copies no vector.
  const std::vector<const v1::TypeDesc*>* param_types = nullptr;
  const v1::TypeDesc* result_type = nullptr;
};
// Finds a function by name and version (empty: any); NOT_FOUND when unknown.
using FunctionLookup =
    std::function<absl::StatusOr<SignatureRef>(std::string_view name, std::string_view version)>;

// Looks functions up in this process's registry (SEMATIC_FUNC).
absl::StatusOr<SignatureRef> LookupRegisteredFunction(std::string_view name,
                                                      std::string_view version);

// OK when `graph` is well-formed: unique non-empty node ids; every function known to `lookup`
// at the given version (or a built-in); arguments named and ordered as the function's
// parameters; node references pointing at earlier nodes; literal values and referenced outputs
// of the parameter's type; `output_node` present. Otherwise INVALID_ARGUMENT (or NOT_FOUND for
// an unknown function) naming the node and argument, e.g. "nodes[3] (n3).args[1] (data): ...".
absl::Status ValidateGraph(const v1::Graph& graph, const FunctionLookup& lookup,
                           const GraphLimits& limits = {});
// The same, with functions looked up in this process's registry.
absl::Status ValidateGraph(const v1::Graph& graph, const GraphLimits& limits = {});

// True when two type descriptors describe the same type.
bool SameType(const v1::TypeDesc& a, const v1::TypeDesc& b);

namespace internal {
// Arena blocks growing to 1 MiB, for arenas holding many messages (graphs, run records).
google::protobuf::ArenaOptions LargeArenaOptions();
}  // namespace internal

}  // namespace sematic

#endif  // SEMATIC_GRAPH_H_
