#include "sematic/func.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <typeinfo>

#include <cxxabi.h>

#include "absl/container/flat_hash_map.h"
#include "absl/debugging/symbolize.h"
#include "absl/synchronization/mutex.h"
#include "common/strings.h"

namespace sematic {
namespace {

// Written during static initialisation (and by tests), read from any thread afterwards.
class Registry {
 public:
  static Registry& Get() {
    static Registry* registry = new Registry();
    return *registry;
  }

  FuncOptions* Add(std::unique_ptr<FuncInfo> info) {
    absl::MutexLock lock(&mu_);
    auto it = by_name_.find(info->name);
    if (it != by_name_.end()) {
      if (it->second->address == info->address) return &it->second->options;
      std::fprintf(stderr,
                   "sematic: two different functions are registered as step \"%s\"; step names "
                   "must be unique\n",
                   info->name.c_str());
      std::abort();
    }
    FuncInfo* raw = info.get();
    by_address_[raw->address] = raw;
    by_name_[raw->name] = std::move(info);
    return &raw->options;
  }

  const FuncInfo* ByName(std::string_view name) const {
    absl::MutexLock lock(&mu_);
    auto it = by_name_.find(AsAbsl(name));
    return it == by_name_.end() ? nullptr : it->second.get();
  }

  const FuncInfo* ByAddress(const void* address) const {
    absl::MutexLock lock(&mu_);
    auto it = by_address_.find(address);
    return it == by_address_.end() ? nullptr : it->second;
  }

  std::vector<const FuncInfo*> All() const {
    absl::MutexLock lock(&mu_);
    std::vector<const FuncInfo*> out;
    for (const auto& [name, info] : by_name_) out.push_back(info.get());
    std::sort(out.begin(), out.end(),
              [](const FuncInfo* a, const FuncInfo* b) { return a->name < b->name; });
    return out;
  }

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<FuncInfo>> by_name_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<const void*, FuncInfo*> by_address_ ABSL_GUARDED_BY(mu_);
};

thread_local internal::StepScope* current_scope = nullptr;

std::string Demangle(const char* name) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || demangled == nullptr) return name;
  std::string out(demangled);
  std::free(demangled);
  return out;
}

}  // namespace

absl::StatusOr<const FuncInfo*> FindFunc(std::string_view name, std::string_view version) {
  const FuncInfo* info = Registry::Get().ByName(name);
  if (info == nullptr) {
    return absl::NotFoundError(absl::StrCat("no step named \"", AsAbsl(name), "\" is registered"));
  }
  if (!version.empty() && version != info->options.version) {
    return absl::NotFoundError(absl::StrCat("step \"", AsAbsl(name), "\" is registered at version \"",
                                            info->options.version, "\", not \"", AsAbsl(version), "\""));
  }
  return info;
}

std::vector<const FuncInfo*> ListFuncs() { return Registry::Get().All(); }

v1::FunctionSignature SignatureOf(const FuncInfo& info) {
  v1::FunctionSignature s;
  s.set_name(info.name);
  s.set_version(info.options.version);
  for (size_t i = 0; i < info.param_names.size(); ++i) {
    v1::Field* param = s.add_params();
    param->set_name(info.param_names[i]);
    *param->mutable_type() = *info.param_types[i];
  }
  *s.mutable_result() = *info.result_type;
  s.set_nested(info.nested);
  s.set_cpus(info.options.cpus);
  s.set_memory_bytes(info.options.memory_bytes);
  s.set_gpus(info.options.gpus);
  for (const auto& [name, count] : info.options.resources) (*s.mutable_resources())[name] = count;
  for (const auto& [key, value] : info.options.labels) (*s.mutable_labels())[key] = value;
  s.set_max_retries(info.options.retry.max_retries);
  if (info.options.timeout != absl::InfiniteDuration()) {
    s.set_timeout_millis(absl::ToInt64Milliseconds(info.options.timeout));
  }
  s.set_cache(info.options.cache);
  return s;
}

namespace internal {

FuncOptions* Register(std::unique_ptr<FuncInfo> info) {
  return Registry::Get().Add(std::move(info));
}

const FuncInfo* FindFuncByAddress(const void* address) {
  return Registry::Get().ByAddress(address);
}

StepScope::StepScope(std::string step_name)
    : step_name_(std::move(step_name)), previous_(current_scope) {
  current_scope = this;
}

StepScope::~StepScope() { current_scope = previous_; }

StepScope* StepScope::Current() { return current_scope; }

std::string CurrentExceptionMessage() {
  try {
    throw;
  } catch (const std::exception& e) {
    return absl::StrCat("step threw ", Demangle(typeid(e).name()), ": ", e.what());
  } catch (...) {
    std::type_info* type = abi::__cxa_current_exception_type();
    return absl::StrCat("step threw ", type ? Demangle(type->name()) : "an unknown exception");
  }
}

std::string FunctionNameAt(const void* address) {
  // absl's demangler writes "ns::F()" for any parameter list: the "()" goes.
  char name[1024];
  if (!absl::Symbolize(address, name, sizeof(name))) return "";
  std::string out(name);
  if (out.ends_with("()")) out.resize(out.size() - 2);
  return out;
}

}  // namespace internal
}  // namespace sematic
