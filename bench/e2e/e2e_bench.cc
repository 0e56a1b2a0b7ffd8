// End to end through real processes: the sematic-scheduler daemon (RocksDB with its WAL, data in
// a temporary directory) and two sematic-worker processes serving libbench_steps.so, all on
// 127.0.0.1, driven over JobService exactly as a client would.
//
//   build/bench/e2e_bench                    # every workload at full size (a few minutes)
//   build/bench/e2e_bench --fanout=20000 --chain=2000 --sweep_points=500
//   build/bench/e2e_bench --smoke            # tiny sizes; only checks that every job succeeds
//   build/bench/e2e_bench --workloads=chain --chain=1000 --json   # one job, one JSON line
//
// Workloads (--workloads, run in the order given):
//   fanout    FanOut(n): n no-op steps gathered into Count             (--fanout)
//   chain     n dependent Increment steps; per-hop latency              (--chain)
//   sweep     n Busy steps of --busy_micros CPU each, then Reduce       (--sweep_points)
//   subgraph  a nested step returns a graph of n children: how long the scheduler takes to
//             register it (see MeasureSubGraph)                          (--subgraph_children)
//   artifact  one BYTES artifact uploaded and downloaded with the worker's gRPC client: MB/s
//             each way, SHA-256 checked                                  (--artifact_bytes)
//   sync      FanOut on a scheduler of its own started with --sync      (--sync_fanout)
//   fanout1m  FanOut on a scheduler of its own, for throughput and its peak RSS; its graph
//             limits are raised to fit one graph of that size          (--big_fanout)
//   dashboards  on a scheduler of its own: FanOut unwatched, then the same FanOut with
//             --dashboards browsers' worth of SSE streams (/api/v1/jobs/ID/events) reading
//             every event; the ratio of the two throughputs. Then GET /api/v1/jobs/ID and
//             the job's run_groups over HTTP: p50/p99 latency   (--dashboard_fanout)
// The first five share one cluster (with --sync when the flag is given); sync and fanout1m each
// get a fresh one, so that the peak RSS reported is theirs alone.
//
// Each job is timed from SubmitJob to its end as a job-only WatchJob reports it (the job's own
// changes, no run events: what a client waiting for a result would open), and its output is
// checked against the expected value. Per job it reports the
// CPU time (/proc/PID/stat utime + stime) of the scheduler and of the workers divided by the
// job's runs (every run the scheduler counts for it: steps, the nested parent, gathers), and the
// scheduler's peak RSS so far (/proc/PID/status VmHWM). The chain's per-hop latency is the gap
// between consecutive Increment runs' end times as the scheduler recorded them. One small
// unmeasured job first warms up each cluster's connections and function lookups. Exit code 0
// only when every job succeeded with the right output.
//
// --json prints one JSON object per job on stdout (the report goes to stderr instead), for
// bench/compare/compare.py, with the keys of the Dask reference (system, workload, n, seconds,
// tasks_per_s, us_per_hop for the chain) plus the figures above.
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/e2e/artifact_transfer.h"
#include "bench/e2e/process.h"
#include "common/status_macros.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "httplib.h"
#include "sematic/codec.h"
#include "sematic/v1/admin_service.grpc.pb.h"
#include "sematic/v1/job.grpc.pb.h"
#include "sematic/v1/run_service.grpc.pb.h"

ABSL_FLAG(int, fanout, 100'000, "no-op steps in the fan-out job");
ABSL_FLAG(int, chain, 10'000, "dependent steps in the chain job");
ABSL_FLAG(int, sweep_points, 2'000, "grid points of the sweep job");
ABSL_FLAG(int, busy_micros, 1'000, "CPU time each sweep point spins for");
ABSL_FLAG(int, workers, 2, "sematic-worker processes");
ABSL_FLAG(int, worker_cpus, 1, "cpus each worker offers (Busy takes one; no-ops take none)");
ABSL_FLAG(int, max_runs, 64, "runs each worker may hold at once (--max-runs)");
ABSL_FLAG(bool, sync, false,
          "run the shared cluster's scheduler with --sync (fsync per committed batch)");
ABSL_FLAG(absl::Duration, job_timeout, absl::Minutes(10), "longest wait for one job");
ABSL_FLAG(bool, keep_data, false, "keep the temporary directory (data, logs) at the end");
ABSL_FLAG(int, subgraph_children, 10'000, "children of the sub-graph a nested step returns");
ABSL_FLAG(int64_t, artifact_bytes, int64_t{1} << 30, "payload of the artifact (a BYTES value)");
ABSL_FLAG(int, sync_fanout, 100'000, "no-op steps of the fan-out on a --sync scheduler");
ABSL_FLAG(int, big_fanout, 1'000'000, "no-op steps of the fanout1m job");
ABSL_FLAG(std::string, workloads, "fanout,chain,sweep,subgraph,artifact,sync,fanout1m,dashboards",
          "jobs to run, in this order");
ABSL_FLAG(bool, json, false,
          "one JSON object per job on stdout (the human-readable report goes to stderr)");
ABSL_FLAG(int, dashboard_fanout, 100'000, "no-op steps of the dashboards workload's fan-outs");
ABSL_FLAG(int, dashboards, 10, "SSE watchers of the dashboards workload's watched fan-out");
ABSL_FLAG(bool, smoke, false,
          "tiny sizes (fan-outs 200 and 1000, chain 50, sweep 20 points, sub-graph 100, "
          "artifact 4 MiB): checks that the jobs succeed");

namespace sematic::bench {
namespace {

namespace v1 = ::sematic::v1;
namespace fs = std::filesystem;

absl::Status FromGrpc(const grpc::Status& status, const char* what) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

std::unique_ptr<grpc::ClientContext> WithDeadline(absl::Duration timeout = absl::Seconds(30)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

// JobService, RunService and AdminService calls the benchmark makes.
class Client {
 public:
  explicit Client(const std::string& address)
      : channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        jobs_(v1::JobService::NewStub(channel_)),
        runs_(v1::RunService::NewStub(channel_)),
        admin_(v1::AdminService::NewStub(channel_)) {}

  // Waits until `count` workers are connected.
  absl::Status AwaitWorkers(int count, absl::Duration timeout) {
    for (const absl::Time end = absl::Now() + timeout; absl::Now() < end;) {
      v1::ListWorkersResponse response;
      if (admin_->ListWorkers(WithDeadline().get(), v1::ListWorkersRequest(), &response).ok() &&
          response.workers_size() >= count) {
        return absl::OkStatus();
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return absl::DeadlineExceededError(absl::StrCat("fewer than ", count, " workers connected"));
  }

  absl::StatusOr<std::string> Submit(const v1::SubmitJobRequest& request) {
    v1::SubmitJobResponse response;
    RETURN_IF_ERROR(
        FromGrpc(jobs_->SubmitJob(WithDeadline().get(), request, &response), "SubmitJob"));
    return response.job().id();
  }

  // Watches the job (its own changes only) until it ends; DEADLINE_EXCEEDED after `timeout`.
  absl::StatusOr<v1::Job> AwaitEnd(const std::string& job_id, absl::Duration timeout) {
    v1::WatchJobRequest request;
    request.set_job_id(job_id);
    request.set_job_only(true);
    std::unique_ptr<grpc::ClientContext> context = WithDeadline(timeout);
    std::unique_ptr<grpc::ClientReader<v1::JobEvent>> events =
        jobs_->WatchJob(context.get(), request);
    std::optional<v1::Job> last;
    v1::JobEvent event;
    while (events->Read(&event)) {
      if (event.has_job()) last = std::move(*event.mutable_job());
    }
    RETURN_IF_ERROR(FromGrpc(events->Finish(), "WatchJob"));
    if (!last.has_value() || (last->state() != v1::JOB_SUCCEEDED &&
                              last->state() != v1::JOB_FAILED &&
                              last->state() != v1::JOB_CANCELED)) {
      return absl::InternalError(absl::StrCat("the watch of job ", job_id,
                                              " ended before the job did"));
    }
    return *std::move(last);
  }

  absl::StatusOr<std::vector<v1::Run>> Runs(const std::string& job_id) {
    std::vector<v1::Run> runs;
    v1::ListRunsRequest request;
    request.set_job_id(job_id);
    request.set_page_size(1000);
    do {
      v1::ListRunsResponse response;
      RETURN_IF_ERROR(
          FromGrpc(runs_->ListRuns(WithDeadline().get(), request, &response), "ListRuns"));
      for (v1::Run& run : *response.mutable_runs()) runs.push_back(std::move(run));
      request.set_page_token(response.next_page_token());
    } while (!request.page_token().empty());
    return runs;
  }

  // Every log line the run has recorded so far.
  absl::StatusOr<std::vector<v1::LogEntry>> Logs(const std::string& run_id) {
    v1::GetRunLogsRequest request;
    request.set_run_id(run_id);
    std::unique_ptr<grpc::ClientContext> context = WithDeadline();
    std::unique_ptr<grpc::ClientReader<v1::LogLines>> reader =
        runs_->GetRunLogs(context.get(), request);
    std::vector<v1::LogEntry> entries;
    v1::LogLines page;
    while (reader->Read(&page)) {
      for (v1::LogEntry& entry : *page.mutable_entries()) entries.push_back(std::move(entry));
    }
    RETURN_IF_ERROR(FromGrpc(reader->Finish(), "GetRunLogs"));
    return entries;
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::JobService::Stub> jobs_;
  std::unique_ptr<v1::RunService::Stub> runs_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

// How a cluster's sematic-scheduler is started; 0 leaves a limit at the daemon's default.
struct SchedulerSettings {
  bool sync = false;
  int64_t max_graph_nodes = 0;
  int64_t max_message_bytes = 0;
};

// The scheduler and its workers, stopped (drained) on destruction.
class Cluster {
 public:
  // Starts the processes with their data and logs under `root` and waits for the workers.
  static absl::StatusOr<std::unique_ptr<Cluster>> Start(const fs::path& root,
                                                        const SchedulerSettings& settings) {
    std::error_code error;
    if (!fs::create_directories(root, error) && error) {
      return absl::InternalError(absl::StrCat("mkdir ", root.string(), ": ", error.message()));
    }
    auto cluster = std::unique_ptr<Cluster>(new Cluster);
    std::vector<std::string> flags;  // beyond data dir, host and port
    if (settings.sync) flags.push_back("--sync");
    if (settings.max_graph_nodes > 0) {
      flags.push_back(absl::StrCat("--max-graph-nodes=", settings.max_graph_nodes));
    }
    if (settings.max_message_bytes > 0) {
      flags.push_back(absl::StrCat("--max-message-bytes=", settings.max_message_bytes));
    }
    std::vector<std::string> scheduler_args = {
        SEMATIC_SCHEDULER_BINARY, "--data-dir=" + (root / "data").string(), "--host=127.0.0.1",
        "--port=0"};
    scheduler_args.insert(scheduler_args.end(), flags.begin(), flags.end());
    ASSIGN_OR_RETURN(cluster->scheduler_,
                     Process::Start(scheduler_args, (root / "scheduler.log").string(),
                                    /*capture_stdout=*/true));
    ASSIGN_OR_RETURN(std::string line, cluster->scheduler_->ReadLine(absl::Seconds(30)));
    if (!absl::StartsWith(line, "listening on ")) {
      return absl::InternalError(absl::StrCat("sematic-scheduler said: ", line));
    }
    cluster->address_ = line.substr(std::string("listening on ").size());
    // With --port=0 the daemon serves HTTP on a free port too, and says which next.
    ASSIGN_OR_RETURN(std::string http, cluster->scheduler_->ReadLine(absl::Seconds(30)));
    if (!absl::StartsWith(http, "http on ")) {
      return absl::InternalError(absl::StrCat("sematic-scheduler said: ", http));
    }
    const size_t colon = http.rfind(':');
    if (!absl::SimpleAtoi(http.substr(colon + 1), &cluster->http_port_)) {
      return absl::InternalError(absl::StrCat("sematic-scheduler said: ", http));
    }
    cluster->scheduler_flags_ = absl::StrJoin(flags, " ");
    for (int i = 0; i < absl::GetFlag(FLAGS_workers); ++i) {
      const std::string id = absl::StrCat("bench-worker-", i);
      ASSIGN_OR_RETURN(
          std::unique_ptr<Process> worker,
          Process::Start({SEMATIC_WORKER_BINARY, "--load=" SEMATIC_BENCH_STEPS_LIBRARY,
                          "--scheduler=" + cluster->address_, "--worker-id=" + id,
                          absl::StrCat("--cpus=", absl::GetFlag(FLAGS_worker_cpus)),
                          "--memory=1GiB",
                          absl::StrCat("--max-runs=", absl::GetFlag(FLAGS_max_runs)),
                          "--cache-dir=" + (root / id).string(), "--drain-timeout=30s"},
                         (root / (id + ".log")).string()));
      cluster->workers_.push_back(std::move(worker));
    }
    cluster->client_ = std::make_unique<Client>(cluster->address_);
    RETURN_IF_ERROR(cluster->client_->AwaitWorkers(absl::GetFlag(FLAGS_workers),
                                                   absl::Seconds(30)));
    return cluster;
  }

  ~Cluster() {
    for (auto& worker : workers_) worker->Stop(SIGTERM, absl::Seconds(30));
    if (scheduler_ != nullptr) scheduler_->Stop(SIGTERM, absl::Seconds(30));
  }

  const std::string& address() const { return address_; }
  int http_port() const { return http_port_; }
  const Process& scheduler() const { return *scheduler_; }
  Client& client() const { return *client_; }
  // The scheduler's flags beyond data dir, host and port ("" when none).
  const std::string& scheduler_flags() const { return scheduler_flags_; }

  // The workers' CPU time so far, summed.
  absl::StatusOr<absl::Duration> WorkerCpu() const {
    absl::Duration total;
    for (const auto& worker : workers_) {
      ASSIGN_OR_RETURN(ProcessUsage usage, worker->Usage());
      total += usage.cpu;
    }
    return total;
  }

 private:
  Cluster() = default;
  std::unique_ptr<Process> scheduler_;
  std::vector<std::unique_ptr<Process>> workers_;
  std::unique_ptr<Client> client_;
  std::string address_;
  int http_port_ = 0;
  std::string scheduler_flags_;
};

v1::SubmitJobRequest JobRequest(const std::string& function,
                                std::vector<std::pair<std::string, int>> args) {
  v1::SubmitJobRequest request;
  request.set_function(function);
  for (const auto& [name, value] : args) {
    v1::NamedArg* arg = request.add_args();
    arg->set_name(name);
    *arg->mutable_value() = Encode(value);
  }
  return request;
}

struct JobFigures {
  v1::Job job;
  absl::Duration wall;
  int64_t runs = 0;                // every run the scheduler counted for the job
  absl::Duration scheduler_cpu;    // during the job
  absl::Duration worker_cpu;       // during the job, all workers
  int64_t scheduler_peak_rss = 0;  // VmHWM after the job
};

int64_t RunsOf(const v1::Job& job) {
  int64_t total = 0;
  for (int64_t count : job.runs_by_state()) total += count;
  return total;
}

// Submits `request`, waits for the end and checks that the job succeeded with
// `expected_digest` as its output.
absl::StatusOr<JobFigures> RunJob(const Cluster& cluster, const v1::SubmitJobRequest& request,
                                  const std::string& expected_digest) {
  Client& client = cluster.client();
  ASSIGN_OR_RETURN(ProcessUsage before, cluster.scheduler().Usage());
  ASSIGN_OR_RETURN(absl::Duration workers_before, cluster.WorkerCpu());
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(std::string job_id, client.Submit(request));
  ASSIGN_OR_RETURN(v1::Job job, client.AwaitEnd(job_id, absl::GetFlag(FLAGS_job_timeout)));
  JobFigures figures;
  figures.wall = absl::Now() - start;
  ASSIGN_OR_RETURN(ProcessUsage after, cluster.scheduler().Usage());
  ASSIGN_OR_RETURN(absl::Duration workers_after, cluster.WorkerCpu());
  if (job.state() != v1::JOB_SUCCEEDED) {
    return absl::InternalError(absl::StrCat(request.function(), " job ", job_id, " ended ",
                                            v1::JobState_Name(job.state()), ": ", job.error()));
  }
  if (job.output_digest() != expected_digest) {
    return absl::InternalError(absl::StrCat(request.function(), " job ", job_id,
                                            ": unexpected output ", job.output_digest()));
  }
  figures.scheduler_cpu = after.cpu - before.cpu;
  figures.worker_cpu = workers_after - workers_before;
  figures.scheduler_peak_rss = after.peak_rss_bytes;
  figures.runs = RunsOf(job);
  figures.job = std::move(job);
  return figures;
}

std::string IntDigest(int value) { return ArtifactId(TypeOf<int>(), Encode(value)); }

double Micros(absl::Duration d) { return absl::ToDoubleMicroseconds(d); }

double MiB(int64_t bytes) { return bytes / 1048576.0; }

// Where the human-readable report goes: stdout, or stderr under --json.
FILE* Report() { return absl::GetFlag(FLAGS_json) ? stderr : stdout; }

double RunCount(const JobFigures& f) { return static_cast<double>(std::max<int64_t>(1, f.runs)); }

void PrintJob(const char* name, const JobFigures& f) {
  const double runs = RunCount(f);
  std::fprintf(Report(), "  %-8s wall %8.3f s  %7lld runs  CPU per run: scheduler %6.1f µs, "
              "workers %6.1f µs  scheduler peak RSS %4.0f MiB\n",
              name, absl::ToDoubleSeconds(f.wall), static_cast<long long>(f.runs),
              Micros(f.scheduler_cpu) / runs, Micros(f.worker_cpu) / runs,
              MiB(f.scheduler_peak_rss));
}

// Under --json: one line on stdout for the job `workload` of `n` steps; `extra` holds more
// members, each starting with a comma.
void PrintJson(const char* workload, int64_t n, const JobFigures& f,
               const std::string& extra = "") {
  if (!absl::GetFlag(FLAGS_json)) return;
  const double seconds = absl::ToDoubleSeconds(f.wall);
  const double runs = RunCount(f);
  std::printf("{\"system\": \"sematic\", \"workload\": \"%s\", \"n\": %lld, \"seconds\": %.4f, "
              "\"tasks_per_s\": %.1f, \"runs\": %lld, \"scheduler_cpu_us_per_run\": %.1f, "
              "\"worker_cpu_us_per_run\": %.1f, \"scheduler_peak_rss_mib\": %.1f%s}\n",
              workload, static_cast<long long>(n), seconds, n / seconds,
              static_cast<long long>(f.runs), Micros(f.scheduler_cpu) / runs,
              Micros(f.worker_cpu) / runs, MiB(f.scheduler_peak_rss), extra.c_str());
}

// p in [0, 1] of sorted `values`.
int64_t Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()))];
}

// FanOut(n): steps per second end to end. `workload` names it in the report and the JSON.
absl::Status MeasureFanOut(const Cluster& cluster, const char* workload, int n) {
  ASSIGN_OR_RETURN(JobFigures fan,
                   RunJob(cluster, JobRequest("FanOut", {{"n", n}}), IntDigest(n)));
  std::fprintf(Report(), "%s: %d no-op steps, then Count over all of them\n", workload, n);
  PrintJob(workload, fan);
  std::fprintf(Report(), "  => %.0f steps/s end to end\n", n / absl::ToDoubleSeconds(fan.wall));
  PrintJson(workload, n, fan);
  return absl::OkStatus();
}

absl::Status MeasureChain(const Cluster& cluster, int n) {
  ASSIGN_OR_RETURN(JobFigures hops,
                   RunJob(cluster, JobRequest("Chain", {{"n", n}}), IntDigest(n)));
  ASSIGN_OR_RETURN(std::vector<v1::Run> runs, cluster.client().Runs(hops.job.id()));
  std::vector<int64_t> ends;
  for (const v1::Run& run : runs) {
    if (run.function() == "Increment") ends.push_back(run.ended_unix_micros());
  }
  std::sort(ends.begin(), ends.end());
  std::vector<int64_t> gaps;
  for (size_t i = 1; i < ends.size(); ++i) gaps.push_back(ends[i] - ends[i - 1]);
  std::sort(gaps.begin(), gaps.end());
  std::fprintf(Report(), "chain: %d dependent Increment steps\n", n);
  PrintJob("chain", hops);
  std::fprintf(Report(),
               "  => per hop: %.0f µs mean (wall / hops); p50 %lld µs, p90 %lld µs, "
               "p99 %lld µs (gaps between recorded ends)\n",
               Micros(hops.wall) / n, static_cast<long long>(Percentile(gaps, 0.5)),
               static_cast<long long>(Percentile(gaps, 0.9)),
               static_cast<long long>(Percentile(gaps, 0.99)));
  PrintJson("chain", n, hops,
            absl::StrFormat(", \"us_per_hop\": %.1f, \"p50_us_per_hop\": %lld",
                            Micros(hops.wall) / n,
                            static_cast<long long>(Percentile(gaps, 0.5))));
  return absl::OkStatus();
}

absl::Status MeasureSweep(const Cluster& cluster, int points, int busy_micros) {
  const int64_t point_sum = int64_t{points} * (points - 1) / 2;
  ASSIGN_OR_RETURN(JobFigures sweep,
                   RunJob(cluster,
                          JobRequest("Sweep", {{"points", points}, {"micros", busy_micros}}),
                          ArtifactId(TypeOf<int64_t>(), Encode(point_sum))));
  const int cores = absl::GetFlag(FLAGS_workers) * absl::GetFlag(FLAGS_worker_cpus);
  const absl::Duration ideal = absl::Microseconds(int64_t{points} * busy_micros) / cores;
  std::fprintf(Report(), "sweep: %d points x %d µs CPU, then Reduce\n", points, busy_micros);
  PrintJob("sweep", sweep);
  std::fprintf(Report(), "  => ideal %.3f s (%d x %d µs / %d cores): %.0f%% efficiency\n",
               absl::ToDoubleSeconds(ideal), points, busy_micros, cores,
               100 * absl::FDivDuration(ideal, sweep.wall));
  PrintJson("sweep", points, sweep);
  return absl::OkStatus();
}

// One sub-graph registration, in µs since the epoch, all read from the one host's clock.
struct Registration {
  int64_t graph_built = 0;     // the nested step's last log line (on the worker)
  int64_t adding = 0;          // the children's created time: AddGraph began (scheduler)
  int64_t first_dispatch = 0;  // the earliest child assignment (scheduler)
  int64_t first_result = 0;    // the earliest child result recorded (scheduler)
};

// The registration times of the SubGraph run among `runs` (a SubGraph job's), whose children
// are NoOp runs. NOT_FOUND when a time is missing.
absl::StatusOr<Registration> RegistrationOf(Client& client, const std::vector<v1::Run>& runs) {
  auto parent = std::find_if(runs.begin(), runs.end(),
                             [](const v1::Run& r) { return r.function() == "SubGraph"; });
  if (parent == runs.end()) return absl::NotFoundError("no SubGraph run");
  ASSIGN_OR_RETURN(std::vector<v1::LogEntry> logs, client.Logs(parent->id()));
  Registration t;
  for (const v1::LogEntry& entry : logs) {
    if (entry.text() == "graph built") t.graph_built = entry.unix_micros();
  }
  if (t.graph_built == 0) return absl::NotFoundError("the SubGraph run logged no 'graph built'");
  t.first_dispatch = t.first_result = std::numeric_limits<int64_t>::max();
  for (const v1::Run& run : runs) {
    if (run.parent_id() != parent->id() || run.function() != "NoOp") continue;
    t.adding = run.created_unix_micros();
    t.first_dispatch = std::min(t.first_dispatch, run.started_unix_micros());
    t.first_result = std::min(t.first_result, run.ended_unix_micros());
  }
  if (t.adding == 0) return absl::NotFoundError("the SubGraph run has no NoOp children");
  return t;
}

// The latency of registering a sub-graph of n children: from the nested step's function
// returning its graph (its last log line) until the scheduler dispatches the first child. The
// scheduler validates the whole graph, creates and queues every run, and only then, at the end
// of that loop turn, places the first ones; the turn's commit follows before the assignments
// leave, which the first child's result (also reported) includes.
absl::Status MeasureSubGraph(const Cluster& cluster, int n) {
  ASSIGN_OR_RETURN(JobFigures job,
                   RunJob(cluster, JobRequest("SubGraph", {{"n", n}}), IntDigest(n)));
  ASSIGN_OR_RETURN(std::vector<v1::Run> runs, cluster.client().Runs(job.job.id()));
  ASSIGN_OR_RETURN(Registration t, RegistrationOf(cluster.client(), runs));
  const double registered_ms = (t.first_dispatch - t.graph_built) / 1e3;
  const double arrived_ms = (t.adding - t.graph_built) / 1e3;
  const double added_ms = (t.first_dispatch - t.adding) / 1e3;
  const double first_result_ms = (t.first_result - t.graph_built) / 1e3;
  std::fprintf(Report(), "subgraph: a nested step returns %d NoOp children and their Count\n", n);
  PrintJob("subgraph", job);
  std::fprintf(Report(),
               "  => registered in %.2f ms (graph built -> first child dispatched): %.2f ms to "
               "the scheduler (serialize, send, validate), %.2f ms to add and queue the runs "
               "and place the first; first child's result recorded after %.2f ms\n",
               registered_ms, arrived_ms, added_ms, first_result_ms);
  PrintJson("subgraph", n, job,
            absl::StrFormat(", \"registration_ms\": %.3f, \"to_scheduler_ms\": %.3f, "
                            "\"add_and_place_ms\": %.3f, \"first_result_ms\": %.3f",
                            registered_ms, arrived_ms, added_ms, first_result_ms));
  return absl::OkStatus();
}

double MegabytesPerSecond(uint64_t bytes, absl::Duration d) {
  return bytes / 1e6 / absl::ToDoubleSeconds(d);
}

absl::Status MeasureArtifact(const Cluster& cluster, int64_t payload_bytes) {
  auto scheduler_cpu = [&cluster]() -> absl::StatusOr<absl::Duration> {
    ASSIGN_OR_RETURN(ProcessUsage usage, cluster.scheduler().Usage());
    return usage.cpu;
  };
  ASSIGN_OR_RETURN(ArtifactTransfer t,
                   TransferArtifact(cluster.address(), payload_bytes, scheduler_cpu));
  ASSIGN_OR_RETURN(ProcessUsage usage, cluster.scheduler().Usage());
  const double up = MegabytesPerSecond(t.serialized_bytes, t.upload);
  const double down = MegabytesPerSecond(t.serialized_bytes, t.download);
  std::fprintf(Report(),
               "artifact: a BYTES value of %lld bytes (%llu serialized) through the worker's "
               "gRPC ArtifactClient\n  upload %.3f s (%.0f MB/s; scheduler CPU %.3f s)  "
               "download %.3f s (%.0f MB/s; scheduler CPU %.3f s)  SHA-256 check %.3f s  "
               "scheduler peak RSS %.0f MiB\n",
               static_cast<long long>(payload_bytes),
               static_cast<unsigned long long>(t.serialized_bytes),
               absl::ToDoubleSeconds(t.upload), up, absl::ToDoubleSeconds(t.server_cpu_upload),
               absl::ToDoubleSeconds(t.download), down,
               absl::ToDoubleSeconds(t.server_cpu_download), absl::ToDoubleSeconds(t.verify),
               MiB(usage.peak_rss_bytes));
  if (!absl::GetFlag(FLAGS_json)) return absl::OkStatus();
  std::printf("{\"system\": \"sematic\", \"workload\": \"artifact\", \"n\": %lld, "
              "\"serialized_bytes\": %llu, \"seconds\": %.4f, \"upload_s\": %.4f, "
              "\"download_s\": %.4f, \"verify_s\": %.4f, \"upload_mb_per_s\": %.1f, "
              "\"download_mb_per_s\": %.1f, \"scheduler_cpu_upload_s\": %.4f, "
              "\"scheduler_cpu_download_s\": %.4f, \"scheduler_peak_rss_mib\": %.1f}\n",
              static_cast<long long>(payload_bytes),
              static_cast<unsigned long long>(t.serialized_bytes),
              absl::ToDoubleSeconds(t.upload + t.download), absl::ToDoubleSeconds(t.upload),
              absl::ToDoubleSeconds(t.download), absl::ToDoubleSeconds(t.verify), up, down,
              absl::ToDoubleSeconds(t.server_cpu_upload),
              absl::ToDoubleSeconds(t.server_cpu_download), MiB(usage.peak_rss_bytes));
  return absl::OkStatus();
}

// `dashboards` SSE streams on `job_id`, each reading every event until the job's stream ends
// OK, reconnecting with Last-Event-ID (as a browser's EventSource does) when it is cut off.
class Dashboards {
 public:
  Dashboards(int port, const std::string& job_id, int count) {
    for (int i = 0; i < count; ++i) {
      threads_.emplace_back([this, port, job_id] {
        int64_t events = 0;
        int connections = 0;
        std::string last_id;
        bool done = false;
        while (!done && connections < 100) {
          ++connections;
          httplib::Client client("127.0.0.1", port);
          client.set_read_timeout(600, 0);
          httplib::Headers headers;
          if (!last_id.empty()) headers.emplace("Last-Event-ID", last_id);
          std::string pending;  // the part of the body after the last complete frame
          client.Get("/api/v1/jobs/" + job_id + "/events", headers,
                     [&](const char* data, size_t n) {
                       pending.append(data, n);
                       size_t start = 0;
                       for (size_t end; (end = pending.find("\n\n", start)) != std::string::npos;
                            start = end + 2) {
                         const std::string_view frame(pending.data() + start, end - start);
                         if (frame.starts_with("id: ")) {
                           last_id = std::string(frame.substr(4, frame.find('\n') - 4));
                         }
                         if (frame.find("event: end") != std::string_view::npos) {
                           done = frame.find("\"code\":\"OK\"") != std::string_view::npos;
                         } else if (frame.find("event: ") != std::string_view::npos) {
                           ++events;
                         }
                       }
                       pending.erase(0, start);
                       return true;
                     });
        }
        absl::MutexLock lock(&mu_);
        events_.push_back(events);
        connections_.push_back(connections);
      });
    }
  }
  // Waits for every stream to end; the events each read, and the connections each took.
  std::pair<std::vector<int64_t>, std::vector<int>> Join() {
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    absl::MutexLock lock(&mu_);
    return {events_, connections_};
  }
  ~Dashboards() { Join(); }

 private:
  std::vector<std::thread> threads_;
  absl::Mutex mu_;
  std::vector<int64_t> events_ ABSL_GUARDED_BY(mu_);
  std::vector<int> connections_ ABSL_GUARDED_BY(mu_);
};

// Sorted latencies of `n` GETs of `path` over one keep-alive connection.
absl::StatusOr<std::vector<int64_t>> TimeGets(int port, const std::string& path, int n) {
  httplib::Client client("127.0.0.1", port);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  std::vector<int64_t> micros;
  for (int i = 0; i < n; ++i) {
    const absl::Time start = absl::Now();
    httplib::Result res = client.Get(path);
    if (!res || res->status != 200) {
      return absl::InternalError(absl::StrCat("GET ", path, ": ",
                                              res ? res->body : httplib::to_string(res.error())));
    }
    micros.push_back(absl::ToInt64Microseconds(absl::Now() - start));
  }
  std::sort(micros.begin(), micros.end());
  return micros;
}

absl::Status MeasureDashboards(const Cluster& cluster, int n, int dashboards) {
  const v1::SubmitJobRequest request = JobRequest("FanOut", {{"n", n}});
  ASSIGN_OR_RETURN(JobFigures alone, RunJob(cluster, request, IntDigest(n)));
  // The same job watched: the streams connect as soon as the job exists.
  Client& client = cluster.client();
  ASSIGN_OR_RETURN(ProcessUsage before, cluster.scheduler().Usage());
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(std::string job_id, client.Submit(request));
  Dashboards watchers(cluster.http_port(), job_id, dashboards);
  ASSIGN_OR_RETURN(v1::Job job, client.AwaitEnd(job_id, absl::GetFlag(FLAGS_job_timeout)));
  const absl::Duration watched = absl::Now() - start;
  ASSIGN_OR_RETURN(ProcessUsage after, cluster.scheduler().Usage());
  if (job.state() != v1::JOB_SUCCEEDED || job.output_digest() != IntDigest(n)) {
    return absl::InternalError(absl::StrCat("watched FanOut job ", job_id, " ended ",
                                            v1::JobState_Name(job.state()), ": ", job.error()));
  }
  const auto [events, connections] = watchers.Join();
  const double alone_rate = n / absl::ToDoubleSeconds(alone.wall);
  const double watched_rate = n / absl::ToDoubleSeconds(watched);
  std::fprintf(Report(), "dashboards: FanOut(%d) alone, then watched by %d SSE streams\n", n,
               dashboards);
  PrintJob("alone", alone);
  std::fprintf(Report(), "  alone:   %.3f s, %.0f steps/s\n", absl::ToDoubleSeconds(alone.wall),
               alone_rate);
  std::fprintf(Report(), "  watched: %.3f s, %.0f steps/s = %.0f%% of alone; events per stream:",
               absl::ToDoubleSeconds(watched), watched_rate, 100 * watched_rate / alone_rate);
  for (size_t i = 0; i < events.size(); ++i) {
    std::fprintf(Report(), " %lld", static_cast<long long>(events[i]));
    if (connections[i] > 1) std::fprintf(Report(), " (%d connections)", connections[i]);
  }
  std::fprintf(Report(), "\n  watched: scheduler CPU per run %.1f µs (its loop, commits and HTTP "
                         "threads)\n",
               absl::ToDoubleMicroseconds(after.cpu - before.cpu) / (n + 1));
  struct Read {
    const char* what;
    std::string path;
    int requests;
  };
  for (const Read& read : {Read{"GET job", "/api/v1/jobs/" + job_id, 1000},
                           Read{"GET run_groups", "/api/v1/jobs/" + job_id + "/run_groups", 20},
                           Read{"GET 1000 runs", "/api/v1/jobs/" + job_id + "/runs?page_size=1000",
                                20}}) {
    ASSIGN_OR_RETURN(std::vector<int64_t> micros,
                     TimeGets(cluster.http_port(), read.path, read.requests));
    std::fprintf(Report(), "  %s over HTTP (JSON): p50 %lld µs, p99 %lld µs (%zu requests)\n",
                 read.what, static_cast<long long>(Percentile(micros, 0.5)),
                 static_cast<long long>(Percentile(micros, 0.99)), micros.size());
  }
  return absl::OkStatus();
}

struct Sizes {
  int fanout = 0;
  int chain = 0;
  int sweep_points = 0;
  int busy_micros = 0;
  int subgraph_children = 0;
  int64_t artifact_bytes = 0;
  int sync_fanout = 0;
  int big_fanout = 0;
  int dashboard_fanout = 0;
};

Sizes SizesFromFlags() {
  Sizes s;
  s.busy_micros = absl::GetFlag(FLAGS_busy_micros);
  if (absl::GetFlag(FLAGS_smoke)) {
    s.fanout = 200;
    s.chain = 50;
    s.sweep_points = 20;
    s.subgraph_children = 100;
    s.artifact_bytes = 4 << 20;
    s.sync_fanout = 200;
    s.big_fanout = 1000;
    s.dashboard_fanout = 200;
    return s;
  }
  s.fanout = absl::GetFlag(FLAGS_fanout);
  s.chain = absl::GetFlag(FLAGS_chain);
  s.sweep_points = absl::GetFlag(FLAGS_sweep_points);
  s.subgraph_children = absl::GetFlag(FLAGS_subgraph_children);
  s.artifact_bytes = absl::GetFlag(FLAGS_artifact_bytes);
  s.sync_fanout = absl::GetFlag(FLAGS_sync_fanout);
  s.big_fanout = absl::GetFlag(FLAGS_big_fanout);
  s.dashboard_fanout = absl::GetFlag(FLAGS_dashboard_fanout);
  return s;
}

constexpr const char* kWorkloads[] = {"fanout",   "chain", "sweep",    "subgraph",
                                      "artifact", "sync",  "fanout1m", "dashboards"};

// A scheduler able to take FanOut(n) as one graph: n + 2 nodes (the no-ops, the gather, Count)
// in one result message of ~80 bytes per node. Only raises the daemon's defaults (1M nodes,
// 64 MiB).
SchedulerSettings FitFanOut(int n) {
  SchedulerSettings settings;
  settings.max_graph_nodes = std::max<int64_t>(1'000'000, int64_t{n} + 16);
  settings.max_message_bytes = std::max<int64_t>(int64_t{64} << 20, int64_t{n} * 160);
  return settings;
}

// Starts a cluster under `dir`, says what it is, and runs the warm-up job.
absl::StatusOr<std::unique_ptr<Cluster>> StartCluster(const fs::path& dir,
                                                      const SchedulerSettings& settings) {
  ASSIGN_OR_RETURN(std::unique_ptr<Cluster> cluster, Cluster::Start(dir, settings));
  std::fprintf(Report(),
               "cluster: sematic-scheduler%s%s (WAL on, %s) + %d sematic-worker (%d cpu, "
               "--max-runs=%d) on %s; data in %s\n",
               cluster->scheduler_flags().empty() ? "" : " ", cluster->scheduler_flags().c_str(),
               settings.sync ? "fsync per commit" : "no fsync", absl::GetFlag(FLAGS_workers),
               absl::GetFlag(FLAGS_worker_cpus), absl::GetFlag(FLAGS_max_runs),
               cluster->address().c_str(), dir.c_str());
  RETURN_IF_ERROR(
      RunJob(*cluster, JobRequest("FanOut", {{"n", 100}}), IntDigest(100)).status());
  return cluster;
}

absl::Status Run(const fs::path& root) {
  const Sizes sizes = SizesFromFlags();
  const std::vector<std::string> workloads =
      absl::StrSplit(absl::GetFlag(FLAGS_workloads), ',', absl::SkipEmpty());
  for (const std::string& w : workloads) {
    if (std::find(std::begin(kWorkloads), std::end(kWorkloads), w) == std::end(kWorkloads)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown workload '", w, "' (",
                                                     absl::StrJoin(kWorkloads, ", "), ")"));
    }
  }
  // fanout, chain, sweep, subgraph and artifact share one cluster; it is stopped while sync and
  // fanout1m run on their own, so that nothing idles beside them.
  std::unique_ptr<Cluster> shared;
  int clusters = 0;
  for (const std::string& w : workloads) {
    const fs::path dir = root / absl::StrCat(++clusters, "-", w);
    if (w == "dashboards") {
      shared.reset();
      ASSIGN_OR_RETURN(std::unique_ptr<Cluster> own, StartCluster(dir, SchedulerSettings()));
      RETURN_IF_ERROR(
          MeasureDashboards(*own, sizes.dashboard_fanout, absl::GetFlag(FLAGS_dashboards)));
      continue;
    }
    if (w == "sync" || w == "fanout1m") {
      shared.reset();
      SchedulerSettings settings = w == "sync" ? SchedulerSettings() : FitFanOut(sizes.big_fanout);
      settings.sync = w == "sync";
      ASSIGN_OR_RETURN(std::unique_ptr<Cluster> own, StartCluster(dir, settings));
      RETURN_IF_ERROR(MeasureFanOut(*own, w.c_str(),
                                    w == "sync" ? sizes.sync_fanout : sizes.big_fanout));
      continue;
    }
    if (shared == nullptr) {
      SchedulerSettings settings;
      settings.sync = absl::GetFlag(FLAGS_sync);
      ASSIGN_OR_RETURN(shared, StartCluster(dir, settings));
    }
    if (w == "fanout") {
      RETURN_IF_ERROR(MeasureFanOut(*shared, "fanout", sizes.fanout));
    } else if (w == "chain") {
      RETURN_IF_ERROR(MeasureChain(*shared, sizes.chain));
    } else if (w == "sweep") {
      RETURN_IF_ERROR(MeasureSweep(*shared, sizes.sweep_points, sizes.busy_micros));
    } else if (w == "subgraph") {
      RETURN_IF_ERROR(MeasureSubGraph(*shared, sizes.subgraph_children));
    } else {
      RETURN_IF_ERROR(MeasureArtifact(*shared, sizes.artifact_bytes));
    }
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace sematic::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress as it happens, also into a file
  const char* tmp = std::getenv("TMPDIR");
  std::string root = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                     "/sematic-e2e-XXXXXX";
  if (mkdtemp(root.data()) == nullptr) {
    std::perror("e2e_bench: mkdtemp");
    return 1;
  }
  const absl::Status status = sematic::bench::Run(root);
  if (!status.ok()) {
    std::fprintf(stderr, "e2e_bench: %s (logs in %s)\n", status.ToString().c_str(), root.c_str());
    return 1;
  }
  if (!absl::GetFlag(FLAGS_keep_data)) std::filesystem::remove_all(root);
  return 0;
}
