// Futures and calls: how steps are composed into a graph.
//
//   Future<Dataset> data = sematic::Call(Load, "/data/train");
//   std::vector<Future<EvalResult>> results;
//   for (const Config& c : grid) results.push_back(sematic::Call(TrainEval, c, data));
//   Future<EvalResult> best = sematic::Call(PickBest, results);   // vector<Future<T>> gathers
//   Future<double> acc = best.Field(&EvalResult::accuracy);
//
// Call() does not run anything: it adds a node to the graph being built. Each argument may be a
// value convertible to the parameter's type, a Future of exactly that type, or, for a
// std::vector<T> parameter, a std::vector<Future<T>>. Anything else is a compile error.
//
// The function must be registered with SEMATIC_FUNC. That cannot be checked at compile time
// (Call receives a function pointer, and SEMATIC_FUNC may sit in another file), so a call of an
// unregistered function is an error at run time, never an abort: resolving its future fails, and
// a step that makes such a call fails (not retried), with an error that names the function:
//   "step Pipeline called (anonymous namespace)::Helper, which is not a registered step; add
//    SEMATIC_FUNC(Helper, ...) after its definition"
//
// Inside a step, every future the step creates must end up in what it returns (directly or as an
// input of something it returns); otherwise the run fails with an error naming the unused calls.
//
// Futures are cheap to copy (a shared pointer to an immutable node) and may be passed between
// threads.
#ifndef SEMATIC_FUTURE_H_
#define SEMATIC_FUTURE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/check.h"
#include "sematic/codec.h"
#include "sematic/func.h"
#include "sematic/v1/graph.pb.h"

namespace sematic {

namespace internal {

enum class NodeKind { kCall, kGather, kField, kElement, kLiteral };

// Built-in node function names, as they appear in v1::CallNode.function.
inline constexpr char kGatherFunction[] = "sematic.gather";
inline constexpr char kFieldFunction[] = "sematic.field";
inline constexpr char kElementFunction[] = "sematic.element";
inline constexpr char kLiteralFunction[] = "sematic.literal";

// One node of a graph under construction. Immutable once created.
struct Node {
  struct Arg {
    std::string name;
    std::shared_ptr<const Node> node;  // set: the output of another node
    v1::Value literal;                 // otherwise: this value
  };
  NodeKind kind = NodeKind::kCall;
  const FuncInfo* func = nullptr;  // kCall
  std::vector<Arg> args;
  uint32_t index = 0;  // kField, kElement
  const v1::TypeDesc* output_type = nullptr;
  std::string label;  // for messages: "Train (call #3 in Pipeline)"
  // Set when this node, or one it depends on, cannot run: a call of a function that is not a
  // registered step. Resolving the node, or returning it from a step, fails with this error.
  std::shared_ptr<const absl::Status> error;
};

// Records `node` in the current step scope (if any), labels it, takes the first error of the
// nodes it depends on, and returns it shared.
std::shared_ptr<const Node> NewNode(Node node, std::string_view what);

// The node Call() makes for a function with no SEMATIC_FUNC (at `address`): its error names the
// function (from the binary's symbol table) and says how to register it, and it fails the
// current step scope, if any. Defined in graph.cc.
std::shared_ptr<const Node> UnregisteredCallNode(const void* address,
                                                 const v1::TypeDesc* output_type);

template <typename T>
struct IsVector : std::false_type {};
template <typename T, typename A>
struct IsVector<std::vector<T, A>> : std::true_type {};

template <typename T>
struct IsFutureVector : std::false_type {};
template <typename T, typename A>
struct IsFutureVector<std::vector<Future<T>, A>> : std::true_type {
  using element = T;
};

// How an argument of C++ type A binds to a parameter of type P.
template <typename P, typename A>
struct ArgBinding {
  using D = std::remove_cvref_t<A>;
  static constexpr bool kFuture = std::is_same_v<D, Future<P>>;
  static constexpr bool kGather = [] {
    if constexpr (IsFutureVector<D>::value && IsVector<P>::value) {
      return std::is_same_v<typename IsFutureVector<D>::element, typename P::value_type>;
    } else {
      return false;
    }
  }();
  static constexpr bool kLiteral =
      !IsFuture<D>::value && !IsFutureVector<D>::value && std::is_convertible_v<A, P>;
};

// Compile-time check of argument number `Index`; the template arguments in the compiler's
// message say which argument, which parameter type and which argument type.
template <size_t Index, typename Param, typename Arg>
constexpr bool CheckArgument() {
  using B = ArgBinding<Param, Arg>;
  static_assert(B::kFuture || B::kGather || B::kLiteral,
                "sematic::Call: argument does not match the step's parameter type. Pass a value "
                "convertible to the parameter type, a Future of exactly that type, or, for a "
                "std::vector<T> parameter, a std::vector<Future<T>>.");
  return true;
}

template <typename T>
std::shared_ptr<const Node> LiteralNode(const T& value) {
  Node node;
  node.kind = NodeKind::kLiteral;
  node.args.push_back({"value", nullptr, Encode(value)});
  node.output_type = &TypeOf<T>();
  return NewNode(std::move(node), kLiteralFunction);
}

template <typename T>
std::shared_ptr<const Node> GatherNode(const std::vector<Future<T>>& items);

// A field of a struct (kField) or an element of a tuple (kElement) of `input`'s value.
std::shared_ptr<const Node> ProjectionNode(NodeKind kind, std::shared_ptr<const Node> input,
                                           uint32_t index, const v1::TypeDesc* output_type);

template <typename P, typename A>
Node::Arg BindArgument(const std::string& name, A&& arg) {
  using B = ArgBinding<P, A>;
  if constexpr (B::kFuture) {
    return {name, arg.node(), {}};
  } else if constexpr (B::kGather) {
    return {name, GatherNode(arg), {}};
  } else {
    return {name, nullptr, Encode<P>(static_cast<P>(std::forward<A>(arg)))};
  }
}

}  // namespace internal

// A value that a step will produce. See the file comment.
template <typename T>
class Future {
 public:
  static_assert(kIsCodable<T>, "sematic::Future<T>: T has no codec (see sematic/codec.h)");
  using value_type = T;

  // A future that is already resolved to `value`, so that a nested step can `return 0;` in its
  // base case.
  Future(const T& value) : node_(internal::LiteralNode(value)) {}  // NOLINT: implicit on purpose

  // The future of one field of a SEMATIC_STRUCT value.
  template <typename M, typename S = T>
  Future<M> Field(M S::*member) const {
    static_assert(std::is_same_v<S, T>, "Future<T>::Field: the member must belong to T");
    const int index = internal::FieldIndex<S, M>(member);
    SEMATIC_CHECK(index >= 0, "Future::Field: the member is not listed in SEMATIC_STRUCT");
    return Future<M>::FromNode(internal::ProjectionNode(internal::NodeKind::kField, node_,
                                                        static_cast<uint32_t>(index),
                                                        &TypeOf<M>()));
  }

  // The future of element I of a std::tuple or std::pair value.
  template <size_t I>
  Future<std::tuple_element_t<I, T>> Get() const {
    using E = std::tuple_element_t<I, T>;
    return Future<E>::FromNode(
        internal::ProjectionNode(internal::NodeKind::kElement, node_, I, &TypeOf<E>()));
  }

  // Resolves this future with the default runner (see sematic/runner.h) and returns its value.
  absl::StatusOr<T> Resolve() const;

  const std::shared_ptr<const internal::Node>& node() const { return node_; }

  // For runtimes: wraps a node whose output type is T's.
  static Future FromNode(std::shared_ptr<const internal::Node> node) {
    return Future(std::move(node), 0);
  }

 private:
  Future(std::shared_ptr<const internal::Node> node, int) : node_(std::move(node)) {}

  std::shared_ptr<const internal::Node> node_;
};

namespace internal {

template <typename T>
std::shared_ptr<const Node> GatherNode(const std::vector<Future<T>>& items) {
  Node node;
  node.kind = NodeKind::kGather;
  node.args.reserve(items.size());
  for (const Future<T>& item : items) node.args.push_back({std::string(), item.node(), {}});
  node.output_type = &TypeOf<std::vector<T>>();
  return NewNode(std::move(node), kGatherFunction);
}

template <typename... P, typename... A, size_t... I>
std::shared_ptr<const Node> CallNode(const FuncInfo& info, std::index_sequence<I...>,
                                     A&&... args) {
  Node node;
  node.kind = NodeKind::kCall;
  node.func = &info;
  node.args.reserve(sizeof...(A));
  (node.args.push_back(BindArgument<Stored<P>>(info.param_names[I], std::forward<A>(args))), ...);
  node.output_type = info.result_type;
  return NewNode(std::move(node), info.name);
}

}  // namespace internal

// Adds a call of the registered step `fn` to the graph; see the file comment.
template <typename R, typename... P, typename... A>
Future<typename internal::StepValue<R>::type> Call(R (*fn)(P...), A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A),
                "sematic::Call: wrong number of arguments for this step");
  [[maybe_unused]] constexpr bool checked = []<size_t... I>(std::index_sequence<I...>) {
    return (internal::CheckArgument<I, internal::Stored<P>, A>() && ...);
  }(std::index_sequence_for<P...>{});
  using V = typename internal::StepValue<R>::type;
  const void* address = reinterpret_cast<const void*>(fn);
  const FuncInfo* info = internal::FindFuncByAddress(address);
  if (info == nullptr) {
    return Future<V>::FromNode(internal::UnregisteredCallNode(address, &TypeOf<V>()));
  }
  return Future<V>::FromNode(internal::CallNode<P...>(*info, std::index_sequence_for<P...>{},
                                                      std::forward<A>(args)...));
}

// The graph a future stands for: every node it depends on, in topological order, with
// `output_node` set to its own node. Shared nodes appear once.
v1::Graph BuildGraph(const std::shared_ptr<const internal::Node>& output);

namespace internal {
// BuildGraph's result, built on a protobuf arena that the returned pointer owns: graphs of 100k
// calls are allocated and freed in large blocks.
std::shared_ptr<const v1::Graph> BuildSharedGraph(const std::shared_ptr<const Node>& output);
}  // namespace internal

template <typename T>
v1::Graph BuildGraph(const Future<T>& future) {
  return BuildGraph(future.node());
}

}  // namespace sematic

#endif  // SEMATIC_FUTURE_H_
