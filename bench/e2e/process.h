// Child processes for the end-to-end benchmark, and what /proc says about them.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Process> p, Process::Start({"/bin/prog", "-x"}, log, true));
//   ASSIGN_OR_RETURN(std::string line, p->ReadLine(absl::Seconds(30)));
//   ASSIGN_OR_RETURN(ProcessUsage usage, p->Usage());
//   int exit_code = p->Stop(SIGTERM, absl::Seconds(30));
//
// Not thread-safe.
#ifndef SEMATIC_BENCH_E2E_PROCESS_H_
#define SEMATIC_BENCH_E2E_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sematic::bench {

struct ProcessUsage {
  absl::Duration cpu;          // user + system time so far (/proc/PID/stat utime + stime)
  int64_t peak_rss_bytes = 0;  // /proc/PID/status VmHWM
};

// A child process; killed (SIGKILL) and reaped on destruction unless it already exited.
class Process {
 public:
  // Starts argv[0] with `argv`. Its stderr, and its stdout unless `capture_stdout`, go to the
  // file `log_path` (created or truncated); a captured stdout is read with ReadLine.
  static absl::StatusOr<std::unique_ptr<Process>> Start(std::vector<std::string> argv,
                                                        const std::string& log_path,
                                                        bool capture_stdout = false);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }

  // The next line the child prints on its captured stdout, without the newline.
  // DEADLINE_EXCEEDED after `timeout`, UNAVAILABLE when stdout closes first or is not captured.
  absl::StatusOr<std::string> ReadLine(absl::Duration timeout);

  absl::StatusOr<ProcessUsage> Usage() const;

  // Sends `signal` and waits up to `timeout` for the exit: the exit code, or -1 when the child
  // died by a signal or had to be killed after the timeout.
  int Stop(int signal, absl::Duration timeout);

 private:
  Process(pid_t pid, int stdout_fd) : pid_(pid), stdout_fd_(stdout_fd) {}

  pid_t pid_;
  int stdout_fd_;
  std::string buffered_;
};

}  // namespace sematic::bench

#endif  // SEMATIC_BENCH_E2E_PROCESS_H_
