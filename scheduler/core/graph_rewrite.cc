#include "scheduler/core/graph_rewrite.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace sematic::scheduler {
namespace {

constexpr char kGatherFunction[] = "sematic.gather";

bool NeedsSplit(const v1::CallNode& node, int max_inputs) {
  return node.function() == kGatherFunction && node.args_size() > max_inputs;
}

// Appends to `out` the nodes that replace `node` (a gather or concat of more than `max_inputs`
// inputs): parts first, then the node itself with one input per part.
void Split(v1::CallNode node, int max_inputs, const std::string& part_function, int level,
           std::vector<v1::CallNode>* out) {
  if (node.args_size() <= max_inputs) {
    out->push_back(std::move(node));
    return;
  }
  v1::CallNode top;
  top.set_id(node.id());
  top.set_function(kConcatFunction);
  *top.mutable_output_type() = node.output_type();
  top.set_created_at(node.created_at());
  for (int first = 0, part = 0; first < node.args_size(); first += max_inputs, ++part) {
    v1::CallNode piece;
    piece.set_id(level == 0 ? absl::StrCat(node.id(), "/part", part)
                            : absl::StrCat(node.id(), "/level", level, ".part", part));
    piece.set_function(part_function);
    *piece.mutable_output_type() = node.output_type();
    piece.set_created_at(node.created_at());
    const int last = std::min(node.args_size(), first + max_inputs);
    for (int i = first; i < last; ++i) *piece.add_args() = std::move(*node.mutable_args(i));
    v1::Arg* ref = top.add_args();
    ref->set_name(absl::StrCat("part", part));
    ref->set_node(piece.id());
    out->push_back(std::move(piece));
  }
  // The concat itself may have too many parts: split it into concats of concats.
  Split(std::move(top), max_inputs, kConcatFunction, level + 1, out);
}

// The ids Split generates for a node `id` of `inputs` inputs, in the same order.
void GeneratedIds(const std::string& id, int inputs, int max_inputs, int level,
                  std::vector<std::string>* out) {
  if (inputs <= max_inputs) return;
  int parts = 0;
  for (int first = 0; first < inputs; first += max_inputs, ++parts) {
    out->push_back(level == 0 ? absl::StrCat(id, "/part", parts)
                              : absl::StrCat(id, "/level", level, ".part", parts));
  }
  GeneratedIds(id, parts, max_inputs, level + 1, out);
}

}  // namespace

bool SplitLargeGathers(v1::Graph* graph, int max_inputs) {
  std::vector<std::string> generated;
  for (const v1::CallNode& node : graph->nodes()) {
    if (NeedsSplit(node, max_inputs)) {
      GeneratedIds(node.id(), node.args_size(), max_inputs, 0, &generated);
    }
  }
  if (generated.empty()) return false;
  // Generated ids must not collide with the graph's own (a remote client picks its ids). Checked
  // before anything is moved.
  absl::flat_hash_set<std::string_view> ids;
  for (const v1::CallNode& node : graph->nodes()) ids.insert(node.id());
  for (const std::string& id : generated) {
    if (!ids.insert(id).second) return false;
  }
  std::vector<v1::CallNode> nodes;
  nodes.reserve(graph->nodes_size() + generated.size());
  for (v1::CallNode& node : *graph->mutable_nodes()) {
    if (NeedsSplit(node, max_inputs)) {
      Split(std::move(node), max_inputs, kGatherFunction, 0, &nodes);
    } else {
      nodes.push_back(std::move(node));
    }
  }
  graph->clear_nodes();
  graph->mutable_nodes()->Reserve(static_cast<int>(nodes.size()));
  for (v1::CallNode& node : nodes) *graph->add_nodes() = std::move(node);
  return true;
}

}  // namespace sematic::scheduler
