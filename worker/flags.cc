#include "worker/flags.h"

#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"

namespace sematic::worker {
namespace {

absl::Status FlagError(std::string_view flag, std::string_view expected, std::string_view got) {
  return absl::InvalidArgumentError(
      absl::StrCat("--", AsAbsl(flag), ": expected ", AsAbsl(expected), ", got \"", AsAbsl(got),
                   "\""));
}

std::optional<int64_t> CgroupMemoryLimit() {
  for (const char* path : {"/sys/fs/cgroup/memory.max",
                           "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(path);
    std::string text;
    int64_t limit = 0;
    if (in >> text && absl::SimpleAtoi(text, &limit) && limit > 0) return limit;
  }
  return std::nullopt;
}

int CountNvidiaGpus() {
  // Only when nvidia-smi is on the PATH: popen of a missing command prints to stderr.
  if (std::system("command -v nvidia-smi >/dev/null 2>&1") != 0) return 0;
  FILE* pipe = popen("nvidia-smi -L 2>/dev/null", "r");
  if (pipe == nullptr) return 0;
  int gpus = 0;
  char line[512];
  while (fgets(line, sizeof(line), pipe) != nullptr) {
    if (std::string_view(line).starts_with("GPU ")) ++gpus;
  }
  pclose(pipe);
  return gpus;
}

}  // namespace

Machine DetectMachine() {
  Machine m;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) {
    m.cpus = CPU_COUNT(&set);
  } else {
    m.cpus = std::max(1u, std::thread::hardware_concurrency());
  }
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  while (meminfo >> key) {
    if (key == "MemTotal:" && meminfo >> kib) {
      m.memory_bytes = kib * 1024;
      break;
    }
    meminfo.ignore(1 << 10, '\n');
  }
  if (m.memory_bytes == 0) {
    m.memory_bytes = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  }
  if (std::optional<int64_t> limit = CgroupMemoryLimit(); limit && *limit < m.memory_bytes) {
    m.memory_bytes = *limit;
  }
  m.gpus = CountNvidiaGpus();
  return m;
}

absl::StatusOr<int64_t> ParseByteSize(std::string_view text) {
  auto error = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected a size like 8GiB, 512MiB or 1000000, got \"", AsAbsl(text), "\""));
  };
  size_t split = 0;
  while (split < text.size() && (std::isdigit(static_cast<unsigned char>(text[split])) ||
                                 text[split] == '.')) {
    ++split;
  }
  double number = 0;
  if (split == 0 || !absl::SimpleAtod(AsAbsl(text.substr(0, split)), &number)) return error();
  const std::string unit = absl::AsciiStrToLower(AsAbsl(text.substr(split)));
  double multiplier;
  if (unit.empty() || unit == "b") {
    multiplier = 1;
  } else if (unit == "k" || unit == "kb") {
    multiplier = 1e3;
  } else if (unit == "m" || unit == "mb") {
    multiplier = 1e6;
  } else if (unit == "g" || unit == "gb") {
    multiplier = 1e9;
  } else if (unit == "t" || unit == "tb") {
    multiplier = 1e12;
  } else if (unit == "ki" || unit == "kib") {
    multiplier = 1024.0;
  } else if (unit == "mi" || unit == "mib") {
    multiplier = 1024.0 * 1024;
  } else if (unit == "gi" || unit == "gib") {
    multiplier = 1024.0 * 1024 * 1024;
  } else if (unit == "ti" || unit == "tib") {
    multiplier = 1024.0 * 1024 * 1024 * 1024;
  } else {
    return error();
  }
  const double bytes = std::round(number * multiplier);
  if (!std::isfinite(bytes) || bytes >= 9.2e18) return error();
  return static_cast<int64_t>(bytes);
}

absl::StatusOr<WorkerFlags> ParseWorkerFlags(const std::vector<std::string>& args,
                                             const Machine& machine, bool allow_load) {
  WorkerFlags flags;
  WorkerOptions& o = flags.options;
  o.resources.set_cpus(machine.cpus);
  o.resources.set_memory_bytes(machine.memory_bytes);
  o.resources.set_gpus(machine.gpus);
  bool max_runs_set = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (!arg.starts_with("--")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument \"", AsAbsl(arg), "\": flags look like --name=value"));
    }
    arg.remove_prefix(2);
    std::string name(arg.substr(0, arg.find('=')));
    for (char& c : name) {
      if (c == '_') c = '-';
    }
    std::string value;
    if (arg.find('=') != std::string_view::npos) {
      value = std::string(arg.substr(arg.find('=') + 1));
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--", name, ": expected a value"));
    }
    auto key_value = [&](std::string_view what) -> absl::StatusOr<std::pair<std::string,
                                                                             std::string>> {
      const size_t eq = value.find('=');
      if (eq == std::string::npos || eq == 0) return FlagError(name, what, value);
      return std::make_pair(value.substr(0, eq), value.substr(eq + 1));
    };
    if (name == "scheduler") {
      if (value.empty() || value.rfind(':') == std::string::npos) {
        return FlagError(name, "host:port", value);
      }
      flags.scheduler = value;
    } else if (name == "cpus") {
      double cpus = 0;
      if (!absl::SimpleAtod(value, &cpus) || !(cpus > 0)) {
        return FlagError(name, "a number of CPUs > 0", value);
      }
      o.resources.set_cpus(cpus);
    } else if (name == "memory") {
      absl::StatusOr<int64_t> bytes = ParseByteSize(value);
      if (!bytes.ok()) return FlagError(name, "a size like 8GiB, 512MiB or 1000000", value);
      o.resources.set_memory_bytes(*bytes);
    } else if (name == "gpus") {
      int gpus = 0;
      if (!absl::SimpleAtoi(value, &gpus) || gpus < 0) {
        return FlagError(name, "a whole number of GPUs >= 0", value);
      }
      o.resources.set_gpus(gpus);
    } else if (name == "resource") {
      absl::StatusOr<std::pair<std::string, std::string>> kv = key_value("NAME=COUNT");
      if (!kv.ok()) return kv.status();
      double count = 0;
      if (!absl::SimpleAtod(kv->second, &count) || count < 0) {
        return FlagError(name, "NAME=COUNT with a count >= 0", value);
      }
      (*o.resources.mutable_custom())[kv->first] = count;
    } else if (name == "label") {
      absl::StatusOr<std::pair<std::string, std::string>> kv = key_value("KEY=VALUE");
      if (!kv.ok()) return kv.status();
      o.labels[kv->first] = kv->second;
    } else if (name == "max-runs") {
      if (!absl::SimpleAtoi(value, &o.max_concurrent_runs) || o.max_concurrent_runs < 1) {
        return FlagError(name, "a whole number >= 1", value);
      }
      max_runs_set = true;
    } else if (name == "cache-dir") {
      o.cache_dir = value;
    } else if (name == "cache-size") {
      absl::StatusOr<int64_t> bytes = ParseByteSize(value);
      if (!bytes.ok()) return FlagError(name, "a size like 10GiB", value);
      o.cache_max_bytes = *bytes;
    } else if (name == "inline-limit") {
      absl::StatusOr<int64_t> bytes = ParseByteSize(value);
      if (!bytes.ok()) return FlagError(name, "a size like 1MiB", value);
      o.max_inline_output_bytes = *bytes;
    } else if (name == "worker-id") {
      if (value.empty()) return FlagError(name, "a non-empty id", value);
      o.worker_id = value;
    } else if (name == "cancel-grace" || name == "drain-timeout" ||
               name == "max-reconnect-backoff" || name == "result-hold") {
      absl::Duration d;
      if (!absl::ParseDuration(value, &d) || d < absl::ZeroDuration()) {
        return FlagError(name, "a duration like 5s or 500ms", value);
      }
      if (name == "cancel-grace") o.cancel_grace = d;
      if (name == "drain-timeout") flags.drain_timeout = d;
      if (name == "max-reconnect-backoff") o.reconnect_max_backoff = d;
      if (name == "result-hold") o.result_hold = d;
    } else if (name == "isolate") {
      if (value == "thread") {
        o.isolation = Isolation::kThread;
      } else if (value == "process") {
        o.isolation = Isolation::kProcess;
      } else {
        return FlagError(name, "thread or process", value);
      }
    } else if (name == "load" && allow_load) {
      if (value.empty()) return FlagError(name, "the path of a shared library", value);
      flags.load.push_back(value);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--", name, ": unknown flag"));
    }
  }
  o.step_process_libraries = flags.load;
  if (flags.scheduler.empty()) {
    return absl::InvalidArgumentError("--scheduler: expected host:port, got nothing");
  }
  if (!max_runs_set) {
    o.max_concurrent_runs = std::max(1, static_cast<int>(o.resources.cpus()));
  }
  if (o.cache_dir.empty()) {
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    o.cache_dir = xdg != nullptr && *xdg != '\0'
                      ? absl::StrCat(xdg, "/sematic/artifacts")
                      : absl::StrCat("/tmp/sematic-", getuid(), "/artifacts");
  }
  return flags;
}

std::string WorkerUsage(std::string_view program, bool allow_load) {
  return absl::StrCat(
      "usage: ", AsAbsl(program), allow_load ? " --load=LIB.so..." : " worker",
      " --scheduler=HOST:PORT [--cpus=N] [--memory=SIZE] [--gpus=N]\n"
      "       [--resource=NAME=COUNT]... [--label=KEY=VALUE]... [--max-runs=N]\n"
      "       [--cache-dir=DIR] [--cache-size=SIZE] [--inline-limit=SIZE] [--worker-id=ID]\n"
      "       [--cancel-grace=5s] [--drain-timeout=1m] [--max-reconnect-backoff=10s]\n"
      "       [--result-hold=25ms] [--isolate=thread|process]\n"
      "--result-hold: how long finished results may wait to go up together while more runs\n"
      "  sent ahead wait here than results are unsent (0: each loop turn sends its own).\n"
      "--isolate=process runs each step in a child process: a crash fails only that attempt,\n"
      "  and what the step writes to stdout/stderr becomes lines of its run's log.\n"
      "--isolate=thread (the default) runs steps on threads of this process, which share one\n"
      "  stdout/stderr: a step's std::cout/std::cerr go to the worker's own output, not to the\n"
      "  run's log (use Context::Log, or --isolate=process).\n"
      "Resources default to what this machine offers; SIZE is like 8GiB, 512MiB or 1000000.\n");
}

}  // namespace sematic::worker
