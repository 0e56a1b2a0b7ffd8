#include "scheduler/core/worker_registry.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/strings.h"

namespace sematic::scheduler {

std::string FunctionKey(std::string_view name, std::string_view version) {
  return absl::StrCat(AsAbsl(name), "@", AsAbsl(version));
}

absl::Status ValidateHello(const v1::Hello& hello, size_t max_name_bytes) {
  if (hello.worker_id().empty() || hello.worker_id().size() > max_name_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("hello.worker_id: expected 1 to ", max_name_bytes, " characters"));
  }
  for (int i = 0; i < hello.functions_size(); ++i) {
    const v1::FunctionSignature& f = hello.functions(i);
    if (f.name().empty() || f.name().size() > max_name_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("hello.functions[", i,
                                                     "].name: expected 1 to ", max_name_bytes,
                                                     " characters"));
    }
    if (f.version().size() > max_name_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("hello.functions[", i, "].version: longer than ", max_name_bytes));
    }
    if (f.result().kind() == v1::TypeDesc::KIND_UNSPECIFIED) {
      return absl::InvalidArgumentError(
          absl::StrCat("hello.functions[", i, "].result: the result type is missing"));
    }
    for (int p = 0; p < f.params_size(); ++p) {
      if (f.params(p).name().empty() ||
          f.params(p).type().kind() == v1::TypeDesc::KIND_UNSPECIFIED) {
        return absl::InvalidArgumentError(absl::StrCat(
            "hello.functions[", i, "].params[", p, "]: needs a name and a type"));
      }
    }
  }
  const v1::Resources& r = hello.resources();
  if (r.cpus() < 0 || r.memory_bytes() < 0 || r.gpus() < 0) {
    return absl::InvalidArgumentError("hello.resources: counts must not be negative");
  }
  if (hello.max_concurrent_runs() < 0) {
    return absl::InvalidArgumentError("hello.max_concurrent_runs: must not be negative");
  }
  return absl::OkStatus();
}

v1::WorkerInfo InfoOf(const WorkerSession& session) {
  v1::WorkerInfo info;
  info.set_worker_id(session.hello.worker_id());
  info.set_peer(session.peer);
  *info.mutable_resources() = session.hello.resources();
  *info.mutable_in_use() = session.view.in_use;
  *info.mutable_labels() = session.hello.labels();
  info.set_running(static_cast<int32_t>(session.runs.size()));
  info.set_max_concurrent_runs(session.hello.max_concurrent_runs());
  for (const auto& f : session.hello.functions()) {
    info.add_functions(FunctionKey(f.name(), f.version()));
  }
  info.set_connected_unix_micros(absl::ToUnixMicros(session.connected));
  info.set_last_heartbeat_unix_micros(absl::ToUnixMicros(session.last_heard));
  info.set_draining(session.view.draining);
  return info;
}

}  // namespace sematic::scheduler
