// Cross-process test helpers: child processes with deadlines, the scheduler daemon on loopback,
// and the few JobService/RunService calls every cluster test makes. Every process started here
// is killed and reaped by its owner's destructor.
//
//   sematic::testing::SchedulerProcess scheduler(SEMATIC_SCHEDULER_BINARY, dir);  // port 0
//   ASSERT_FALSE(scheduler.address().empty());
//   ChildProcess worker({SEMATIC_WORKER_BINARY, "--scheduler=" + scheduler.address(), ...});
//   ASSERT_OK_AND_ASSIGN(v1::Job job, SubmitWhenOffered(scheduler.address(), request));
//   v1::Job done = AwaitJobEnd(scheduler.address(), job.id());
#ifndef SEMATIC_TESTS_TESTING_PROCESSES_H_
#define SEMATIC_TESTS_TESTING_PROCESSES_H_

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sematic/v1/job.pb.h"
#include "sematic/v1/run.pb.h"

namespace sematic::testing {

// A child process running `argv` (argv[0] is the binary's path). Killed (SIGKILL) and reaped on
// destruction unless it already exited.
class ChildProcess {
 public:
  // With `first_line`, the child's stdout is a pipe and the constructor waits (at most
  // `timeout`) for its first line, stored without the newline; stdout is then closed.
  explicit ChildProcess(std::vector<std::string> argv, std::string* first_line = nullptr,
                        absl::Duration timeout = absl::Seconds(30));
  // The same for the first `count` lines: stored in `lines` without the newlines (fewer when
  // the child closes stdout or `timeout` passes first).
  ChildProcess(std::vector<std::string> argv, std::vector<std::string>* lines, int count,
               absl::Duration timeout = absl::Seconds(30));
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Sends `signal` and reaps the process (blocking).
  void Kill(int signal);
  // Sends `signal` and waits up to `timeout`: the exit code, or -1 after death by a signal or a
  // timeout (the child is then killed).
  int Stop(int signal, absl::Duration timeout);
  // Waits up to `timeout` for the child to exit by itself; returns as Stop.
  int Wait(absl::Duration timeout);
  // True while the process has not exited (it is reaped once it has).
  bool Running();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// What RunProcess saw.
struct ProcessResult {
  int exit_code = -1;  // -1: killed at the deadline or by a signal
  std::string out;
  std::string err;
};

// Runs `argv` to completion with a deadline, collecting stdout and stderr.
ProcessResult RunProcess(const std::vector<std::string>& argv, absl::Duration timeout);

// The scheduler daemon on 127.0.0.1, started as `binary [prefix_args] --data-dir=DIR --port=P
// --host=127.0.0.1 [extra_args]` (port 0: the kernel picks one; the daemon prints it). With
// `--http-port=N` (N >= 0) among the arguments it also waits for the daemon's second line,
// "http on 127.0.0.1:PORT" (its HTTP gateway: JSON API and dashboard).
class SchedulerProcess {
 public:
  SchedulerProcess(std::vector<std::string> command, const std::string& data_dir, int port = 0,
                   std::vector<std::string> extra_args = {});
  // "127.0.0.1:PORT", or empty when the daemon did not start.
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  // "http://127.0.0.1:PORT", or empty without --http-port or when the daemon did not print its
  // "http on" line.
  const std::string& http_url() const { return http_url_; }
  ChildProcess& process() { return *child_; }

 private:
  std::unique_ptr<ChildProcess> child_;
  std::string address_;
  int port_ = 0;
  std::string http_url_;
};

// SubmitJob, retried while no worker offers the function yet (NOT_FOUND: the worker's Hello may
// land after the submit), for at most 30 s.
absl::StatusOr<v1::Job> SubmitWhenOffered(const std::string& address,
                                          const v1::SubmitJobRequest& request);

// Polls GetJob until the job leaves PENDING/RUNNING or `timeout` passes; the last state seen.
v1::Job AwaitJobEnd(const std::string& address, const std::string& job_id,
                    absl::Duration timeout = absl::Seconds(60));

// Every run of the job by id (all pages); empty on error.
std::map<std::string, v1::Run> ListAllRuns(const std::string& address, const std::string& job_id);

// The job's events from the start (WatchJob from after_sequence 0) until the stream ends, which
// it does once the job has ended; an error when the watch fails or is still open after
// `timeout` (the job did not end).
absl::StatusOr<std::vector<v1::JobEvent>> JobEvents(const std::string& address,
                                                    const std::string& job_id,
                                                    absl::Duration timeout = absl::Seconds(30));

}  // namespace sematic::testing

#endif  // SEMATIC_TESTS_TESTING_PROCESSES_H_
