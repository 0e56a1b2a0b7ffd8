// The scheduler alone, driven by synthetic in-process workers (no gRPC): how many no-op runs per
// second it dispatches and completes for a large fan-out, with the WAL and with --sync; and how
// long a restart takes with many recorded runs.
//
//   build/bench/scheduler_bench                      # 100k fan-out, WAL then --sync; recovery
//   build/bench/scheduler_bench --fanout=1000000 --recovery_runs=1000000
//
// The workers answer every assignment at once from the scheduler's loop thread (a no-op step's
// result is its input), so the figures are the scheduler's own cost: validation, the state
// machine, persistence (one RocksDB batch per loop turn), placement and messages. The fan-out's
// parent step runs the real SDK invoker to build its 100k-node sub-graph; its time is reported
// separately. Stores live under $TMPDIR (default /tmp).
#include <sys/resource.h>

#include <algorithm>
#include <atomic>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "scheduler/core/scheduler.h"
#include "sematic/sematic.h"

ABSL_FLAG(int, fanout, 100'000, "no-op runs in the fan-out");
ABSL_FLAG(int, workers, 2, "synthetic workers");
ABSL_FLAG(int, slots, 512, "max concurrent runs per worker");
ABSL_FLAG(int, rounds, 3, "fan-out jobs per mode (the median is reported)");
ABSL_FLAG(int, recovery_runs, 1'000'000, "runs recorded before the restart (0: skip)");
ABSL_FLAG(bool, sync, true, "also measure with --sync (fsync per loop turn)");

namespace bench {

namespace v1 = ::sematic::v1;
namespace sch = ::sematic::scheduler;
using ::sematic::Call;
using ::sematic::Future;

int NoOp(int x) { return x; }
SEMATIC_FUNC(NoOp, "x");

int Count(const std::vector<int>& xs) { return static_cast<int>(xs.size()); }
SEMATIC_FUNC(Count, "xs");

Future<int> FanOut(int n) {
  std::vector<Future<int>> parts;
  parts.reserve(n);
  for (int i = 0; i < n; ++i) parts.push_back(Call(NoOp, i));
  return Call(Count, parts);
}
SEMATIC_FUNC(FanOut, "n");

[[noreturn]] void Die(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "scheduler_bench: %s: %s\n", what.c_str(), status.ToString().c_str());
  std::exit(1);
}

// Answers each assignment at once, on its own thread (as a worker process would: none of its
// work runs on the scheduler's loop): a no-op returns its input; other steps run their invoker.
// With a `budget`, it answers that many no-ops and then holds every further assignment (a job
// caught mid-flight, for the recovery measurement).
class SyntheticWorker : public sch::WorkerConnection {
 public:
  SyntheticWorker(sch::Scheduler* scheduler, std::atomic<int64_t>* invoke_micros,
                  std::shared_ptr<std::atomic<int64_t>> budget)
      : scheduler_(scheduler), invoke_micros_(invoke_micros), budget_(std::move(budget)),
        thread_([this] { Serve(); }) {}
  ~SyntheticWorker() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }
  void set_session(sch::WorkerSessionId session) { session_ = session; }

  void Send(v1::SchedulerMessage message) override {
    if (!message.has_assignments()) return;
    absl::MutexLock lock(&mu_);
    inbox_.push_back(std::move(message));
  }
  void Close(absl::Status) override {}

 private:
  void Serve() {
    while (true) {
      std::vector<v1::SchedulerMessage> batch;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](SyntheticWorker* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
              return w->stopping_ || !w->inbox_.empty();
            },
            this));
        if (inbox_.empty()) return;  // stopping
        batch.swap(inbox_);
      }
      for (v1::SchedulerMessage& message : batch) Answer(message);
    }
  }

  void Answer(v1::SchedulerMessage& message) {
    v1::WorkerMessage out;
    for (v1::Assignment& a : *message.mutable_assignments()->mutable_assignments()) {
      if (a.function() == "NoOp" && budget_ != nullptr && budget_->fetch_sub(1) <= 0) continue;
      v1::RunResult* result = out.mutable_results()->add_results();
      result->set_run_id(a.run_id());
      result->set_attempt(a.attempt());
      if (a.function() == "NoOp") {
        *result->mutable_value() = std::move(*a.mutable_inputs(0)->mutable_value());
        continue;
      }
      const absl::Time start = absl::Now();
      const sematic::FuncInfo* info = *sematic::FindFunc(a.function());
      std::vector<const v1::Value*> args;
      for (const auto& input : a.inputs()) args.push_back(&input.value());
      sematic::StepResult r = info->invoke(args);
      if (!r.status.ok()) Die("step " + a.function(), r.status);
      if (r.graph != nullptr) {
        *result->mutable_graph() = *r.graph;
      } else {
        *result->mutable_value() = *r.value;
      }
      *invoke_micros_ += absl::ToInt64Microseconds(absl::Now() - start);
    }
    if (out.results().results_size() > 0) scheduler_->OnWorkerMessage(session_, std::move(out));
  }

  sch::Scheduler* const scheduler_;
  std::atomic<int64_t>* const invoke_micros_;
  const std::shared_ptr<std::atomic<int64_t>> budget_;
  std::atomic<sch::WorkerSessionId> session_{0};
  absl::Mutex mu_;
  std::vector<v1::SchedulerMessage> inbox_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts after the members it uses
};

void Connect(sch::Scheduler* scheduler, int count, int slots, std::atomic<int64_t>* invoke_micros,
             std::shared_ptr<std::atomic<int64_t>> budget = nullptr) {
  for (int i = 0; i < count; ++i) {
    auto worker = std::make_unique<SyntheticWorker>(scheduler, invoke_micros, budget);
    SyntheticWorker* raw = worker.get();
    const sch::WorkerSessionId session = scheduler->ConnectWorker(std::move(worker));
    raw->set_session(session);
    v1::WorkerMessage m;
    v1::Hello* hello = m.mutable_hello();
    hello->set_worker_id("synthetic-" + std::to_string(i));
    for (const sematic::FuncInfo* f : sematic::ListFuncs()) {
      *hello->add_functions() = sematic::SignatureOf(*f);
    }
    hello->mutable_resources()->set_cpus(1 << 20);
    hello->mutable_resources()->set_memory_bytes(int64_t{1} << 50);
    hello->set_max_concurrent_runs(slots);
    scheduler->OnWorkerMessage(session, std::move(m));
  }
}

std::unique_ptr<sch::Scheduler> Open(const std::filesystem::path& dir, bool sync) {
  sch::SchedulerOptions options;
  options.data_dir = dir.string();
  options.sync = sync;
  options.recovery_grace = absl::ZeroDuration();
  options.heartbeat_timeout = absl::Hours(1);
  absl::StatusOr<std::unique_ptr<sch::Scheduler>> s = sch::Scheduler::Create(options);
  if (!s.ok()) Die("opening " + dir.string(), s.status());
  return *std::move(s);
}

// Submits FanOut(n); returns the job id once the submit is committed.
std::string StartFanOut(sch::Scheduler* scheduler, int n) {
  v1::SubmitJobRequest request;
  request.set_function("FanOut");
  v1::NamedArg* arg = request.add_args();
  arg->set_name("n");
  arg->mutable_value()->set_int_value(n);
  absl::Notification submitted;
  std::string job_id;
  scheduler->SubmitJob(request, [&](absl::StatusOr<v1::SubmitJobResponse> r) {
    if (!r.ok()) Die("submit", r.status());
    job_id = r->job().id();
    submitted.Notify();
  });
  submitted.WaitForNotification();
  return job_id;
}

// Submits FanOut(n) and waits for the job to end; returns the wall time.
absl::Duration RunFanOut(sch::Scheduler* scheduler, int n) {
  const absl::Time start = absl::Now();
  const std::string job_id = StartFanOut(scheduler, n);
  absl::Notification ended;
  v1::JobState final_state = v1::JOB_STATE_UNSPECIFIED;
  v1::WatchJobRequest watch;
  watch.set_job_id(job_id);
  scheduler->WatchJob(
      watch,
      [&](const v1::JobEvent& event) {
        if (event.has_job()) final_state = event.job().state();
        return true;
      },
      [&](absl::Status status) {
        if (!status.ok()) Die("watch", status);
        ended.Notify();
      });
  ended.WaitForNotification();
  const absl::Duration wall = absl::Now() - start;
  if (final_state != v1::JOB_SUCCEEDED) {
    Die("fan-out job " + job_id, absl::InternalError(v1::JobState_Name(final_state)));
  }
  return wall;
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

long PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;
}

std::filesystem::path TempDir(const std::string& what) {
  const char* tmp = std::getenv("TMPDIR");
  return std::filesystem::path(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") /
         ("scheduler_bench-" + what + "-" + sematic::RandomHex64());
}

void FanOutMode(bool sync) {
  const int n = absl::GetFlag(FLAGS_fanout);
  std::vector<double> rates;
  for (int round = 0; round < absl::GetFlag(FLAGS_rounds); ++round) {
    const std::filesystem::path dir = TempDir("fanout");
    std::atomic<int64_t> invoke_micros{0};
    {
      std::unique_ptr<sch::Scheduler> scheduler = Open(dir, sync);
      Connect(scheduler.get(), absl::GetFlag(FLAGS_workers), absl::GetFlag(FLAGS_slots),
              &invoke_micros);
      const double cpu0 = CpuSeconds();
      const absl::Duration wall = RunFanOut(scheduler.get(), n);
      const double cpu = CpuSeconds() - cpu0;
      // The runs are the n no-ops plus the gather, the reducer and the parent.
      const absl::Duration invoke_time = absl::Microseconds(invoke_micros.load());
      const double scheduled = absl::ToDoubleSeconds(wall - invoke_time);
      rates.push_back(n / scheduled);
      std::printf(
          "  %-6s round %d: %d runs in %.3f s (sub-graph built by the SDK in %.3f s) -> "
          "%.0f runs/s; CPU %.2f us/run; peak RSS %ld MiB\n",
          sync ? "sync" : "wal", round + 1, n, absl::ToDoubleSeconds(wall),
          absl::ToDoubleSeconds(invoke_time), n / scheduled, cpu * 1e6 / n, PeakRssMiB());
      std::fflush(stdout);
      scheduler->Shutdown();
    }
    std::filesystem::remove_all(dir);
  }
  std::sort(rates.begin(), rates.end());
  std::printf("fanout %d, %s: median %.0f runs/s dispatched + completed\n", n,
              sync ? "--sync" : "WAL", rates[rates.size() / 2]);
}

v1::SchedulerInfo Info(sch::Scheduler* scheduler) {
  absl::Notification answered;
  v1::SchedulerInfo out;
  scheduler->GetInfo([&](absl::StatusOr<v1::SchedulerInfo> info) {
    if (!info.ok()) Die("info", info.status());
    out = *info;
    answered.Notify();
  });
  answered.WaitForNotification();
  return out;
}

// A job of `total` runs caught mid-flight: half its no-ops done, the rest queued or assigned.
// The restart must rebuild every unfinished run from the store.
void RecoveryMode() {
  const int total = absl::GetFlag(FLAGS_recovery_runs);
  if (total <= 0) return;
  const std::filesystem::path dir = TempDir("recovery");
  std::atomic<int64_t> invoke_micros{0};
  {
    std::unique_ptr<sch::Scheduler> scheduler = Open(dir, false);
    auto budget = std::make_shared<std::atomic<int64_t>>(total / 2);
    Connect(scheduler.get(), absl::GetFlag(FLAGS_workers), absl::GetFlag(FLAGS_slots),
            &invoke_micros, budget);
    StartFanOut(scheduler.get(), total - 3);  // + the gather, the reducer and the root
    // Bounded: the budget runs out after total/2 answers; each Info is a loop turn later.
    for (int i = 0; i < 3000 && budget->load() > 0; ++i) {
      absl::SleepFor(absl::Milliseconds(100));
    }
    const v1::SchedulerInfo before = Info(scheduler.get());
    if (budget->load() > 0) Die("recovery setup", absl::InternalError("the job stalled"));
    std::printf("recorded: a job of %d runs, %lld of them unfinished\n", total,
                static_cast<long long>(before.runs()));
    scheduler->Shutdown();
  }
  const absl::Time start = absl::Now();
  std::unique_ptr<sch::Scheduler> reopened = Open(dir, false);
  const v1::SchedulerInfo after = Info(reopened.get());
  const absl::Duration recovery = absl::Now() - start;
  std::printf("recovery: %.3f s to reopen and rebuild %lld live runs (%lld queued); peak RSS %ld MiB\n",
              absl::ToDoubleSeconds(recovery), static_cast<long long>(after.runs()),
              static_cast<long long>(after.queued_runs()), PeakRssMiB());
  reopened->Shutdown();
  reopened.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  bench::FanOutMode(/*sync=*/false);
  if (absl::GetFlag(FLAGS_sync)) bench::FanOutMode(/*sync=*/true);
  bench::RecoveryMode();
  return 0;
}
