// Chaos: the real sematic-scheduler and sematic-worker daemons on 127.0.0.1, attacked while a
// fan-out runs — workers killed with SIGKILL again and again, the scheduler killed with SIGKILL
// several times and restarted on the same data dir and port, both together, a cancel amid
// kills, a worker stopped (SIGSTOP) for longer than the heartbeat timeout and then resumed.
// After each, the job must end with the right value, every run's result must be recorded
// exactly once (the job's stored events), and every run that had succeeded before a kill must
// be unchanged after it. docs/reliability.md states the promises and the figures measured.
//
// The schedule of each test (sizes, which process, when) comes from a seed: std::random_device,
// or SEMATIC_CHAOS_SEED to replay one. Every failure message carries the seed.
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "gtest/gtest.h"
#include "sematic/codec.h"
#include "tests/cluster_harness.h"
#include "tests/testing/processes.h"

namespace chaos_test {

using namespace ::sematic_test;
using ::sematic::testing::AwaitJobEnd;
using ::sematic::testing::JobEvents;
using ::sematic::testing::SchedulerProcess;

// The seed of this test: SEMATIC_CHAOS_SEED when set, else a fresh one.
uint64_t ChaosSeed() {
  uint64_t seed = 0;
  if (const char* env = std::getenv("SEMATIC_CHAOS_SEED");
      env != nullptr && absl::SimpleAtoi(env, &seed)) {
    return seed;
  }
  std::random_device device;
  return (uint64_t{device()} << 32) | device();
}

// What must not change about a succeeded run once it is recorded.
struct Recorded {
  std::string output_digest;
  int64_t ended_unix_micros = 0;
  int attempt = 0;
};

// The succeeded runs among `runs`.
std::map<std::string, Recorded> Succeeded(const std::map<std::string, v1::Run>& runs) {
  std::map<std::string, Recorded> out;
  for (const auto& [id, run] : runs) {
    if (run.state() == v1::SUCCEEDED) {
      out[id] = {run.output_digest(), run.ended_unix_micros(), run.attempt()};
    }
  }
  return out;
}

// Adds the runs of `more` that `into` does not hold yet (ExpectUnchanged compares the rest).
void Merge(const std::map<std::string, Recorded>& more, std::map<std::string, Recorded>* into) {
  for (const auto& [id, r] : more) into->emplace(id, r);
}

// Every run of `before` is still SUCCEEDED in `after` with the same output, end and attempt.
void ExpectUnchanged(const std::map<std::string, Recorded>& before,
                     const std::map<std::string, v1::Run>& after, const std::string& when) {
  for (const auto& [id, r] : before) {
    auto it = after.find(id);
    if (it == after.end()) {
      ADD_FAILURE() << when << ": succeeded run " << id << " is gone";
      continue;
    }
    const v1::Run& run = it->second;
    EXPECT_EQ(run.state(), v1::SUCCEEDED) << when << ": " << id;
    EXPECT_EQ(run.output_digest(), r.output_digest) << when << ": " << id << "'s output changed";
    EXPECT_EQ(run.ended_unix_micros(), r.ended_unix_micros)
        << when << ": " << id << " ended again (it ran again)";
    EXPECT_EQ(run.attempt(), r.attempt) << when << ": " << id << "'s attempt changed";
  }
}

bool IsFinal(v1::RunState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED || state == v1::CANCELED ||
         state == v1::TIMED_OUT;
}

// The job's stored events: sequences 1, 2, ... without gaps; each run of `runs` (every one
// final) reaches its final state in exactly one event, which agrees with what ListRuns says;
// the job's last event is its end, `job`, and no job event follows or repeats it.
void ExpectEachResultRecordedOnce(const std::string& address, const v1::Job& job,
                                  const std::map<std::string, v1::Run>& runs) {
  absl::StatusOr<std::vector<v1::JobEvent>> events = JobEvents(address, job.id());
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_FALSE(events->empty());
  std::map<std::string, int> finals;  // run id -> final events seen
  int job_ends = 0;
  uint64_t expected_sequence = 1;
  for (const v1::JobEvent& e : *events) {
    if (e.sequence() == 0) continue;  // progress, not stored: the watch began after the end
    EXPECT_EQ(e.sequence(), expected_sequence) << "a gap or a repeat in the stored events";
    expected_sequence = e.sequence() + 1;
    if (e.has_run()) {
      const v1::Run& run = e.run();
      EXPECT_TRUE(IsFinal(run.state())) << "stored event " << e.sequence() << " of " << run.id()
                                        << " is " << v1::RunState_Name(run.state());
      if (++finals[run.id()] > 1) {
        ADD_FAILURE() << run.id() << " (" << run.function() << ") recorded " << finals[run.id()]
                      << " times, now " << v1::RunState_Name(run.state()) << " attempt "
                      << run.attempt() << " at sequence " << e.sequence();
      }
      auto listed = runs.find(run.id());
      if (listed == runs.end()) {
        ADD_FAILURE() << "event " << e.sequence() << " records " << run.id()
                      << ", which ListRuns does not know";
        continue;
      }
      EXPECT_EQ(run.state(), listed->second.state()) << run.id();
      EXPECT_EQ(run.output_digest(), listed->second.output_digest()) << run.id();
      EXPECT_EQ(run.attempt(), listed->second.attempt()) << run.id();
    } else if (e.has_job()) {
      EXPECT_EQ(job_ends, 0) << "job event " << e.sequence() << " ("
                             << v1::JobState_Name(e.job().state()) << ") after the job's end";
      const v1::JobState state = e.job().state();
      if (state != v1::JOB_PENDING && state != v1::JOB_RUNNING) ++job_ends;
    }
  }
  EXPECT_EQ(job_ends, 1);
  ASSERT_TRUE(events->back().has_job()) << "the last stored event is not the job's end";
  EXPECT_EQ(events->back().job().state(), job.state());
  EXPECT_EQ(events->back().job().output_digest(), job.output_digest());
  for (const auto& [id, run] : runs) {
    EXPECT_TRUE(IsFinal(run.state()))
        << id << " is " << v1::RunState_Name(run.state()) << " after the job's end";
    EXPECT_EQ(finals[id], 1) << id << " (" << run.function() << ", "
                             << v1::RunState_Name(run.state()) << ") recorded " << finals[id]
                             << " times";
  }
}

v1::SubmitJobRequest SlowDoubleAll(int n, int millis) {
  v1::SubmitJobRequest submit;
  submit.set_function("SlowDoubleAll");
  v1::NamedArg* arg = submit.add_args();
  arg->set_name("n");
  *arg->mutable_value() = sematic::Encode(n);
  arg = submit.add_args();
  arg->set_name("millis");
  *arg->mutable_value() = sematic::Encode(millis);
  return submit;
}

// `job`, SlowDoubleAll(n, _), succeeded with the right value, and so did each of its `runs`:
// the root, n SlowDoubles, Total and the gather between them (in parts beyond 1024 inputs),
// each with its earlier attempts in order and the job's counts by state agreeing. Returns how
// many runs ran more than once.
int ExpectFanOutSucceeded(const v1::Job& job, const std::map<std::string, v1::Run>& runs, int n) {
  EXPECT_EQ(job.state(), v1::JOB_SUCCEEDED) << job.error();
  EXPECT_EQ(job.output_digest(),
            sematic::ArtifactId(sematic::TypeOf<int>(), sematic::Encode(n * (n - 1))));
  std::map<std::string, int> by_function;
  int rerun = 0;
  for (const auto& [id, run] : runs) {
    ++by_function[run.function()];
    EXPECT_EQ(run.state(), v1::SUCCEEDED) << id << " " << run.function() << ": " << run.error();
    if (run.attempt() > 1) ++rerun;
    int previous = 0;
    for (const v1::AttemptRecord& a : run.attempts()) {
      EXPECT_GT(a.attempt(), previous) << id << ": earlier attempts out of order";
      previous = a.attempt();
    }
    EXPECT_LT(previous, run.attempt()) << id << ": an earlier attempt is not earlier";
  }
  EXPECT_EQ(by_function["SlowDoubleAll"], 1);
  EXPECT_EQ(by_function["SlowDouble"], n);
  EXPECT_EQ(by_function["Total"], 1);
  for (int state = 0; state < job.runs_by_state_size(); ++state) {
    EXPECT_EQ(job.runs_by_state(state),
              state == v1::SUCCEEDED ? static_cast<int64_t>(runs.size()) : 0)
        << "the job counts " << job.runs_by_state(state) << " runs "
        << v1::RunState_Name(static_cast<v1::RunState>(state));
  }
  return rerun;
}

// A fresh directory, a seeded schedule, and workers (restartable under new ids), all killed,
// reaped and removed at the end.
class ChaosTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = ChaosSeed();
    rng_.seed(seed_);
    trace_ = std::make_unique<::testing::ScopedTrace>(
        __FILE__, __LINE__, absl::StrCat("replay with SEMATIC_CHAOS_SEED=", seed_));
    std::cout << "chaos seed " << seed_ << " (SEMATIC_CHAOS_SEED replays it)" << std::endl;
    root_ = fs::path(::testing::TempDir()) / ("chaos-" + sematic::RandomHex64());
    fs::create_directories(root_);
  }

  void TearDown() override {
    workers_.clear();  // SIGKILL and reap (a stopped process dies too)
    scheduler_.reset();
    fs::remove_all(root_);
    if (HasFailure()) std::cout << "chaos: failed with seed " << seed_ << std::endl;
    trace_.reset();
  }

  // Starts the scheduler on `port` (0: any) over root_/data, without the HTTP gateway (a fixed
  // port would otherwise also take the default HTTP port, which another test may hold).
  void StartScheduler(int port, absl::Duration heartbeat_timeout) {
    scheduler_ = std::make_unique<SchedulerProcess>(
        std::vector<std::string>{SEMATIC_SCHEDULER_BINARY}, (root_ / "data").string(), port,
        std::vector<std::string>{"--recovery-grace=2s",
                                 absl::StrCat("--heartbeat-timeout=",
                                              absl::ToInt64Milliseconds(heartbeat_timeout), "ms"),
                                 "--http-port=-1"});
  }

  // (Re)starts the worker in `slot` under a new id, "SLOT-GENERATION", or with `same_id`
  // under the id it had (as a supervisor restarting a worker named after its host would).
  void StartWorker(const std::string& slot, bool same_id = false) {
    const std::string id =
        same_id ? worker_ids_[slot] : absl::StrCat(slot, "-", ++generations_[slot]);
    workers_[slot] = std::make_unique<Child>(std::vector<std::string>{
        SEMATIC_WORKER_BINARY, "--load=" SEMATIC_TEST_STEPS_LIBRARY,
        "--scheduler=" + scheduler_->address(), "--cpus=2", "--memory=1GiB", "--gpus=0",
        "--max-runs=2", "--worker-id=" + id,
        "--cache-dir=" + (root_ / absl::StrCat("cache-", slot, "-", ++processes_)).string(),
        "--max-reconnect-backoff=200ms", "--drain-timeout=20s", "--cancel-grace=2s"});
    worker_ids_[slot] = id;
  }

  // Whether the scheduler lists worker `id`; nullopt when it does not answer.
  std::optional<bool> Lists(const std::string& id) {
    auto admin = v1::AdminService::NewStub(
        grpc::CreateChannel(scheduler_->address(), grpc::InsecureChannelCredentials()));
    v1::ListWorkersResponse response;
    if (!admin->ListWorkers(Deadline().get(), v1::ListWorkersRequest(), &response).ok()) {
      return std::nullopt;
    }
    return std::any_of(response.workers().begin(), response.workers().end(),
                       [&](const v1::WorkerInfo& w) { return w.worker_id() == id; });
  }

  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  const std::string& address() const { return scheduler_->address(); }

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  std::unique_ptr<::testing::ScopedTrace> trace_;
  fs::path root_;
  std::unique_ptr<SchedulerProcess> scheduler_;
  std::map<std::string, std::unique_ptr<Child>> workers_;  // slot -> its current process
  std::map<std::string, std::string> worker_ids_;          // slot -> its current id
  std::map<std::string, int> generations_;                 // slot -> ids used
  int processes_ = 0;                                      // workers started
};

// The steps of SlowDouble running on `worker_id` now (with `assigned`, also those assigned to
// it that it may not have started yet).
std::vector<v1::Run> RunningOn(const std::map<std::string, v1::Run>& runs,
                               const std::string& worker_id, bool assigned = false) {
  std::vector<v1::Run> out;
  for (const auto& [id, run] : runs) {
    if (run.function() == "SlowDouble" && run.worker_id() == worker_id &&
        (run.state() == v1::RUNNING || (assigned && run.state() == v1::ASSIGNED))) {
      out.push_back(run);
    }
  }
  return out;
}

int CountSucceeded(const std::map<std::string, v1::Run>& runs, const std::string& function) {
  return static_cast<int>(std::count_if(runs.begin(), runs.end(), [&](const auto& entry) {
    return entry.second.function() == function && entry.second.state() == v1::SUCCEEDED;
  }));
}

// How many of the job's runs have succeeded (GetJob's counts: cheap to poll); -1 on error.
int SucceededRuns(const std::string& address, const std::string& job_id) {
  auto jobs =
      v1::JobService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  v1::GetJobRequest get;
  get.set_job_id(job_id);
  v1::Job job;
  if (!jobs->GetJob(Deadline().get(), get, &job).ok()) return -1;
  return job.runs_by_state_size() > v1::SUCCEEDED
             ? static_cast<int>(job.runs_by_state(v1::SUCCEEDED))
             : 0;
}

// `count` kill points of a job of `n` steps: numbers of succeeded runs, sorted, spread over
// the first 90% of the job.
std::vector<int> KillPoints(std::mt19937_64& rng, int count, int n) {
  std::vector<int> points;
  for (int i = 0; i < count; ++i) {
    points.push_back(std::uniform_int_distribution<int>(0, n * 9 / 10)(rng));
  }
  std::sort(points.begin(), points.end());
  return points;
}

// Three workers, killed with SIGKILL again and again during one fan-out, each time while a
// victim holds a step: mostly one worker, sometimes two at once, sometimes all three (no worker
// left for a moment). Victims are replaced at once under new ids. No one pays for the kills
// (the job succeeds, no run fails), every step is recorded once, and what succeeded stays.
TEST_F(ChaosTest, WorkersKilledRepeatedlyDuringAFanOut) {
  StartScheduler(0, absl::Seconds(120));  // a killed worker's stream breaks: no timeout needed
  ASSERT_FALSE(address().empty()) << "the scheduler did not start";
  const std::vector<std::string> slots = {"a", "b", "c"};
  for (const std::string& slot : slots) StartWorker(slot);
  // Mostly steps of 60-120 ms; sometimes of a few ms, which the scheduler sends ahead to busy
  // workers (a kill then loses runs that had not started too).
  const bool short_steps = Uniform(0, 3) == 0;
  const int millis = short_steps ? Uniform(2, 8) : Uniform(60, 120);
  const int n = short_steps ? Uniform(1000, 1500) : Uniform(150, 200);
  const std::vector<int> points = KillPoints(rng_, Uniform(16, 24), n);
  std::cout << "chaos: SlowDoubleAll(" << n << ", " << millis << "), " << points.size()
            << " kill rounds" << std::endl;
  const absl::Time start = absl::Now();
  const std::string job_id = Submit(address(), SlowDoubleAll(n, millis));
  ASSERT_FALSE(job_id.empty());

  std::map<std::string, Recorded> recorded;  // every succeeded run seen before a kill
  int rounds = 0;
  int kills = 0;
  int steps_killed = 0;   // steps assigned to or running on a worker when it was killed
  int whole_cluster = 0;  // rounds that killed every worker
  for (int point : points) {
    std::vector<std::string> victims = slots;
    std::shuffle(victims.begin(), victims.end(), rng_);
    const int pattern = Uniform(0, 9);
    victims.resize(pattern < 6 ? 1 : pattern < 9 ? 2 : 3);
    // Wait for the kill point, then until a victim holds a step: it dies with work aboard.
    std::map<std::string, v1::Run> runs;
    int aboard = 0;
    bool fan_out_over = false;
    const bool found = WaitFor(
        [&] {
          if (SucceededRuns(address(), job_id) < point) return false;
          runs = Runs(address(), job_id);
          aboard = 0;
          for (const std::string& v : victims) {
            aboard += static_cast<int>(RunningOn(runs, worker_ids_[v], true).size());
          }
          fan_out_over = CountSucceeded(runs, "SlowDouble") == n;
          return aboard > 0 || fan_out_over;
        },
        absl::Seconds(30));
    ASSERT_TRUE(found) << "round " << rounds + 1 << ": no step ran on "
                       << absl::StrJoin(victims, ",") << " after " << point << " runs";
    if (fan_out_over) break;
    Merge(Succeeded(runs), &recorded);
    for (const std::string& v : victims) workers_[v]->Kill(SIGKILL);
    for (const std::string& v : victims) StartWorker(v);
    ++rounds;
    kills += static_cast<int>(victims.size());
    steps_killed += aboard;
    if (victims.size() == slots.size()) ++whole_cluster;
    ExpectUnchanged(recorded, Runs(address(), job_id), absl::StrCat("after round ", rounds));
  }

  const v1::Job job = AwaitJobEnd(address(), job_id, absl::Seconds(90));
  const absl::Duration took = absl::Now() - start;
  const std::map<std::string, v1::Run> runs = Runs(address(), job_id);
  const int rerun = ExpectFanOutSucceeded(job, runs, n);
  // Most rounds found the fan-out still running, and their kills made steps run again.
  EXPECT_GE(rounds, static_cast<int>(points.size()) / 2) << "the job ended before most kills";
  EXPECT_GE(rerun, 1);
  ExpectUnchanged(recorded, runs, "at the end");
  ExpectEachResultRecordedOnce(address(), job, runs);
  std::cout << "chaos: survived " << kills << " worker kills in " << rounds << " rounds ("
            << whole_cluster << " of the whole cluster; " << steps_killed
            << " steps killed mid-run, " << rerun << " runs re-executed) in "
            << absl::FormatDuration(took) << std::endl;
  RecordProperty("worker_kills", kills);
  RecordProperty("steps_killed", steps_killed);
}

// Two workers and a large fan-out; the scheduler is killed with SIGKILL several times at random
// points of the job (sometimes again right after a restart, during its recovery grace, before
// the workers are back) and restarted on the same data dir and port each time. The workers
// find it again by themselves and deliver what they finished meanwhile; nothing recorded before
// a kill is lost, changed or recorded again.
TEST_F(ChaosTest, SchedulerKilledRepeatedlyDuringALargeJob) {
  StartScheduler(0, absl::Seconds(120));
  ASSERT_FALSE(address().empty()) << "the scheduler did not start";
  const int port = scheduler_->port();
  for (const char* slot : {"a", "b"}) StartWorker(slot);
  // Steps of 2-30 ms: the shorter ones are sent ahead to busy workers, so a restart finds runs
  // waiting on workers as well as running there.
  const int millis = Uniform(2, 30);
  const int n = std::clamp(16000 / millis, 600, 1500);
  const std::vector<int> points = KillPoints(rng_, Uniform(4, 6), n);
  std::cout << "chaos: SlowDoubleAll(" << n << ", " << millis << "), scheduler kills after "
            << absl::StrJoin(points, " ") << " succeeded runs" << std::endl;
  const absl::Time start = absl::Now();
  const std::string job_id = Submit(address(), SlowDoubleAll(n, millis));
  ASSERT_FALSE(job_id.empty());

  std::map<std::string, Recorded> recorded;
  int kills = 0;
  int during_recovery = 0;
  absl::Duration restarts;  // from the kill until the restarted daemon listens, summed
  // Snapshots what has succeeded, kills the scheduler and restarts it on its port.
  auto kill_and_restart = [&]() {
    Merge(Succeeded(Runs(address(), job_id)), &recorded);
    const absl::Time killed_at = absl::Now();
    scheduler_->process().Kill(SIGKILL);
    ++kills;
    StartScheduler(port, absl::Seconds(120));
    restarts += absl::Now() - killed_at;
    ASSERT_EQ(scheduler_->port(), port) << "the scheduler did not restart on its port";
    ExpectUnchanged(recorded, Runs(address(), job_id), absl::StrCat("after restart ", kills));
  };
  for (int point : points) {
    int succeeded = 0;
    ASSERT_TRUE(WaitFor([&] { return (succeeded = SucceededRuns(address(), job_id)) >= point; },
                        absl::Seconds(60)))
        << "kill " << kills + 1 << ": the job did not reach " << point << " succeeded runs";
    if (succeeded >= n) break;  // too late to hurt the fan-out
    kill_and_restart();
    if (HasFatalFailure()) return;
    if (Uniform(0, 3) == 0) {  // again at once, while it waits for its workers
      kill_and_restart();
      if (HasFatalFailure()) return;
      ++during_recovery;
    }
  }

  const v1::Job job = AwaitJobEnd(address(), job_id, absl::Seconds(90));
  const absl::Duration took = absl::Now() - start;
  const std::map<std::string, v1::Run> runs = Runs(address(), job_id);
  const int rerun = ExpectFanOutSucceeded(job, runs, n);
  EXPECT_GE(kills, 2) << "the job ended before most kills";
  ExpectUnchanged(recorded, runs, "at the end");
  ExpectEachResultRecordedOnce(address(), job, runs);
  std::cout << "chaos: survived " << kills << " scheduler kills (" << during_recovery
            << " during recovery; " << recorded.size() << " recorded runs checked, " << rerun
            << " runs re-executed) in " << absl::FormatDuration(took) << "; a restart took "
            << absl::FormatDuration(
                   absl::Trunc(restarts / std::max(kills, 1), absl::Milliseconds(1)))
            << " on average" << std::endl;
  RecordProperty("scheduler_kills", kills);
}

// Both at once: rounds that kill the scheduler, one or two workers, or the scheduler and
// workers together (those workers die while no scheduler hears it: their runs are orphans the
// restarted scheduler finds unclaimed when its recovery grace ends). The promises are the same.
TEST_F(ChaosTest, SchedulerAndWorkersKilledTogether) {
  StartScheduler(0, absl::Seconds(120));
  ASSERT_FALSE(address().empty()) << "the scheduler did not start";
  const int port = scheduler_->port();
  const std::vector<std::string> slots = {"a", "b", "c"};
  for (const std::string& slot : slots) StartWorker(slot);
  const int n = Uniform(200, 300);
  const int millis = Uniform(30, 60);
  const std::vector<int> points = KillPoints(rng_, Uniform(6, 9), n);
  std::cout << "chaos: SlowDoubleAll(" << n << ", " << millis << "), " << points.size()
            << " kill rounds" << std::endl;
  const std::string job_id = Submit(address(), SlowDoubleAll(n, millis));
  ASSERT_FALSE(job_id.empty());

  std::map<std::string, Recorded> recorded;
  int scheduler_kills = 0;
  int worker_kills = 0;
  int together = 0;  // rounds that killed workers while the scheduler was down
  for (int point : points) {
    int succeeded = 0;
    ASSERT_TRUE(WaitFor([&] { return (succeeded = SucceededRuns(address(), job_id)) >= point; },
                        absl::Seconds(60)))
        << "round " << scheduler_kills + worker_kills + 1 << ": the job did not reach " << point
        << " succeeded runs";
    if (succeeded >= n) break;
    const int pattern = Uniform(0, 2);  // 0: the scheduler, 1: workers, 2: both
    std::vector<std::string> victims;
    if (pattern != 0) {
      victims = slots;
      std::shuffle(victims.begin(), victims.end(), rng_);
      victims.resize(Uniform(1, 2));
    }
    Merge(Succeeded(Runs(address(), job_id)), &recorded);
    if (pattern != 1) {
      scheduler_->process().Kill(SIGKILL);
      ++scheduler_kills;
    }
    for (const std::string& v : victims) workers_[v]->Kill(SIGKILL);
    worker_kills += static_cast<int>(victims.size());
    if (pattern == 2) ++together;
    if (pattern != 1) {
      StartScheduler(port, absl::Seconds(120));
      ASSERT_EQ(scheduler_->port(), port) << "the scheduler did not restart on its port";
    }
    for (const std::string& v : victims) StartWorker(v);
    ExpectUnchanged(recorded, Runs(address(), job_id),
                    absl::StrCat("after round ", scheduler_kills + worker_kills));
  }

  const v1::Job job = AwaitJobEnd(address(), job_id, absl::Seconds(90));
  const std::map<std::string, v1::Run> runs = Runs(address(), job_id);
  const int rerun = ExpectFanOutSucceeded(job, runs, n);
  ExpectUnchanged(recorded, runs, "at the end");
  ExpectEachResultRecordedOnce(address(), job, runs);
  std::cout << "chaos: survived " << scheduler_kills << " scheduler and " << worker_kills
            << " worker kills (" << together << " rounds of both; " << rerun << " runs re-executed)"
            << std::endl;
  RecordProperty("scheduler_kills", scheduler_kills);
  RecordProperty("worker_kills", worker_kills);
}

// Cancelled amid kills: workers and the scheduler are killed in rounds, the job is cancelled at
// a random round, and the scheduler is killed once more right after CancelJob answered. The
// acknowledged cancel must hold across the restart: the job ends CANCELED, no run succeeds
// after the answer, each run is recorded once and what succeeded before stays.
TEST_F(ChaosTest, JobCancelledAmidKillsStaysCancelled) {
  StartScheduler(0, absl::Seconds(120));
  ASSERT_FALSE(address().empty()) << "the scheduler did not start";
  const int port = scheduler_->port();
  const std::vector<std::string> slots = {"a", "b", "c"};
  for (const std::string& slot : slots) StartWorker(slot);
  const int n = Uniform(150, 250);
  const int millis = Uniform(30, 80);
  const std::vector<int> points = KillPoints(rng_, Uniform(3, 6), n / 2);
  const size_t cancel_after = static_cast<size_t>(Uniform(0, static_cast<int>(points.size())));
  std::cout << "chaos: SlowDoubleAll(" << n << ", " << millis << "), cancelled after "
            << cancel_after << " of " << points.size() << " kill rounds" << std::endl;
  const std::string job_id = Submit(address(), SlowDoubleAll(n, millis));
  ASSERT_FALSE(job_id.empty());

  std::map<std::string, Recorded> recorded;
  auto restart_scheduler = [&] {
    Merge(Succeeded(Runs(address(), job_id)), &recorded);
    scheduler_->process().Kill(SIGKILL);
    StartScheduler(port, absl::Seconds(120));
    ASSERT_EQ(scheduler_->port(), port) << "the scheduler did not restart on its port";
  };
  for (size_t round = 0; round < cancel_after; ++round) {
    ASSERT_TRUE(WaitFor([&] { return SucceededRuns(address(), job_id) >= points[round]; },
                        absl::Seconds(60)));
    if (Uniform(0, 1) == 0) {
      restart_scheduler();
      if (HasFatalFailure()) return;
    } else {
      const std::string& victim = slots[Uniform(0, 2)];
      Merge(Succeeded(Runs(address(), job_id)), &recorded);
      workers_[victim]->Kill(SIGKILL);
      StartWorker(victim);
    }
  }
  // Cancel (retried while the scheduler is recovering), then kill it at once.
  auto jobs =
      v1::JobService::NewStub(grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
  v1::CancelJobRequest cancel;
  cancel.set_job_id(job_id);
  v1::CancelJobResponse cancelled;
  grpc::Status status;
  ASSERT_TRUE(WaitFor(
      [&] {
        status = jobs->CancelJob(Deadline().get(), cancel, &cancelled);
        return status.error_code() != grpc::StatusCode::UNAVAILABLE;
      },
      absl::Seconds(20)));
  ASSERT_TRUE(status.ok()) << status.error_message();
  const int64_t answered = absl::ToUnixMicros(absl::Now());
  ASSERT_EQ(cancelled.job().state(), v1::JOB_CANCELED);
  restart_scheduler();
  if (HasFatalFailure()) return;

  const v1::Job job = AwaitJobEnd(address(), job_id, absl::Seconds(30));
  EXPECT_EQ(job.state(), v1::JOB_CANCELED) << "an acknowledged cancel did not survive a kill";
  const std::map<std::string, v1::Run> runs = Runs(address(), job_id);
  int succeeded = 0;
  for (const auto& [id, run] : runs) {
    EXPECT_TRUE(IsFinal(run.state())) << id << " " << v1::RunState_Name(run.state());
    if (run.state() != v1::SUCCEEDED) continue;
    ++succeeded;
    EXPECT_LT(run.ended_unix_micros(), answered) << id << " succeeded after the cancel";
  }
  ExpectUnchanged(recorded, runs, "after the cancel");
  ExpectEachResultRecordedOnce(address(), job, runs);
  std::cout << "chaos: cancelled after " << cancel_after << " kill rounds and killed again; "
            << succeeded << " of " << runs.size() << " runs had succeeded" << std::endl;
}

// A worker's host dies without closing its connection (SIGSTOP, then SIGKILL: the stream stays
// open as long as the process is stopped) and a supervisor starts it again under the same id
// before the scheduler noticed: the new process holds none of the old one's runs, which must
// run again elsewhere (or there) rather than wait for a worker that is gone. (Found by this
// suite: the replaced session's unclaimed runs stayed RUNNING on no session and the job never
// ended; OnHello now counts them as lost with the old process.)
TEST_F(ChaosTest, AWorkerRestartedUnderItsIdBeforeItsLossIsNoticed) {
  StartScheduler(0, absl::Seconds(120));  // the loss is never noticed by a heartbeat here
  ASSERT_FALSE(address().empty()) << "the scheduler did not start";
  for (const char* slot : {"a", "b"}) StartWorker(slot);
  const int n = Uniform(30, 50);
  const int millis = Uniform(100, 200);
  const std::string slot = Uniform(0, 1) == 0 ? "a" : "b";
  std::cout << "chaos: SlowDoubleAll(" << n << ", " << millis << "), worker " << slot
            << " replaced under its id" << std::endl;
  const std::string job_id = Submit(address(), SlowDoubleAll(n, millis));
  ASSERT_FALSE(job_id.empty());
  std::map<std::string, v1::Run> runs;
  std::vector<v1::Run> aboard;
  ASSERT_TRUE(WaitFor(
      [&] {
        runs = Runs(address(), job_id);
        aboard = RunningOn(runs, worker_ids_[slot]);
        return !aboard.empty();
      },
      absl::Seconds(60)));
  const std::map<std::string, Recorded> recorded = Succeeded(runs);
  std::unique_ptr<Child> old = std::move(workers_[slot]);
  ASSERT_EQ(kill(old->pid(), SIGSTOP), 0);
  StartWorker(slot, /*same_id=*/true);
  const v1::Job job = AwaitJobEnd(address(), job_id, absl::Seconds(30));
  old.reset();  // SIGKILL: its connection closes only now
  runs = Runs(address(), job_id);
  if (job.state() == v1::JOB_RUNNING) {
    for (const v1::Run& r : aboard) {
      const v1::Run& now = runs[r.id()];
      ADD_FAILURE() << r.id() << " " << v1::RunState_Name(now.state()) << " attempt "
                    << now.attempt() << " on " << now.worker_id();
    }
  }
  ExpectFanOutSucceeded(job, runs, n);
  ExpectUnchanged(recorded, runs, "after the replacement");
  if (job.state() != v1::JOB_RUNNING) ExpectEachResultRecordedOnce(address(), job, runs);
}

// A worker is stopped (SIGSTOP) while steps run on it, for longer than the heartbeat timeout:
// the scheduler declares it lost and re-runs its steps on the other worker. Then it resumes
// (SIGCONT) and finishes its stale attempts: they must be refused, and it must serve again.
TEST_F(ChaosTest, WorkerStoppedPastTheHeartbeatTimeout) {
  constexpr absl::Duration kHeartbeatTimeout = absl::Seconds(2);
  StartScheduler(0, kHeartbeatTimeout);
  ASSERT_FALSE(address().empty()) << "the scheduler did not start";
  for (const char* slot : {"a", "b"}) StartWorker(slot);
  const int n = Uniform(60, 80);
  const int millis = Uniform(150, 250);
  const std::string slot = Uniform(0, 1) == 0 ? "a" : "b";
  const int stop_after = Uniform(2, n / 3);  // succeeded steps before the stop
  std::cout << "chaos: SlowDoubleAll(" << n << ", " << millis << "), worker " << slot
            << " stopped after " << stop_after << " steps" << std::endl;
  const std::string job_id = Submit(address(), SlowDoubleAll(n, millis));
  ASSERT_FALSE(job_id.empty());

  // Stop it once a step started there less than a third of a step ago: that one is sure to be
  // mid-run when the stop lands (the others aboard may just have finished).
  std::map<std::string, v1::Run> runs;
  std::vector<v1::Run> aboard;
  std::set<std::string> fresh;
  ASSERT_TRUE(WaitFor(
      [&] {
        runs = Runs(address(), job_id);
        aboard = RunningOn(runs, worker_ids_[slot]);
        fresh.clear();
        const int64_t recent = absl::ToUnixMicros(absl::Now()) - millis * 1000 / 3;
        for (const v1::Run& r : aboard) {
          if (r.started_unix_micros() > recent) fresh.insert(r.id());
        }
        return !fresh.empty() && CountSucceeded(runs, "SlowDouble") >= stop_after;
      },
      absl::Seconds(60)))
      << "no step started on worker " << slot << " after " << stop_after << " steps";
  const std::map<std::string, Recorded> recorded = Succeeded(runs);
  Child& stopped = *workers_[slot];
  ASSERT_EQ(kill(stopped.pid(), SIGSTOP), 0);
  const absl::Time stopped_at = absl::Now();
  // Stopped for longer than the heartbeat timeout: until the scheduler no longer lists it.
  const bool dropped = WaitFor([&] { return Lists(worker_ids_[slot]) == false; },
                               kHeartbeatTimeout + absl::Seconds(20));
  const absl::Duration detected_after = absl::Now() - stopped_at;
  EXPECT_TRUE(dropped) << "a worker stopped for " << absl::FormatDuration(detected_after)
                       << " is still listed";
  EXPECT_GE(detected_after, kHeartbeatTimeout * 0.5) << "dropped before its heartbeat was due";
  // Its steps go to the other worker while it sleeps (those that finished just before the stop
  // stay as they were).
  EXPECT_TRUE(WaitFor(
      [&] {
        std::map<std::string, v1::Run> now = Runs(address(), job_id);
        for (const v1::Run& r : aboard) {
          const v1::Run& current = now[r.id()];
          if (current.attempt() == r.attempt() && current.state() != v1::SUCCEEDED) return false;
        }
        return true;
      },
      absl::Seconds(20)))
      << "the stopped worker's steps were not re-queued";
  ASSERT_EQ(kill(stopped.pid(), SIGCONT), 0);
  const absl::Time resumed_at = absl::Now();
  const absl::Duration stopped_for = resumed_at - stopped_at;

  const v1::Job job = AwaitJobEnd(address(), job_id, absl::Seconds(60));
  runs = Runs(address(), job_id);
  ExpectFanOutSucceeded(job, runs, n);
  // The resumed worker's stale attempts were refused: each step it held mid-run ended in a
  // later attempt, and none ended in its own after the resume.
  int rerun = 0;
  for (const v1::Run& r : aboard) {
    const v1::Run& now = runs[r.id()];
    if (now.attempt() > r.attempt()) {
      ++rerun;
      continue;
    }
    EXPECT_FALSE(fresh.contains(r.id())) << r.id() << ", stopped mid-run, kept attempt "
                                         << r.attempt() << ": a stale attempt was recorded";
    EXPECT_LT(now.ended_unix_micros(), absl::ToUnixMicros(resumed_at))
        << r.id() << " ended in its stopped attempt after the resume";
  }
  ExpectUnchanged(recorded, runs, "after the stop");
  ExpectEachResultRecordedOnce(address(), job, runs);
  // And it serves again: it reconnects under its own id.
  EXPECT_TRUE(WaitFor([&] { return Lists(worker_ids_[slot]) == true; }, absl::Seconds(20)))
      << "the resumed worker did not come back";
  EXPECT_TRUE(stopped.Running());
  std::cout << "chaos: a worker stopped for " << absl::FormatDuration(stopped_for)
            << " (heartbeat timeout " << absl::FormatDuration(kHeartbeatTimeout)
            << ") was dropped after " << absl::FormatDuration(detected_after) << "; " << rerun
            << " of its " << aboard.size() << " steps re-run elsewhere" << std::endl;
}

}  // namespace chaos_test
