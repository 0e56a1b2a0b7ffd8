#include "scheduler/policy/placement/internal/feasibility.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace sematic::scheduler::placement_internal {
namespace {

// Slack for sums of fractional cpus and custom amounts (4 - 3.9 must still fit 0.1).
constexpr double kEpsilon = 1e-9;
// Workers named in an error message before "and N more".
constexpr size_t kMaxDetails = 3;

std::string FunctionKey(const RunDemand& demand) {
  return absl::StrCat(demand.function, "@", demand.version);
}

// 17179869184 → "16GiB", 1536 → "1.5KiB", 100 → "100B".
std::string FormatBytes(int64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (std::fabs(value) >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  const double rounded = std::round(value * 10) / 10;  // one decimal at most
  return absl::StrCat(rounded, kUnits[unit]);
}

double CustomAmount(const v1::Resources& resources, const std::string& name) {
  auto it = resources.custom().find(name);
  return it == resources.custom().end() ? 0 : it->second;
}

std::string Plural(size_t n, const char* singular, const char* plural) {
  return absl::StrCat(n, " ", n == 1 ? singular : plural);
}

// "a; b; c; and 2 more" from the first kMaxDetails of `details`.
std::string JoinCapped(const std::vector<std::string>& details) {
  std::vector<std::string> shown(details.begin(),
                                 details.begin() + std::min(details.size(), kMaxDetails));
  std::string out = absl::StrJoin(shown, "; ");
  if (details.size() > kMaxDetails)
    absl::StrAppend(&out, "; and ", details.size() - kMaxDetails, " more");
  return out;
}

}  // namespace

FitResult CheckFit(const RunDemand& demand, const WorkerView& worker) {
  const std::string who = absl::StrCat("worker ", worker.id);
  if (!worker.alive) return {FitKind::kNotLive, "", absl::StrCat(who, " is dead")};
  if (worker.draining) return {FitKind::kNotLive, "", absl::StrCat(who, " is draining")};
  const std::string key = FunctionKey(demand);
  if (!worker.functions.contains(key)) {
    return {FitKind::kNotOffered, "", absl::StrCat(who, " does not offer ", key)};
  }

  // Requirements no amount of waiting satisfies.
  for (const auto& [label, value] : demand.label_selector) {
    auto it = worker.labels.find(label);
    if (it == worker.labels.end() || it->second != value) {
      std::string requirement = absl::StrCat("label ", label, "=", value);
      std::string why = it == worker.labels.end()
                            ? absl::StrCat(who, " lacks ", requirement)
                            : absl::StrCat(who, " has label ", label, "=", it->second);
      return {FitKind::kNever, std::move(requirement), std::move(why)};
    }
  }
  const v1::Resources& cap = worker.capacity;
  if (demand.cpus > cap.cpus() + kEpsilon) {
    return {FitKind::kNever, absl::StrCat("cpus>=", demand.cpus),
            absl::StrCat(who, " has ", cap.cpus(), " cpus")};
  }
  if (demand.memory_bytes > cap.memory_bytes()) {
    return {FitKind::kNever, absl::StrCat("memory>=", FormatBytes(demand.memory_bytes)),
            absl::StrCat(who, " has ", FormatBytes(cap.memory_bytes()), " memory")};
  }
  if (demand.gpus > cap.gpus()) {
    return {FitKind::kNever, absl::StrCat("gpus>=", demand.gpus),
            absl::StrCat(who, " has ", cap.gpus(), " gpus")};
  }
  for (const auto& [name, amount] : demand.custom) {
    if (amount <= 0) continue;
    if (!cap.custom().contains(name)) {
      return {FitKind::kNever, absl::StrCat(name, ">=", amount),
              absl::StrCat(who, " has no ", name)};
    }
    const double total = CustomAmount(cap, name);
    if (amount > total + kEpsilon) {
      return {FitKind::kNever, absl::StrCat(name, ">=", amount),
              absl::StrCat(who, " has ", total, " ", name)};
    }
  }

  // Requirements met once runs finish there.
  const v1::Resources& used = worker.in_use;
  if (worker.max_concurrent_runs > 0 && worker.running >= worker.max_concurrent_runs) {
    return {
        FitKind::kBusy, "",
        absl::StrCat(who, " runs ", worker.running, " of at most ", worker.max_concurrent_runs)};
  }
  if (demand.cpus > 0 && demand.cpus > cap.cpus() - used.cpus() + kEpsilon) {
    return {FitKind::kBusy, "",
            absl::StrCat(who, " has ", std::max(0.0, cap.cpus() - used.cpus()), " of ", cap.cpus(),
                         " cpus free")};
  }
  if (demand.memory_bytes > 0 && demand.memory_bytes > cap.memory_bytes() - used.memory_bytes()) {
    return {
        FitKind::kBusy, "",
        absl::StrCat(who, " has ",
                     FormatBytes(std::max<int64_t>(0, cap.memory_bytes() - used.memory_bytes())),
                     " of ", FormatBytes(cap.memory_bytes()), " memory free")};
  }
  if (demand.gpus > 0 && demand.gpus > cap.gpus() - used.gpus()) {
    return {FitKind::kBusy, "",
            absl::StrCat(who, " has ", std::max(0, cap.gpus() - used.gpus()), " of ", cap.gpus(),
                         " gpus free")};
  }
  for (const auto& [name, amount] : demand.custom) {
    if (amount <= 0) continue;
    const double total = CustomAmount(cap, name);
    const double free = total - CustomAmount(used, name);
    if (amount > free + kEpsilon) {
      return {FitKind::kBusy, "",
              absl::StrCat(who, " has ", std::max(0.0, free), " of ", total, " ", name, " free")};
    }
  }
  return {FitKind::kFits, "", ""};
}

double Load(const WorkerView& worker) {
  double load = 0;
  auto consider = [&load](double used, double total) {
    if (total > 0) load = std::max(load, used / total);
  };
  if (worker.max_concurrent_runs > 0) consider(worker.running, worker.max_concurrent_runs);
  consider(worker.in_use.cpus(), worker.capacity.cpus());
  consider(static_cast<double>(worker.in_use.memory_bytes()),
           static_cast<double>(worker.capacity.memory_bytes()));
  consider(worker.in_use.gpus(), worker.capacity.gpus());
  for (const auto& [name, total] : worker.capacity.custom()) {
    consider(CustomAmount(worker.in_use, name), total);
  }
  return load;
}

absl::Status ValidateDemand(const RunDemand& demand) {
  const std::string key = FunctionKey(demand);
  if (demand.function.empty()) return absl::InvalidArgumentError("run demand names no function");
  if (!(demand.cpus >= 0) || !std::isfinite(demand.cpus)) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": cpus is ", demand.cpus));
  }
  if (demand.memory_bytes < 0) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": memory_bytes is ", demand.memory_bytes));
  }
  if (demand.gpus < 0) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": gpus is ", demand.gpus));
  }
  for (const auto& [name, amount] : demand.custom) {
    if (!(amount >= 0) || !std::isfinite(amount)) {
      return absl::InvalidArgumentError(absl::StrCat(key, ": resource ", name, " is ", amount));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<const WorkerView*>> Candidates(const RunDemand& demand,
                                                          absl::Span<const WorkerView> workers) {
  if (absl::Status valid = ValidateDemand(demand); !valid.ok()) return valid;
  const std::string key = FunctionKey(demand);

  // Sorted by worker id, so that messages do not depend on the order of `workers`.
  std::vector<const WorkerView*> by_id;
  by_id.reserve(workers.size());
  for (const WorkerView& w : workers) by_id.push_back(&w);
  std::stable_sort(by_id.begin(), by_id.end(),
                   [](const WorkerView* a, const WorkerView* b) { return a->id < b->id; });

  std::vector<const WorkerView*> fits;
  std::vector<std::string> not_live;  // offer the function but are dead or draining
  std::vector<std::string> never;
  std::vector<std::string> never_requirements;  // distinct, in first-seen order
  std::vector<std::string> busy;
  for (const WorkerView* w : by_id) {
    FitResult fit = CheckFit(demand, *w);
    switch (fit.kind) {
      case FitKind::kFits:
        fits.push_back(w);
        break;
      case FitKind::kNotLive:
        if (w->functions.contains(key)) not_live.push_back(std::move(fit.why_not));
        break;
      case FitKind::kNotOffered:
        break;
      case FitKind::kNever:
        never.push_back(std::move(fit.why_not));
        if (std::find(never_requirements.begin(), never_requirements.end(), fit.requirement) ==
            never_requirements.end()) {
          never_requirements.push_back(std::move(fit.requirement));
        }
        break;
      case FitKind::kBusy:
        busy.push_back(std::move(fit.why_not));
        break;
    }
  }
  if (!fits.empty()) return fits;

  if (!busy.empty()) {
    std::string message =
        busy.size() == 1
            ? absl::StrCat("the only worker able to run ", key, " is at capacity (")
            : absl::StrCat("all ", busy.size(), " workers able to run ", key, " are at capacity (");
    absl::StrAppend(&message, JoinCapped(busy), ")");
    if (!never.empty()) {
      absl::StrAppend(&message, "; ", Plural(never.size(), "other worker", "other workers"),
                      " offering it can never take it");
    }
    return absl::UnavailableError(message);
  }
  if (!never.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("no worker offers ", key, " with ",
                                                      absl::StrJoin(never_requirements, ", "), " (",
                                                      JoinCapped(never), ")"));
  }
  std::string message = absl::StrCat("no live worker offers ", key);
  if (!not_live.empty()) absl::StrAppend(&message, " (", JoinCapped(not_live), ")");
  return absl::FailedPreconditionError(message);
}


absl::StatusOr<std::string> PickByLoad(const RunDemand& demand,
                                       absl::Span<const WorkerView> workers, bool most_loaded) {
  ASSIGN_OR_RETURN(std::vector<const WorkerView*> candidates, Candidates(demand, workers));
  // Candidates come sorted by id: only a strictly better load beats an earlier one.
  const WorkerView* best = candidates.front();
  double best_load = Load(*best);
  for (const WorkerView* w : candidates) {
    const double load = Load(*w);
    if (most_loaded ? load > best_load : load < best_load) {
      best = w;
      best_load = load;
    }
  }
  return best->id;
}

}  // namespace sematic::scheduler::placement_internal
