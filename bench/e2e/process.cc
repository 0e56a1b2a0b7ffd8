#include "bench/e2e/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace sematic::bench {

absl::StatusOr<std::unique_ptr<Process>> Process::Start(std::vector<std::string> argv,
                                                        const std::string& log_path,
                                                        bool capture_stdout) {
  const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log < 0) return absl::InternalError(absl::StrCat(log_path, ": ", std::strerror(errno)));
  int out[2] = {-1, -1};
  if (capture_stdout && pipe2(out, O_CLOEXEC) != 0) {
    close(log);
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(capture_stdout ? out[1] : log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  close(log);
  if (capture_stdout) close(out[1]);
  if (pid < 0) {
    if (capture_stdout) close(out[0]);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  return std::unique_ptr<Process>(new Process(pid, out[0]));
}

Process::~Process() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

absl::StatusOr<std::string> Process::ReadLine(absl::Duration timeout) {
  if (stdout_fd_ < 0) return absl::UnavailableError("stdout is not captured");
  const absl::Time deadline = absl::Now() + timeout;
  size_t newline;
  while ((newline = buffered_.find('\n')) == std::string::npos) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("no line on stdout");
    pollfd p{stdout_fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <= 0) continue;
    char buf[512];
    const ssize_t n = read(stdout_fd_, buf, sizeof(buf));
    if (n <= 0) return absl::UnavailableError("stdout closed");
    buffered_.append(buf, static_cast<size_t>(n));
  }
  std::string line = buffered_.substr(0, newline);
  buffered_.erase(0, newline + 1);
  return line;
}

absl::StatusOr<ProcessUsage> Process::Usage() const {
  ProcessUsage usage;
  // /proc/PID/stat: "pid (comm) state ..."; comm may hold spaces, so split after the last ')'.
  // utime and stime are fields 14 and 15, i.e. the 12th and 13th after the ')'.
  std::ifstream stat_file(absl::StrCat("/proc/", pid_, "/stat"));
  std::stringstream stat;
  stat << stat_file.rdbuf();
  const std::string text = stat.str();
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return absl::NotFoundError(absl::StrCat("no process ", pid_));
  std::vector<std::string> fields =
      absl::StrSplit(text.substr(paren + 2), ' ', absl::SkipEmpty());
  int64_t utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return absl::InternalError(absl::StrCat("unexpected /proc/", pid_, "/stat: ", text));
  }
  usage.cpu = absl::Seconds(static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK));

  std::ifstream status(absl::StrCat("/proc/", pid_, "/status"));
  for (std::string line; std::getline(status, line);) {
    if (!line.starts_with("VmHWM:")) continue;
    int64_t kib = 0;
    std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kib)) usage.peak_rss_bytes = kib * 1024;
  }
  return usage;
}

int Process::Stop(int signal, absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  int status = 0;
  for (const absl::Time deadline = absl::Now() + timeout; absl::Now() < deadline;) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return -1;
}

}  // namespace sematic::bench
