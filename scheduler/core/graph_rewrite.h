// Rewrites of a validated graph before the scheduler persists it.
#ifndef SEMATIC_SCHEDULER_CORE_GRAPH_REWRITE_H_
#define SEMATIC_SCHEDULER_CORE_GRAPH_REWRITE_H_

#include "sematic/v1/graph.pb.h"

namespace sematic::scheduler {

// Built-in that concatenates its list inputs in order (the top of a split gather).
inline constexpr char kConcatFunction[] = "sematic.concat";

// A gather of a million futures would be one run record listing a million inputs: megabytes
// rewritten on every state change, and a record RocksDB handles badly. Each gather with more
// than `max_inputs` inputs becomes a tree: gathers of at most `max_inputs` consecutive inputs
// ("<id>/part<k>"), under a `sematic.concat` node that keeps the original id, so references to
// the gather and the graph's output still resolve, and its value is the same list. Parts come
// right before their concat (topological order is kept); a concat with more than `max_inputs`
// parts is split again. Rewrites `graph` in place, moving its nodes (a million-node fan-out is
// not copied). Returns whether it split anything: false when no gather needs it (the common
// case), or when a generated id would collide with one of the graph's own (the graph is then
// left as it is: correct, only with larger records). `max_inputs` must be at least 2.
bool SplitLargeGathers(v1::Graph* graph, int max_inputs);

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_CORE_GRAPH_REWRITE_H_
