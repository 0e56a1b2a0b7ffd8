// Steps: plain C++ functions registered once, with their signature and execution options.
//
//   EvalResult TrainEval(const Config& config, const Dataset& data) { ... }
//   SEMATIC_FUNC(TrainEval, "config", "data").Cpus(2).Gpus(1).Retry(3).Timeout(absl::Minutes(30));
//
//   Future<int> Pipeline(int n) { return sematic::Call(Add, n, sematic::Call(Square, n)); }
//   SEMATIC_FUNC(Pipeline, "n");            // returns Future<R>: a nested step
//
// A step returns a codable R (see codec.h), an absl::StatusOr<R> (a non-OK status fails the
// run), or a Future<R> (a nested step: the calls it makes become its children). Parameters are
// taken by value or by const reference. Exceptions thrown by a step fail the run; they never
// escape the runner.
//
// Registration happens during static initialisation; the registry is read-only afterwards and
// safe to read from any thread.
#ifndef SEMATIC_FUNC_H_
#define SEMATIC_FUNC_H_

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "sematic/codec.h"
#include "sematic/v1/function.pb.h"
#include "sematic/v1/graph.pb.h"

namespace sematic {

template <typename T>
class Future;

// How a failed step is retried. Attempts after the first, and the pause before each: `backoff`
// times `multiplier`^(retry-1), capped at `max_backoff`, with +-`jitter` (a fraction) randomness.
struct RetryPolicy {
  int max_retries = 0;
  absl::Duration backoff = absl::Seconds(1);
  double multiplier = 2.0;
  absl::Duration max_backoff = absl::Minutes(5);
  double jitter = 0.2;
};

// Execution options of a step. Resources and labels steer placement on a cluster; the in-process
// runner records them but runs every step on its own thread pool.
struct FuncOptions {
  double cpus = 1;
  int64_t memory_bytes = 0;  // 0: unspecified
  int gpus = 0;
  std::map<std::string, double> resources;  // custom counts, e.g. {"tpu", 2}
  std::map<std::string, std::string> labels;  // required worker labels
  RetryPolicy retry;
  absl::Duration timeout = absl::InfiniteDuration();
  bool cache = false;
  std::string version = "1";
};

// Chainable setters on a registered step's options, returned by SEMATIC_FUNC.
class FuncBuilder {
 public:
  explicit FuncBuilder(FuncOptions* options) : options_(options) {}

  FuncBuilder& Cpus(double n) { options_->cpus = n; return *this; }
  FuncBuilder& Memory(int64_t bytes) { options_->memory_bytes = bytes; return *this; }
  FuncBuilder& MemoryMiB(int64_t mib) { return Memory(mib << 20); }
  FuncBuilder& Gpus(int n) { options_->gpus = n; return *this; }
  FuncBuilder& Resource(std::string name, double count) {
    options_->resources[std::move(name)] = count;
    return *this;
  }
  FuncBuilder& Label(std::string key, std::string value) {
    options_->labels[std::move(key)] = std::move(value);
    return *this;
  }
  FuncBuilder& Retry(int max_retries, absl::Duration backoff = absl::Seconds(1),
                     double multiplier = 2.0) {
    options_->retry.max_retries = max_retries;
    options_->retry.backoff = backoff;
    options_->retry.multiplier = multiplier;
    return *this;
  }
  FuncBuilder& Retry(RetryPolicy policy) { options_->retry = policy; return *this; }
  FuncBuilder& Timeout(absl::Duration d) { options_->timeout = d; return *this; }
  template <typename Rep, typename Period>
  FuncBuilder& Timeout(std::chrono::duration<Rep, Period> d) {
    return Timeout(absl::FromChrono(d));
  }
  FuncBuilder& Cache(bool on = true) { options_->cache = on; return *this; }
  FuncBuilder& Version(std::string v) { options_->version = std::move(v); return *this; }

 private:
  FuncOptions* options_;
};

// What running a step produced: a value, or (nested steps) a graph whose output is its value.
struct StepResult {
  absl::Status status;    // not OK: the attempt failed
  bool retryable = true;  // false for deterministic errors (inputs that do not decode, misuse)
  std::optional<v1::Value> value;
  std::shared_ptr<const v1::Graph> graph;  // immutable; may live on its own arena

  static StepResult Failed(absl::Status status, bool retryable) {
    StepResult r;
    r.status = std::move(status);
    r.retryable = retryable;
    return r;
  }
};

// A registered step: name, signature and options, and a type-erased invoker.
struct FuncInfo {
  std::string name;
  std::vector<std::string> param_names;
  std::vector<const v1::TypeDesc*> param_types;  // static storage (TypeOf<T>())
  const v1::TypeDesc* result_type = nullptr;
  bool nested = false;  // returns Future<R>
  FuncOptions options;
  // Decodes `args` (one per parameter, in order), runs the step in the calling thread and
  // encodes what it returned. Never throws.
  std::function<StepResult(absl::Span<const v1::Value* const> args)> invoke;
  const void* address = nullptr;  // the C++ function, for Call()
};

// The registered step named `name`, or NOT_FOUND. When `version` is not empty it must match.
absl::StatusOr<const FuncInfo*> FindFunc(std::string_view name, std::string_view version = "");

// All registered steps, sorted by name.
std::vector<const FuncInfo*> ListFuncs();

// The wire form of a step's signature and options, as a worker announces it.
v1::FunctionSignature SignatureOf(const FuncInfo& info);

namespace internal {

template <typename T>
struct IsFuture : std::false_type {};
template <typename T>
struct IsFuture<Future<T>> : std::true_type {};

template <typename T>
struct IsStatusOr : std::false_type {};
template <typename T>
struct IsStatusOr<absl::StatusOr<T>> : std::true_type {};

// The value type a step's declared return type R stands for: R, StatusOr<R> or Future<R> → R.
template <typename R>
struct StepValue {
  using type = R;
};
template <typename R>
struct StepValue<absl::StatusOr<R>> {
  using type = R;
};
template <typename R>
struct StepValue<Future<R>> {
  using type = R;
};

// Registers `info` (the name must be new, or already registered for the same function) and
// returns its options. Aborts on a name clash: that is a programming error found at start-up.
FuncOptions* Register(std::unique_ptr<FuncInfo> info);

// The registered step for a C++ function, or nullptr.
const FuncInfo* FindFuncByAddress(const void* address);

struct Node;

// Tracks the futures a running step creates, so that those it neither returns nor passes on can
// be reported. The invoker installs one around the step's body, as this thread's current scope;
// Call() records into it. Not thread-safe: one scope belongs to one thread.
class StepScope {
 public:
  explicit StepScope(std::string step_name);
  ~StepScope();
  StepScope(const StepScope&) = delete;
  StepScope& operator=(const StepScope&) = delete;

  // This thread's innermost scope, or nullptr outside any step (e.g. in main()).
  static StepScope* Current();

  void Record(std::shared_ptr<const Node> node) { created_.push_back(std::move(node)); }
  int NextCallNumber() { return ++calls_; }
  const std::string& step_name() const { return step_name_; }
  const std::vector<std::shared_ptr<const Node>>& created() const { return created_; }

  // Fails the step whatever it returns (the first call wins): e.g. it called a function that is
  // not a registered step.
  void Fail(absl::Status status) {
    if (error_.ok()) error_ = std::move(status);
  }
  const absl::Status& error() const { return error_; }

 private:
  std::string step_name_;
  std::vector<std::shared_ptr<const Node>> created_;
  absl::Status error_;
  int calls_ = 0;
  StepScope* previous_;
};

// The outcome of a plain step that returned `value`, or of a nested step that returned a future
// of `output`: checks the step created no future it left unused. Defined in graph.cc.
StepResult FinishPlain(StepScope& scope, v1::Value value);
StepResult FinishFuture(StepScope& scope, const std::shared_ptr<const Node>& output);

// "step threw std::runtime_error: <what()>", for the exception being handled.
std::string CurrentExceptionMessage();

// The qualified name of the function at `address` from this binary's symbol table, e.g.
// "(anonymous namespace)::Helper"; empty when the binary is stripped or the address unknown.
std::string FunctionNameAt(const void* address);

template <typename P>
using Stored = std::remove_cv_t<std::remove_reference_t<P>>;

template <typename... P, size_t... I>
absl::Status DecodeArgs(std::tuple<Stored<P>...>& out,
                        [[maybe_unused]] absl::Span<const v1::Value* const> args,
                        [[maybe_unused]] const std::vector<std::string>& names,
                        std::index_sequence<I...>) {  // unused for a step of no parameters
  absl::Status status;
  // Stops at the first error: later arguments are left default-constructed and unused.
  ((status.ok() ? (void)[&] {
     absl::StatusOr<Stored<P>> v = Decode<Stored<P>>(*args[I], names[I]);
     if (v.ok()) {
       std::get<I>(out) = *std::move(v);
     } else {
       status = v.status();
     }
   }()
                : (void)0),
   ...);
  return status;
}

template <typename R, typename... P, size_t... I>
StepResult InvokeStep(R (*fn)(P...), const FuncInfo& info, absl::Span<const v1::Value* const> args,
                      std::index_sequence<I...> seq) {
  if (args.size() != sizeof...(P)) {
    return StepResult::Failed(absl::InvalidArgumentError(absl::StrCat(
                                  "step ", info.name, " takes ", sizeof...(P), " arguments, got ",
                                  args.size())),
                              false);
  }
  std::tuple<Stored<P>...> decoded;
  if (absl::Status s = DecodeArgs<P...>(decoded, args, info.param_names, seq); !s.ok()) {
    return StepResult::Failed(std::move(s), false);
  }
  StepScope scope(info.name);
  try {
    if constexpr (IsFuture<R>::value) {
      R future = fn(std::forward<P>(std::get<I>(decoded))...);
      return FinishFuture(scope, future.node());
    } else if constexpr (IsStatusOr<R>::value) {
      R result = fn(std::forward<P>(std::get<I>(decoded))...);
      if (!result.ok()) return StepResult::Failed(result.status(), true);
      return FinishPlain(scope, Encode(*result));
    } else {
      return FinishPlain(scope, Encode(fn(std::forward<P>(std::get<I>(decoded))...)));
    }
  } catch (...) {
    return StepResult::Failed(absl::UnknownError(CurrentExceptionMessage()), true);
  }
}

template <typename T>
inline constexpr bool kIsMutableLvalueRef =
    std::is_lvalue_reference_v<T> && !std::is_const_v<std::remove_reference_t<T>>;

template <size_t N, typename R, typename... P>
FuncBuilder RegisterFunc(R (*fn)(P...), std::string_view name,
                         std::initializer_list<const char*> param_names) {
  static_assert(N == 0 || N == sizeof...(P),
                "SEMATIC_FUNC: give one name per parameter (or none)");
  static_assert((!kIsMutableLvalueRef<P> && ...),
                "SEMATIC_FUNC: step parameters must be values or const references");
  using V = typename StepValue<R>::type;
  static_assert(kIsCodable<V>, "SEMATIC_FUNC: the step's result type has no codec");
  static_assert((kIsCodable<Stored<P>> && ...),
                "SEMATIC_FUNC: a parameter type has no codec (see sematic/codec.h)");
  auto info = std::make_unique<FuncInfo>();
  // "&ns::F" and "ns::F" both register as "ns::F".
  if (!name.empty() && name.front() == '&') name.remove_prefix(1);
  info->name = std::string(name);
  for (const char* n : param_names) info->param_names.emplace_back(n);
  while (info->param_names.size() < sizeof...(P)) {
    info->param_names.push_back(absl::StrCat("arg", info->param_names.size()));
  }
  info->param_types = {&TypeOf<Stored<P>>()...};
  info->result_type = &TypeOf<V>();
  info->nested = IsFuture<R>::value;
  info->address = reinterpret_cast<const void*>(fn);
  const FuncInfo* raw = info.get();
  info->invoke = [fn, raw](absl::Span<const v1::Value* const> args) {
    return InvokeStep(fn, *raw, args, std::index_sequence_for<P...>{});
  };
  return FuncBuilder(Register(std::move(info)));
}

}  // namespace internal
}  // namespace sematic

#define SEMATIC_INTERNAL_CONCAT_INNER(a, b) a##b
#define SEMATIC_INTERNAL_CONCAT(a, b) SEMATIC_INTERNAL_CONCAT_INNER(a, b)

// SEMATIC_FUNC(Function, "param1", "param2", ...): registers a step; chain options after it.
// Use it once per step, at namespace scope in a .cc file.
#define SEMATIC_FUNC(fn, ...)                                                            \
  [[maybe_unused]] static ::sematic::FuncBuilder SEMATIC_INTERNAL_CONCAT(                \
      sematic_func_registration_, __COUNTER__) =                                         \
      ::sematic::internal::RegisterFunc<std::initializer_list<const char*>{__VA_ARGS__}.size()>( \
          &fn, #fn, {__VA_ARGS__})

#endif  // SEMATIC_FUNC_H_
