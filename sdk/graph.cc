// Building graphs from futures, unused-future detection, and graph validation.
#include "sematic/graph.h"

#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "sematic/future.h"

namespace sematic {
namespace internal {
namespace {

absl::string_view BuiltinName(NodeKind kind) {
  switch (kind) {
    case NodeKind::kGather:
      return kGatherFunction;
    case NodeKind::kField:
      return kFieldFunction;
    case NodeKind::kElement:
      return kElementFunction;
    case NodeKind::kLiteral:
      return kLiteralFunction;
    case NodeKind::kCall:
      break;
  }
  return "";
}

struct Ordered {
  std::vector<const Node*> order;                // topological
  absl::flat_hash_map<const Node*, size_t> index;  // position in `order`
};

// Depth-first post-order without recursion: chains of 100k calls must not overflow the stack.
Ordered TopologicalOrder(const Node* output) {
  Ordered out;
  absl::flat_hash_map<const Node*, bool> seen;
  std::vector<std::pair<const Node*, size_t>> stack;
  stack.emplace_back(output, 0);
  seen[output] = true;
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->args.size()) {
      const Node* child = node->args[next++].node.get();
      if (child != nullptr && seen.emplace(child, true).second) stack.emplace_back(child, 0);
      continue;
    }
    out.index[node] = out.order.size();
    out.order.push_back(node);
    stack.pop_back();
  }
  return out;
}

void ToProto(const Ordered& ordered, v1::Graph& graph) {
  graph.mutable_nodes()->Reserve(static_cast<int>(ordered.order.size()));
  for (size_t i = 0; i < ordered.order.size(); ++i) {
    const Node& node = *ordered.order[i];
    v1::CallNode* call = graph.add_nodes();
    call->set_id(absl::StrCat("n", i));
    if (node.kind == NodeKind::kCall && node.func == nullptr) {
      // An unregistered function (node.error says which): no name ValidateGraph would accept.
    } else if (node.kind == NodeKind::kCall) {
      call->set_function(node.func->name);
      call->set_version(node.func->options.version);
    } else {
      call->set_function(std::string(BuiltinName(node.kind)));
    }
    call->mutable_args()->Reserve(static_cast<int>(node.args.size()));
    for (const Node::Arg& arg : node.args) {
      v1::Arg* out = call->add_args();
      out->set_name(arg.name);
      if (arg.node != nullptr) {
        out->set_node(absl::StrCat("n", ordered.index.at(arg.node.get())));
      } else {
        *out->mutable_literal() = arg.literal;
      }
    }
    if (node.kind == NodeKind::kField || node.kind == NodeKind::kElement) {
      v1::Arg* index = call->add_args();
      index->set_name("index");
      index->mutable_literal()->set_uint_value(node.index);
    }
    *call->mutable_output_type() = *node.output_type;
    call->set_created_at(node.label);
  }
  graph.set_output_node(absl::StrCat("n", ordered.order.size() - 1));
}

std::shared_ptr<const v1::Graph> ToSharedProto(const Ordered& ordered) {
  auto* arena = new google::protobuf::Arena(LargeArenaOptions());
  v1::Graph* graph = google::protobuf::Arena::CreateMessage<v1::Graph>(arena);
  ToProto(ordered, *graph);
  return std::shared_ptr<const v1::Graph>(graph, [arena](const v1::Graph*) { delete arena; });
}

absl::Status UnusedError(const StepScope& scope, const std::vector<const Node*>& unused,
                         absl::string_view hint) {
  std::vector<std::string> labels;
  for (size_t i = 0; i < unused.size() && i < 10; ++i) labels.push_back(unused[i]->label);
  if (unused.size() > 10) labels.push_back(absl::StrCat("and ", unused.size() - 10, " more"));
  return absl::FailedPreconditionError(
      absl::StrCat("step ", scope.step_name(), " created futures it neither returned nor passed "
                   "to another call: ", absl::StrJoin(labels, ", "), ". ", hint));
}

}  // namespace

std::shared_ptr<const Node> NewNode(Node node, std::string_view what) {
  StepScope* scope = StepScope::Current();
  if (scope != nullptr) {
    node.label = absl::StrCat(AsAbsl(what), " (call #", scope->NextCallNumber(), " in ",
                              scope->step_name(), ")");
  } else {
    node.label = std::string(what);
  }
  for (const Node::Arg& arg : node.args) {
    if (node.error != nullptr) break;
    if (arg.node != nullptr) node.error = arg.node->error;
  }
  auto shared = std::make_shared<const Node>(std::move(node));
  if (scope != nullptr) scope->Record(shared);
  return shared;
}

std::shared_ptr<const Node> UnregisteredCallNode(const void* address,
                                                 const v1::TypeDesc* output_type) {
  std::string name = FunctionNameAt(address);
  std::string short_name = name;
  if (size_t colons = short_name.rfind("::"); colons != std::string::npos) {
    short_name.erase(0, colons + 2);
  }
  if (name.empty()) {
    name = absl::StrCat("the function at ", absl::Hex(reinterpret_cast<uintptr_t>(address)),
                        " (no symbol table to name it)");
    short_name = "Function";
  }
  const std::string how =
      absl::StrCat("add SEMATIC_FUNC(", short_name, ", ...) after its definition");
  StepScope* scope = StepScope::Current();
  absl::Status error = absl::FailedPreconditionError(
      scope != nullptr ? absl::StrCat("step ", scope->step_name(), " called ", name,
                                      ", which is not a registered step; ", how)
                       : absl::StrCat("sematic::Call: ", name, " is not a registered step; ", how));
  if (scope != nullptr) scope->Fail(error);
  Node node;
  node.kind = NodeKind::kCall;
  node.output_type = output_type;
  node.error = std::make_shared<const absl::Status>(std::move(error));
  return NewNode(std::move(node), name);
}

std::shared_ptr<const Node> ProjectionNode(NodeKind kind, std::shared_ptr<const Node> input,
                                           uint32_t index, const v1::TypeDesc* output_type) {
  Node node;
  node.kind = kind;
  node.args.push_back({"input", std::move(input), {}});
  node.index = index;
  node.output_type = output_type;
  return NewNode(std::move(node), AsStd(BuiltinName(kind)));
}

StepResult FinishPlain(StepScope& scope, v1::Value value) {
  if (!scope.error().ok()) return StepResult::Failed(scope.error(), false);
  if (!scope.created().empty()) {
    std::vector<const Node*> unused;
    for (const auto& node : scope.created()) unused.push_back(node.get());
    return StepResult::Failed(
        UnusedError(scope, unused,
                    "A step that calls other steps must return a Future of its result."),
        false);
  }
  StepResult result;
  result.value = std::move(value);
  return result;
}

StepResult FinishFuture(StepScope& scope, const std::shared_ptr<const Node>& output) {
  if (!scope.error().ok()) return StepResult::Failed(scope.error(), false);
  if (output->error != nullptr) return StepResult::Failed(*output->error, false);
  Ordered ordered = TopologicalOrder(output.get());
  std::vector<const Node*> unused;
  for (const auto& node : scope.created()) {
    if (!ordered.index.contains(node.get())) unused.push_back(node.get());
  }
  if (!unused.empty()) {
    return StepResult::Failed(
        UnusedError(scope, unused, "Return them, pass them to a call you return, or remove them."),
        false);
  }
  StepResult result;
  result.graph = ToSharedProto(ordered);
  return result;
}

}  // namespace internal

v1::Graph BuildGraph(const std::shared_ptr<const internal::Node>& output) {
  v1::Graph graph;
  internal::ToProto(internal::TopologicalOrder(output.get()), graph);
  return graph;
}

namespace internal {

std::shared_ptr<const v1::Graph> BuildSharedGraph(const std::shared_ptr<const Node>& output) {
  return ToSharedProto(TopologicalOrder(output.get()));
}

google::protobuf::ArenaOptions LargeArenaOptions() {
  google::protobuf::ArenaOptions options;
  options.start_block_size = 16 * 1024;
  options.max_block_size = 1024 * 1024;
  return options;
}

}  // namespace internal

bool SameType(const v1::TypeDesc& a, const v1::TypeDesc& b) {
  if (&a == &b) return true;
  std::string sa, sb;
  a.SerializePartialToString(&sa);
  b.SerializePartialToString(&sb);
  return sa == sb;
}

namespace {

absl::Status ArgError(int node_index, const v1::CallNode& node, int arg_index,
                      const v1::Arg& arg, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("graph.nodes[", node_index, "] (", node.id(),
                                                 ").args[", arg_index, "] (", arg.name(),
                                                 "): ", message));
}

absl::Status NodeError(int node_index, const v1::CallNode& node, absl::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat("graph.nodes[", node_index, "] (", node.id(), "): ", message));
}

}  // namespace

absl::StatusOr<SignatureRef> LookupRegisteredFunction(std::string_view name,
                                                      std::string_view version) {
  ASSIGN_OR_RETURN(const FuncInfo* info, FindFunc(name, version));
  SignatureRef ref;
  ref.name = info->name;
  ref.param_names = &info->param_names;
  ref.param_types = &info->param_types;
  ref.result_type = info->result_type;
  return ref;
}

absl::Status ValidateGraph(const v1::Graph& graph, const GraphLimits& limits) {
  return ValidateGraph(graph, LookupRegisteredFunction, limits);
}

absl::Status ValidateGraph(const v1::Graph& graph, const FunctionLookup& lookup,
                           const GraphLimits& limits) {
  if (graph.nodes_size() == 0) return absl::InvalidArgumentError("graph.nodes: is empty");
  if (static_cast<size_t>(graph.nodes_size()) > limits.max_nodes) {
    return absl::InvalidArgumentError(absl::StrCat("graph.nodes: has ", graph.nodes_size(),
                                                   " nodes, more than the limit of ",
                                                   limits.max_nodes));
  }
  absl::flat_hash_map<absl::string_view, const v1::CallNode*> by_id;
  for (int i = 0; i < graph.nodes_size(); ++i) {
    const v1::CallNode& node = graph.nodes(i);
    if (node.id().empty() || node.id().size() > limits.max_id_length) {
      return NodeError(i, node, absl::StrCat("id must have 1 to ", limits.max_id_length,
                                             " characters"));
    }
    if (by_id.contains(node.id())) return NodeError(i, node, "duplicate node id");
    if (static_cast<size_t>(node.args_size()) > limits.max_args_per_node) {
      return NodeError(i, node, absl::StrCat("has more than ", limits.max_args_per_node,
                                             " arguments"));
    }
    // The type each argument must have, where the function fixes it.
    absl::InlinedVector<const v1::TypeDesc*, 8> expected(node.args_size(), nullptr);
    const v1::TypeDesc& out = node.output_type();
    if (node.function() == internal::kGatherFunction) {
      if (out.kind() != v1::TypeDesc::LIST || out.params_size() != 1) {
        return NodeError(i, node, "a gather's output_type must be a LIST");
      }
      for (auto& e : expected) e = &out.params(0);
    } else if (node.function() == internal::kLiteralFunction) {
      if (node.args_size() != 1) return NodeError(i, node, "a literal takes exactly one arg");
      expected[0] = &out;
    } else if (node.function() == internal::kFieldFunction ||
               node.function() == internal::kElementFunction) {
      if (node.args_size() != 2 || node.args(1).name() != "index" ||
          node.args(1).source_case() != v1::Arg::kLiteral ||
          node.args(1).literal().kind_case() != v1::Value::kUintValue) {
        return NodeError(i, node, "expects args \"input\" and a literal uint \"index\"");
      }
    } else {
      absl::StatusOr<SignatureRef> func = lookup(node.function(), node.version());
      if (!func.ok()) {
        return absl::Status(func.status().code(),
                            absl::StrCat("graph.nodes[", i, "] (", node.id(),
                                         ").function: ", func.status().message()));
      }
      const SignatureRef& info = *func;
      const std::vector<std::string>& param_names = *info.param_names;
      if (static_cast<size_t>(node.args_size()) != param_names.size()) {
        return NodeError(i, node, absl::StrCat(AsAbsl(info.name), " takes ", param_names.size(),
                                               " arguments, got ", node.args_size()));
      }
      if (!SameType(out, *info.result_type)) {
        return NodeError(i, node, absl::StrCat("output_type is ", TypeName(out), " but ",
                                               AsAbsl(info.name), " returns ",
                                               TypeName(*info.result_type)));
      }
      for (int a = 0; a < node.args_size(); ++a) {
        if (node.args(a).name() != param_names[a]) {
          return ArgError(i, node, a, node.args(a),
                          absl::StrCat("expected parameter \"", param_names[a], "\""));
        }
        expected[a] = (*info.param_types)[a];
      }
    }
    for (int a = 0; a < node.args_size(); ++a) {
      const v1::Arg& arg = node.args(a);
      const v1::TypeDesc* input_type = nullptr;
      switch (arg.source_case()) {
        case v1::Arg::kNode: {
          auto it = by_id.find(arg.node());
          if (it == by_id.end()) {
            return ArgError(i, node, a, arg,
                            absl::StrCat("refers to node \"", arg.node(),
                                         "\", which is not an earlier node of this graph"));
          }
          input_type = &it->second->output_type();
          if (expected[a] != nullptr && !SameType(*input_type, *expected[a])) {
            return ArgError(i, node, a, arg,
                            absl::StrCat("expected ", TypeName(*expected[a]), ", got ",
                                         TypeName(*input_type), " from node ", arg.node()));
          }
          break;
        }
        case v1::Arg::kLiteral:
          if (expected[a] != nullptr) {
            absl::Status s = ValidateValue(*expected[a], arg.literal(),
                                           arg.name().empty() ? "literal" : arg.name());
            if (!s.ok()) return ArgError(i, node, a, arg, s.message());
          }
          break;
        case v1::Arg::kArtifact:
          return ArgError(i, node, a, arg,
                          "artifact references need a scheduler's artifact store");
        case v1::Arg::SOURCE_NOT_SET:
          return ArgError(i, node, a, arg, "has no literal, node or artifact");
      }
      if (a == 0 && (node.function() == internal::kFieldFunction ||
                     node.function() == internal::kElementFunction)) {
        if (input_type == nullptr) return ArgError(i, node, a, arg, "must refer to a node");
        const bool field = node.function() == internal::kFieldFunction;
        const uint64_t index = node.args(1).literal().uint_value();
        if (field ? input_type->kind() != v1::TypeDesc::STRUCT
                  : input_type->kind() != v1::TypeDesc::TUPLE) {
          return ArgError(i, node, a, arg, field ? "input is not a STRUCT" : "input is not a TUPLE");
        }
        const int count = field ? input_type->fields_size() : input_type->params_size();
        if (index >= static_cast<uint64_t>(count)) {
          return NodeError(i, node, absl::StrCat("index ", index, " is out of range"));
        }
        const v1::TypeDesc& member = field ? input_type->fields(static_cast<int>(index)).type()
                                           : input_type->params(static_cast<int>(index));
        if (!SameType(member, out)) {
          return NodeError(i, node, absl::StrCat("output_type is ", TypeName(out), " but the ",
                                                 field ? "field" : "element", " is ",
                                                 TypeName(member)));
        }
      }
    }
    by_id.emplace(node.id(), &node);
  }
  if (!by_id.contains(graph.output_node())) {
    return absl::InvalidArgumentError(absl::StrCat("graph.output_node: \"", graph.output_node(),
                                                   "\" is not a node of the graph"));
  }
  return absl::OkStatus();
}

}  // namespace sematic
