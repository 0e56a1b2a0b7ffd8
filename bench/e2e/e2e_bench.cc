// End to end through real processes: the sematic-scheduler daemon (RocksDB with its WAL, data in
// a temporary directory) and two sematic-worker processes serving libbench_steps.so, all on
// 127.0.0.1, driven over JobService exactly as a client would.
//
//   build/bench/e2e_bench                    # fan-out 100k, chain 10k, sweep 2000 x 1 ms
//   build/bench/e2e_bench --fanout=20000 --chain=2000 --sweep_points=500
//   build/bench/e2e_bench --smoke            # tiny sizes; only checks that every job succeeds
//   build/bench/e2e_bench --workloads=chain --chain=1000 --json   # one job, one JSON line
//
// Each job is timed from SubmitJob to GetJob reporting JOB_SUCCEEDED (polled every
// --poll_interval), and its output is checked against the expected value. Per job it reports the
// CPU time (/proc/PID/stat utime + stime) of the scheduler and of the workers divided by the
// job's runs (every run the scheduler records: steps, the nested parent, gathers; listed with
// ListRuns after the clock stops), and the scheduler's peak RSS so far (/proc/PID/status VmHWM).
// The chain's per-hop latency is the gap between consecutive Increment runs' end times as the
// scheduler recorded them. One small unmeasured job first warms up connections and function
// lookups. Exit code 0 only when every job succeeded with the right output.
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
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/e2e/process.h"
#include "common/status_macros.h"
#include "grpcpp/grpcpp.h"
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
ABSL_FLAG(bool, sync, false, "run the scheduler with --sync (fsync per committed batch)");
ABSL_FLAG(absl::Duration, poll_interval, absl::Milliseconds(2), "GetJob polling interval");
ABSL_FLAG(absl::Duration, job_timeout, absl::Minutes(10), "longest wait for one job");
ABSL_FLAG(bool, keep_data, false, "keep the temporary directory (data, logs) at the end");
ABSL_FLAG(std::string, workloads, "fanout,chain,sweep", "jobs to run, in this order");
ABSL_FLAG(bool, json, false,
          "one JSON object per job on stdout (the human-readable report goes to stderr)");
ABSL_FLAG(bool, smoke, false,
          "tiny sizes (fan-out 200, chain 50, sweep 20 points): checks that the jobs succeed");

namespace sematic::bench {
namespace {

namespace v1 = ::sematic::v1;
namespace fs = std::filesystem;

// The scheduler and its workers, stopped (drained) on destruction.
class Cluster {
 public:
  static absl::StatusOr<std::unique_ptr<Cluster>> Start(const fs::path& root) {
    auto cluster = std::unique_ptr<Cluster>(new Cluster);
    std::vector<std::string> scheduler_args = {
        SEMATIC_SCHEDULER_BINARY, "--data-dir=" + (root / "data").string(), "--host=127.0.0.1",
        "--port=0"};
    if (absl::GetFlag(FLAGS_sync)) scheduler_args.push_back("--sync");
    ASSIGN_OR_RETURN(cluster->scheduler_,
                     Process::Start(scheduler_args, (root / "scheduler.log").string(),
                                    /*capture_stdout=*/true));
    ASSIGN_OR_RETURN(std::string line, cluster->scheduler_->ReadLine(absl::Seconds(30)));
    if (!absl::StartsWith(line, "listening on ")) {
      return absl::InternalError(absl::StrCat("sematic-scheduler said: ", line));
    }
    cluster->address_ = line.substr(std::string("listening on ").size());
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
    return cluster;
  }

  ~Cluster() {
    for (auto& worker : workers_) worker->Stop(SIGTERM, absl::Seconds(30));
    if (scheduler_ != nullptr) scheduler_->Stop(SIGTERM, absl::Seconds(30));
  }

  const std::string& address() const { return address_; }
  const Process& scheduler() const { return *scheduler_; }

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
  std::string address_;
};

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

  // Polls GetJob until the job ends; DEADLINE_EXCEEDED after `timeout`.
  absl::StatusOr<v1::Job> AwaitEnd(const std::string& job_id, absl::Duration timeout) {
    v1::GetJobRequest request;
    request.set_job_id(job_id);
    const absl::Duration poll = absl::GetFlag(FLAGS_poll_interval);
    for (const absl::Time end = absl::Now() + timeout; absl::Now() < end;) {
      v1::Job job;
      RETURN_IF_ERROR(FromGrpc(jobs_->GetJob(WithDeadline().get(), request, &job), "GetJob"));
      if (job.state() == v1::JOB_SUCCEEDED || job.state() == v1::JOB_FAILED ||
          job.state() == v1::JOB_CANCELED) {
        return job;
      }
      absl::SleepFor(poll);
    }
    return absl::DeadlineExceededError(absl::StrCat("job ", job_id, " still running"));
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

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::JobService::Stub> jobs_;
  std::unique_ptr<v1::RunService::Stub> runs_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
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
  std::vector<v1::Run> runs;      // every run of the job (ListRuns, after the job)
  absl::Duration scheduler_cpu;   // during the job
  absl::Duration worker_cpu;      // during the job, all workers
  int64_t scheduler_peak_rss = 0; // VmHWM after the job
};

// Submits `request`, waits for the end and checks that the job succeeded with
// `expected_digest` as its output.
absl::StatusOr<JobFigures> RunJob(const Cluster& cluster, Client& client,
                                  const v1::SubmitJobRequest& request,
                                  const std::string& expected_digest) {
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
  ASSIGN_OR_RETURN(figures.runs, client.Runs(job_id));
  figures.job = std::move(job);
  return figures;
}

std::string IntDigest(int value) { return ArtifactId(TypeOf<int>(), Encode(value)); }

double Micros(absl::Duration d) { return absl::ToDoubleMicroseconds(d); }

// Where the human-readable report goes: stdout, or stderr under --json.
FILE* Report() { return absl::GetFlag(FLAGS_json) ? stderr : stdout; }

double RunCount(const JobFigures& f) {
  return static_cast<double>(std::max<size_t>(1, f.runs.size()));
}

void PrintJob(const char* name, const JobFigures& f) {
  const double runs = RunCount(f);
  std::fprintf(Report(), "  %-8s wall %8.3f s  %7zu runs  CPU per run: scheduler %6.1f µs, "
              "workers %6.1f µs  scheduler peak RSS %4.0f MiB\n",
              name, absl::ToDoubleSeconds(f.wall), f.runs.size(), Micros(f.scheduler_cpu) / runs,
              Micros(f.worker_cpu) / runs, f.scheduler_peak_rss / 1048576.0);
}

// Under --json: one line on stdout for the job `workload` of `n` steps; `extra` holds more
// members, each starting with a comma.
void PrintJson(const char* workload, int n, const JobFigures& f, const std::string& extra = "") {
  if (!absl::GetFlag(FLAGS_json)) return;
  const double seconds = absl::ToDoubleSeconds(f.wall);
  const double runs = RunCount(f);
  std::printf("{\"system\": \"sematic\", \"workload\": \"%s\", \"n\": %d, \"seconds\": %.4f, "
              "\"tasks_per_s\": %.1f, \"runs\": %zu, \"scheduler_cpu_us_per_run\": %.1f, "
              "\"worker_cpu_us_per_run\": %.1f, \"scheduler_peak_rss_mib\": %.1f%s}\n",
              workload, n, seconds, n / seconds, f.runs.size(), Micros(f.scheduler_cpu) / runs,
              Micros(f.worker_cpu) / runs, f.scheduler_peak_rss / 1048576.0, extra.c_str());
}

// p in [0, 1] of sorted `values`.
int64_t Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()))];
}

absl::Status Run(const fs::path& root) {
  int fanout = absl::GetFlag(FLAGS_fanout);
  int chain = absl::GetFlag(FLAGS_chain);
  int points = absl::GetFlag(FLAGS_sweep_points);
  const int busy_micros = absl::GetFlag(FLAGS_busy_micros);
  if (absl::GetFlag(FLAGS_smoke)) {
    fanout = 200;
    chain = 50;
    points = 20;
  }
  const std::vector<std::string> workloads =
      absl::StrSplit(absl::GetFlag(FLAGS_workloads), ',', absl::SkipEmpty());
  for (const std::string& w : workloads) {
    if (w != "fanout" && w != "chain" && w != "sweep") {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown workload '", w, "' (fanout, chain, sweep)"));
    }
  }
  const int workers = absl::GetFlag(FLAGS_workers);
  const int worker_cpus = absl::GetFlag(FLAGS_worker_cpus);
  ASSIGN_OR_RETURN(std::unique_ptr<Cluster> cluster, Cluster::Start(root));
  Client client(cluster->address());
  RETURN_IF_ERROR(client.AwaitWorkers(workers, absl::Seconds(30)));
  FILE* out = Report();
  std::fprintf(out,
               "e2e_bench: sematic-scheduler (WAL on, %s) + %d sematic-worker (%d cpu, "
               "--max-runs=%d) on %s; data in %s\n",
               absl::GetFlag(FLAGS_sync) ? "--sync" : "no fsync", workers, worker_cpus,
               absl::GetFlag(FLAGS_max_runs), cluster->address().c_str(), root.c_str());

  RETURN_IF_ERROR(RunJob(*cluster, client, JobRequest("FanOut", {{"n", 100}}), IntDigest(100))
                      .status());  // warm-up

  for (const std::string& w : workloads) {
    if (w == "fanout") {
      ASSIGN_OR_RETURN(JobFigures fan,
                       RunJob(*cluster, client, JobRequest("FanOut", {{"n", fanout}}),
                              IntDigest(fanout)));
      std::fprintf(out, "fan-out: %d no-op steps, then Count over all of them\n", fanout);
      PrintJob("fan-out", fan);
      std::fprintf(out, "  => %.0f steps/s end to end\n",
                   fanout / absl::ToDoubleSeconds(fan.wall));
      PrintJson("fanout", fanout, fan);
    } else if (w == "chain") {
      ASSIGN_OR_RETURN(JobFigures hops,
                       RunJob(*cluster, client, JobRequest("Chain", {{"n", chain}}),
                              IntDigest(chain)));
      std::vector<int64_t> ends;
      for (const v1::Run& run : hops.runs) {
        if (run.function() == "Increment") ends.push_back(run.ended_unix_micros());
      }
      std::sort(ends.begin(), ends.end());
      std::vector<int64_t> gaps;
      for (size_t i = 1; i < ends.size(); ++i) gaps.push_back(ends[i] - ends[i - 1]);
      std::sort(gaps.begin(), gaps.end());
      std::fprintf(out, "chain: %d dependent Increment steps\n", chain);
      PrintJob("chain", hops);
      std::fprintf(out,
                   "  => per hop: %.0f µs mean (wall / hops); p50 %lld µs, p90 %lld µs, "
                   "p99 %lld µs (gaps between recorded ends)\n",
                   Micros(hops.wall) / chain, static_cast<long long>(Percentile(gaps, 0.5)),
                   static_cast<long long>(Percentile(gaps, 0.9)),
                   static_cast<long long>(Percentile(gaps, 0.99)));
      PrintJson("chain", chain, hops,
                absl::StrFormat(", \"us_per_hop\": %.1f, \"p50_us_per_hop\": %lld",
                                Micros(hops.wall) / chain,
                                static_cast<long long>(Percentile(gaps, 0.5))));
    } else {
      const int64_t point_sum = int64_t{points} * (points - 1) / 2;
      ASSIGN_OR_RETURN(JobFigures sweep,
                       RunJob(*cluster, client,
                              JobRequest("Sweep", {{"points", points}, {"micros", busy_micros}}),
                              ArtifactId(TypeOf<int64_t>(), Encode(point_sum))));
      const int cores = workers * worker_cpus;
      const absl::Duration ideal = absl::Microseconds(int64_t{points} * busy_micros) / cores;
      std::fprintf(out, "sweep: %d points x %d µs CPU, then Reduce\n", points, busy_micros);
      PrintJob("sweep", sweep);
      std::fprintf(out, "  => ideal %.3f s (%d x %d µs / %d cores): %.0f%% efficiency\n",
                   absl::ToDoubleSeconds(ideal), points, busy_micros, cores,
                   100 * absl::FDivDuration(ideal, sweep.wall));
      PrintJson("sweep", points, sweep);
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
