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

}  // namespace

std::optional<v1::Graph> SplitLargeGathers(const v1::Graph& graph, int max_inputs) {
  bool any = false;
  for (const v1::CallNode& node : graph.nodes()) any = any || NeedsSplit(node, max_inputs);
  if (!any) return std::nullopt;
  std::vector<v1::CallNode> nodes;
  nodes.reserve(graph.nodes_size());
  for (const v1::CallNode& node : graph.nodes()) {
    if (NeedsSplit(node, max_inputs)) {
      Split(node, max_inputs, kGatherFunction, 0, &nodes);
    } else {
      nodes.push_back(node);
    }
  }
  // Generated ids must not collide with the graph's own (a remote client picks its ids); on a
  // collision the graph stays as it is: correct, only with larger records.
  absl::flat_hash_set<std::string_view> ids;
  for (const v1::CallNode& node : nodes) {
    if (!ids.insert(node.id()).second) return std::nullopt;
  }
  v1::Graph out;
  out.set_output_node(graph.output_node());
  out.mutable_nodes()->Reserve(static_cast<int>(nodes.size()));
  for (v1::CallNode& node : nodes) *out.add_nodes() = std::move(node);
  return out;
}

}  // namespace sematic::scheduler
