// The embedded engine and the cluster runner: one Runner that submits the root call as a job
// through a cli::Client (in-process over a Scheduler object, or gRPC), follows it and fetches
// its output. The embedded engine adds the scheduler and workers it owns.
#include "sematic/engine.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "cli/grpc_client.h"
#include "cli/local_client.h"
#include "common/digest.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "engine/root_call.h"
#include "scheduler/core/scheduler.h"
#include "scheduler/http/http_gateway.h"
#include "sematic/func.h"
#include "sematic/payload.h"
#include "worker/grpc_transport.h"
#include "worker/in_process.h"
#include "worker/step_process.h"
#include "worker/worker.h"

namespace sematic {
namespace {

bool IsFinal(v1::RunState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED || state == v1::CANCELED ||
         state == v1::TIMED_OUT;
}

bool IsFinal(v1::JobState state) {
  return state == v1::JOB_SUCCEEDED || state == v1::JOB_FAILED || state == v1::JOB_CANCELED;
}

std::string Lower(std::string_view state_name) {
  std::string out(state_name);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "succeeded" for JOB_SUCCEEDED.
std::string JobStateWord(v1::JobState state) {
  std::string name = Lower(v1::JobState_Name(state));
  return name.starts_with("job_") ? name.substr(4) : name;
}

// The scheduler and in-process workers of the embedded engine. Destruction drains the workers
// (they are idle between jobs) and shuts the scheduler down, committing its last writes.
class EmbeddedEngine {
 public:
  static absl::StatusOr<std::unique_ptr<EmbeddedEngine>> Start(const EngineOptions& options) {
    std::error_code error;
    std::filesystem::create_directories(options.data_dir, error);
    if (error) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create ", options.data_dir, ": ", error.message()));
    }
    scheduler::SchedulerOptions scheduler_options;
    scheduler_options.data_dir = options.data_dir;
    // Workers of an earlier process cannot come back: re-queue what it left running at once.
    scheduler_options.recovery_grace = absl::ZeroDuration();
    absl::StatusOr<std::unique_ptr<scheduler::Scheduler>> scheduler =
        scheduler::Scheduler::Create(scheduler_options);
    if (!scheduler.ok()) return cli::DescribeOpenError(scheduler.status(), options.data_dir);
    auto engine = std::unique_ptr<EmbeddedEngine>(new EmbeddedEngine(*std::move(scheduler)));

    ASSIGN_OR_RETURN(std::unique_ptr<worker::Worker> worker,
                     worker::Worker::Create(WorkerOptionsFor(options),
                                            worker::MakeInProcessConnector(engine->scheduler()),
                                            worker::MakeInProcessArtifactClient(engine->scheduler())));
    worker->Start();
    engine->worker_ = std::move(worker);
    if (options.ui_port >= 0) engine->StartDashboard(options);
    return engine;
  }

  // The dashboard's address while the pipeline runs; empty when none is served.
  std::string dashboard_url() const { return gateway_ == nullptr ? "" : gateway_->url(); }

  ~EmbeddedEngine() {
    if (gateway_ != nullptr) gateway_->Stop();
    if (worker_ != nullptr) {
      worker_->Drain();
      (void)worker_->WaitUntilDrained(absl::Seconds(30));
      worker_.reset();
    }
    scheduler_->Shutdown();
  }

  scheduler::Scheduler* scheduler() { return scheduler_.get(); }

 private:
  explicit EmbeddedEngine(std::unique_ptr<scheduler::Scheduler> scheduler)
      : scheduler_(std::move(scheduler)) {}

  // One worker offering the machine: its hardware threads run steps at once, like the silent
  // runner's pool. Resources are raised to the largest single step's request so that, as on the
  // silent runner, every registered step can run here (one at a time if it asks for the lot).
  static worker::WorkerOptions WorkerOptionsFor(const EngineOptions& options) {
    const int threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    worker::WorkerOptions w;
    w.max_concurrent_runs = options.parallelism > 0 ? options.parallelism : threads;
    double cpus = threads;
    int64_t memory = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGE_SIZE);
    int gpus = 0;
    for (const FuncInfo* func : ListFuncs()) {
      cpus = std::max(cpus, func->options.cpus);
      memory = std::max(memory, func->options.memory_bytes);
      gpus = std::max(gpus, func->options.gpus);
      for (const auto& [name, count] : func->options.resources) {
        (*w.resources.mutable_custom())[name] =
            std::max((*w.resources.mutable_custom())[name], count);
      }
    }
    w.resources.set_cpus(cpus);
    w.resources.set_memory_bytes(memory);
    w.resources.set_gpus(gpus);
    if (options.isolate_steps) w.isolation = worker::Isolation::kProcess;
    return w;
  }

  // A pipeline never fails for want of its dashboard: a taken port falls back to a free one,
  // and a failure to serve is said in one line.
  void StartDashboard(const EngineOptions& options) {
    scheduler::http::HttpGatewayOptions http{.host = "127.0.0.1",
                                             .port = options.ui_port,
                                             .ui_dir = SEMATIC_UI_DIST_DIR,
                                             .threads = 16};
    absl::StatusOr<std::unique_ptr<scheduler::http::HttpGateway>> gateway =
        scheduler::http::HttpGateway::Start(scheduler_.get(), http);
    if (!gateway.ok() && options.ui_port != 0) {
      http.port = 0;
      gateway = scheduler::http::HttpGateway::Start(scheduler_.get(), http);
    }
    if (!gateway.ok()) {
      if (options.progress) {
        std::fprintf(stderr, "sematic: no dashboard: %s\n",
                     std::string(gateway.status().message()).c_str());
      }
      return;
    }
    gateway_ = *std::move(gateway);
  }

  std::unique_ptr<scheduler::Scheduler> scheduler_;
  std::unique_ptr<worker::Worker> worker_;
  std::unique_ptr<scheduler::http::HttpGateway> gateway_;
};

// Submits root calls as jobs through `client` (their large payloads uploaded first through
// `artifacts`), follows them and decodes their outputs. Resolve calls are serialised; the
// accessors are thread-safe.
class SchedulerRunner final : public Runner {
 public:
  SchedulerRunner(std::unique_ptr<EmbeddedEngine> engine, std::unique_ptr<cli::Client> client,
                  std::unique_ptr<worker::ArtifactClient> artifacts, EngineOptions options)
      : engine_(std::move(engine)),
        client_(std::move(client)),
        artifacts_(std::move(artifacts)),
        options_(std::move(options)) {}

  ~SchedulerRunner() override {
    client_.reset();  // before the engine they may talk to
    artifacts_.reset();
    engine_.reset();
  }

  absl::StatusOr<v1::TypedValue> ResolveNode(
      const std::shared_ptr<const internal::Node>& output) override {
    absl::MutexLock resolving(&resolve_mu_);
    ASSIGN_OR_RETURN(engine::RootSubmission root, engine::SubmitRequestFor(*output));
    RETURN_IF_ERROR(UploadPayloads(root.payloads));
    const v1::SubmitJobRequest& request = root.request;
    ASSIGN_OR_RETURN(v1::Job job, Submit(request));
    {
      absl::MutexLock lock(&mu_);
      last_job_ = job;
      last_job_runs_ = 0;
    }
    Progress(absl::StrCat("job ", job.id(), " (", request.function(), ") ",
                          DescribeRunner(options_)));
    if (engine_ != nullptr && !engine_->dashboard_url().empty()) {
      Progress(absl::StrCat("dashboard: ", engine_->dashboard_url(), "jobs/", job.id(),
                            " (while this runs; afterwards: sematic ui --data-dir ",
                            options_.data_dir, ")"));
    }
    ASSIGN_OR_RETURN(job, Follow(job.id()));
    {
      absl::MutexLock lock(&mu_);
      last_job_ = job;
    }
    if (job.state() != v1::JOB_SUCCEEDED) {
      const std::string why = !first_failure_.empty() ? first_failure_
                              : !job.error().empty()  ? job.error()
                                                      : JobStateWord(job.state());
      if (job.state() == v1::JOB_CANCELED) {
        return absl::CancelledError(absl::StrCat("job ", job.id(), " was cancelled: ", why));
      }
      return absl::AbortedError(absl::StrCat("job ", job.id(), " failed: ", why));
    }
    return FetchOutput(job.output_digest());
  }

  std::string last_job_id() const override {
    absl::MutexLock lock(&mu_);
    return last_job_.id();
  }

  size_t last_job_run_count() const override {
    absl::MutexLock lock(&mu_);
    return last_job_runs_;
  }

 private:
  // Uploads the payloads the scheduler does not hold yet (a rerun with the same arguments
  // sends none). The error names the payload.
  absl::Status UploadPayloads(const std::vector<Payload>& payloads) {
    if (payloads.empty()) return absl::OkStatus();
    std::vector<std::string> digests;
    for (const Payload& p : payloads) digests.push_back(p.digest);
    absl::StatusOr<std::vector<std::string>> missing = artifacts_->FindMissing(digests);
    if (!missing.ok()) {
      return absl::Status(missing.status().code(),
                          absl::StrCat("uploading the root call's payloads: ",
                                       missing.status().message()));
    }
    const absl::flat_hash_set<std::string> wanted(missing->begin(), missing->end());
    for (const Payload& p : payloads) {
      if (!wanted.contains(p.digest)) continue;
      if (absl::Status uploaded = artifacts_->UploadPayload(p.digest, p.bytes); !uploaded.ok()) {
        return absl::Status(uploaded.code(),
                            absl::StrCat("uploading payload ", p.digest, " (", p.bytes.size(),
                                         " bytes) of the root call: ", uploaded.message()));
      }
    }
    return absl::OkStatus();
  }

  // Submits, waiting (bounded) while no worker offers the step yet: workers may still be
  // saying hello.
  absl::StatusOr<v1::Job> Submit(const v1::SubmitJobRequest& request) {
    const absl::Time deadline = absl::Now() + options_.worker_wait;
    absl::Duration backoff = absl::Milliseconds(2);
    bool told = false;
    while (true) {
      absl::StatusOr<v1::SubmitJobResponse> submitted = client_->SubmitJob(request);
      if (submitted.ok()) return submitted->job();
      if (!absl::IsNotFound(submitted.status()) || absl::Now() + backoff > deadline) {
        return submitted.status();
      }
      if (!told && options_.kind == RunnerKind::kCluster && backoff >= absl::Milliseconds(200)) {
        Progress(absl::StrCat("waiting for a worker offering ", request.function()));
        told = true;
      }
      absl::SleepFor(backoff);  // a retry pause, not synchronisation: the next submit decides
      backoff = std::min(backoff * 2, absl::Milliseconds(200));
    }
  }

  // Watches the job until it ends, printing a line per finished step; returns the final job.
  absl::StatusOr<v1::Job> Follow(const std::string& job_id) {
    first_failure_.clear();
    v1::WatchJobRequest watch;
    watch.set_job_id(job_id);
    int64_t finished = 0;
    absl::Time last_line = absl::Now();
    const absl::Time started = absl::Now();
    std::optional<v1::Job> ended;
    absl::Status watched = client_->WatchJob(watch, [&](const v1::JobEvent& event) {
      if (event.sequence() > 0) watch.set_after_sequence(event.sequence());
      if (event.has_job()) {
        if (IsFinal(event.job().state())) ended = event.job();
        return !ended.has_value();
      }
      const v1::Run& run = event.run();
      if (!IsFinal(run.state())) return true;
      ++finished;
      if ((run.state() == v1::FAILED || run.state() == v1::TIMED_OUT) &&
          first_failure_.empty()) {
        first_failure_ = run.error();
      }
      // Concise: failures always, otherwise at most a line a second.
      const bool failed = run.state() != v1::SUCCEEDED;
      if (!run.function().starts_with("sematic.") &&
          (failed || absl::Now() - last_line >= absl::Seconds(1))) {
        Progress(absl::StrCat(run.function(), " ", Lower(v1::RunState_Name(run.state())),
                              failed ? absl::StrCat(": ", run.error()) : "", " (", finished,
                              " runs done)"));
        last_line = absl::Now();
      }
      return true;
    });
    {
      absl::MutexLock lock(&mu_);
      last_job_runs_ = static_cast<size_t>(finished);
    }
    if (ended.has_value()) {
      Progress(absl::StrCat("job ", job_id, " ", JobStateWord(ended->state()), ": ", finished,
                            " runs in ", absl::FormatDuration(absl::Trunc(
                                             absl::Now() - started, absl::Milliseconds(100)))));
    }
    // The final job record (with its run counts) from the store; also covers a watch that
    // broke off, as long as the job has ended.
    ASSIGN_OR_RETURN(v1::Job job, client_->GetJob(job_id));
    if (!IsFinal(job.state())) {
      if (!watched.ok()) return watched;
      return absl::InternalError(absl::StrCat("the watch of job ", job_id,
                                              " ended before the job did"));
    }
    return job;
  }

  // Downloads the output artifact and the payloads it refers to (sematic/payload.h), each
  // checked against its digest, and returns the TypedValue with its payloads inline.
  absl::StatusOr<v1::TypedValue> FetchOutput(const std::string& digest) {
    ASSIGN_OR_RETURN(const std::string bytes, DownloadVerified(digest));
    v1::TypedValue value;
    if (!value.ParseFromString(bytes)) {
      return absl::DataLossError(absl::StrCat("output artifact ", digest, " does not parse"));
    }
    RETURN_IF_ERROR(InternalizePayloads(
        value.mutable_value(),
        [this](const v1::PayloadRef& ref) { return DownloadVerified(ref.digest()); },
        absl::StrCat("output artifact ", digest)));
    return value;
  }

  // The whole artifact or payload `digest`. DATA_LOSS when its SHA-256 differs.
  absl::StatusOr<std::string> DownloadVerified(const std::string& digest) {
    v1::DownloadRequest request;
    request.set_digest(digest);
    std::string bytes;
    RETURN_IF_ERROR(client_->Download(request, [&](const v1::DownloadChunk& chunk) {
      if (bytes.empty()) bytes.reserve(chunk.total_size());
      bytes.append(chunk.data());
      return true;
    }));
    if (Sha256Hex(bytes) != digest) {
      return absl::DataLossError(absl::StrCat("artifact ", digest, ": corrupt download"));
    }
    return bytes;
  }

  void Progress(const std::string& line) const {
    if (options_.progress) std::fprintf(stderr, "sematic: %s\n", line.c_str());
  }

  std::unique_ptr<EmbeddedEngine> engine_;  // null for a cluster
  std::unique_ptr<cli::Client> client_;
  std::unique_ptr<worker::ArtifactClient> artifacts_;
  const EngineOptions options_;
  absl::Mutex resolve_mu_;                            // one Resolve at a time
  std::string first_failure_ ABSL_GUARDED_BY(resolve_mu_);
  mutable absl::Mutex mu_;
  v1::Job last_job_ ABSL_GUARDED_BY(mu_);
  size_t last_job_runs_ ABSL_GUARDED_BY(mu_) = 0;  // runs that reached a final state
};

// The silent runner behind the interface, so RunnerFromFlags can return it.
std::unique_ptr<Runner> MakeSilent(const EngineOptions& options) {
  return std::make_unique<SilentRunner>(RunnerOptions{.parallelism = options.parallelism});
}

// The engine's flags as the "known flags" list shows them.
constexpr std::string_view kEngineFlags[] = {"--runner=silent|embedded|cluster",
                                             "--scheduler=HOST:PORT",
                                             "--data-dir=DIR",
                                             "--parallelism=N",
                                             "--ui-port=N",
                                             "--isolate=thread|process",
                                             "--quiet"};

// True for "--x", "-x", "--x=1"; false for positional arguments, "-" and negative numbers.
bool LooksLikeFlag(std::string_view arg) {
  return arg.size() > 1 && arg[0] == '-' && !std::isdigit(static_cast<unsigned char>(arg[1])) &&
         arg[1] != '.';
}

std::string KnownFlags(absl::Span<const std::string_view> pipeline_flags) {
  std::string out = "known flags: ";
  for (std::string_view flag : kEngineFlags) {
    absl::StrAppend(&out, out.ends_with(": ") ? "" : ", ", AsAbsl(flag));
  }
  if (!pipeline_flags.empty()) {
    absl::StrAppend(&out, "; this program's: ");
    for (size_t i = 0; i < pipeline_flags.size(); ++i) {
      absl::StrAppend(&out, i == 0 ? "" : ", ", AsAbsl(pipeline_flags[i]));
    }
  }
  return out;
}

// Only the embedded engine runs steps in child processes of its own.
absl::Status CheckIsolation(const EngineOptions& options) {
  if (!options.isolate_steps) return absl::OkStatus();
  switch (options.kind) {
    case RunnerKind::kEmbedded:
      return absl::OkStatus();
    case RunnerKind::kSilent:
      return absl::InvalidArgumentError(
          "--isolate=process: the silent runner runs steps on its own threads; use the embedded "
          "engine (--runner=embedded, the default) to run each step in a child process");
    case RunnerKind::kCluster:
      return absl::InvalidArgumentError(
          "--isolate=process: on a cluster the workers run the steps; start them with `worker "
          "--scheduler=HOST:PORT --isolate=process`");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<EngineOptions> ParseEngineFlags(int& argc, char** argv,
                                               absl::Span<const std::string_view> pipeline_flags) {
  // A step process of --isolate=process whose main did not dispatch worker::IsWorkerCommand
  // first: it runs its one step, not the pipeline again.
  if (worker::IsStepProcessCommand(argc, argv)) std::exit(worker::StepProcessMain(argc, argv));
  EngineOptions options;
  std::string runner;
  if (const char* env = std::getenv("SEMATIC_RUNNER"); env != nullptr) runner = env;
  if (const char* env = std::getenv("SEMATIC_SCHEDULER"); env != nullptr) options.scheduler = env;
  bool scheduler_flag = false;
  bool runner_flag = false;
  bool flags_ended = false;  // after "--"
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (flags_ended || !LooksLikeFlag(arg)) {
      argv[kept++] = argv[i];
      continue;
    }
    if (arg == "--") {
      flags_ended = true;
      continue;
    }
    const size_t equals = arg.find('=');
    const std::string_view name = arg.substr(0, equals);
    const std::optional<std::string> value =
        equals == std::string_view::npos ? std::nullopt
                                         : std::optional<std::string>(arg.substr(equals + 1));
    if (std::find(pipeline_flags.begin(), pipeline_flags.end(), name) != pipeline_flags.end()) {
      argv[kept++] = argv[i];
      continue;
    }
    if (name == "--quiet") {
      if (value.has_value()) return absl::InvalidArgumentError("--quiet: takes no value");
      options.progress = false;
      continue;
    }
    const std::string_view* known =
        std::find_if(std::begin(kEngineFlags), std::end(kEngineFlags),
                     [&](std::string_view flag) { return flag.substr(0, flag.find('=')) == name; });
    if (known == std::end(kEngineFlags)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", AsAbsl(arg.substr(0, 200)),
                                                     "; ", KnownFlags(pipeline_flags)));
    }
    if (!value.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(AsAbsl(name), ": expected a value, as in ", AsAbsl(*known)));
    }
    if (name == "--runner") {
      runner = *value;
      runner_flag = true;
    } else if (name == "--scheduler") {
      options.scheduler = *value;
      scheduler_flag = true;
    } else if (name == "--data-dir") {
      if (value->empty()) return absl::InvalidArgumentError("--data-dir: expected a directory");
      options.data_dir = *value;
    } else if (name == "--parallelism") {
      if (!absl::SimpleAtoi(*value, &options.parallelism) || options.parallelism < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("--parallelism: expected a number of steps, got \"", *value, "\""));
      }
    } else if (name == "--ui-port") {
      if (!absl::SimpleAtoi(*value, &options.ui_port) || options.ui_port < -1 ||
          options.ui_port > 65535) {
        return absl::InvalidArgumentError(
            absl::StrCat("--ui-port: expected a port (0 picks a free one, -1 serves none), got \"",
                         *value, "\""));
      }
    } else if (name == "--isolate") {
      if (*value != "thread" && *value != "process") {
        return absl::InvalidArgumentError(
            absl::StrCat("--isolate: expected thread or process, got \"", *value, "\""));
      }
      options.isolate_steps = *value == "process";
    }
  }
  argc = kept;
  argv[argc] = nullptr;
  if (scheduler_flag && !runner_flag) runner = "cluster";
  if (runner.empty() || runner == "embedded") {
    options.kind = RunnerKind::kEmbedded;
  } else if (runner == "silent") {
    options.kind = RunnerKind::kSilent;
  } else if (runner == "cluster") {
    options.kind = RunnerKind::kCluster;
    if (options.scheduler.empty()) {
      return absl::InvalidArgumentError(
          "--runner=cluster: say where the scheduler is with --scheduler=HOST:PORT (or "
          "$SEMATIC_SCHEDULER)");
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "--runner: expected silent, embedded or cluster, got \"", runner, "\""));
  }
  RETURN_IF_ERROR(CheckIsolation(options));
  return options;
}

absl::StatusOr<std::unique_ptr<Runner>> MakeRunner(const EngineOptions& options) {
  RETURN_IF_ERROR(CheckIsolation(options));
  switch (options.kind) {
    case RunnerKind::kSilent:
      return MakeSilent(options);
    case RunnerKind::kEmbedded: {
      ASSIGN_OR_RETURN(std::unique_ptr<EmbeddedEngine> engine, EmbeddedEngine::Start(options));
      std::unique_ptr<cli::Client> client = cli::MakeLocalClient(engine->scheduler());
      std::unique_ptr<worker::ArtifactClient> artifacts =
          worker::MakeInProcessArtifactClient(engine->scheduler());
      return std::unique_ptr<Runner>(std::make_unique<SchedulerRunner>(
          std::move(engine), std::move(client), std::move(artifacts), options));
    }
    case RunnerKind::kCluster:
      // The artifact client's channel connects only when a root argument has payloads.
      return std::unique_ptr<Runner>(std::make_unique<SchedulerRunner>(
          nullptr, cli::MakeGrpcClient({.address = options.scheduler}),
          worker::MakeGrpcArtifactClient(worker::MakeSchedulerChannel(options.scheduler)),
          options));
  }
  return absl::InvalidArgumentError("unknown runner kind");
}

absl::StatusOr<std::unique_ptr<Runner>> RunnerFromFlags(
    int& argc, char** argv, absl::Span<const std::string_view> pipeline_flags) {
  ASSIGN_OR_RETURN(EngineOptions options, ParseEngineFlags(argc, argv, pipeline_flags));
  return MakeRunner(options);
}

std::string DescribeRunner(const EngineOptions& options) {
  switch (options.kind) {
    case RunnerKind::kSilent:
      return "in-process (silent runner)";
    case RunnerKind::kEmbedded:
      return absl::StrCat("on the embedded engine (data in ", options.data_dir,
                          options.isolate_steps ? ", each step in a child process)" : ")");
    case RunnerKind::kCluster:
      return absl::StrCat("on the cluster at ", options.scheduler);
  }
  return "";
}

}  // namespace sematic
