#include "tests/testing/processes.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "sematic/v1/job.grpc.pb.h"
#include "sematic/v1/run_service.grpc.pb.h"

namespace sematic::testing {
namespace {

constexpr absl::Duration kPollInterval = absl::Milliseconds(20);

// Forks and execs `argv` with stdout/stderr redirected to the given descriptors (-1: inherited);
// the child closes `parent_ends` (the parent's sides of its pipes). Returns the child's pid.
pid_t Spawn(std::vector<std::string> argv, int stdout_fd, int stderr_fd,
            std::vector<int> parent_ends) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  if (stdout_fd >= 0) dup2(stdout_fd, STDOUT_FILENO);
  if (stderr_fd >= 0) dup2(stderr_fd, STDERR_FILENO);
  parent_ends.push_back(stdout_fd);
  parent_ends.push_back(stderr_fd);
  for (int fd : parent_ends) {
    if (fd > STDERR_FILENO) close(fd);
  }
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

std::unique_ptr<grpc::ClientContext> WithDeadline() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return context;
}

std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

}  // namespace

namespace {

// What `fd` yields until it holds `count` newlines, closes, or `timeout` passes; closes `fd`.
std::string ReadUntilLines(int fd, int count, absl::Duration timeout) {
  std::string text;
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline &&
         std::count(text.begin(), text.end(), '\n') < static_cast<std::ptrdiff_t>(count)) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[256];
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return text;
}

}  // namespace

ChildProcess::ChildProcess(std::vector<std::string> argv, std::string* first_line,
                           absl::Duration timeout) {
  int out[2] = {-1, -1};
  if (first_line != nullptr && pipe(out) != 0) return;
  pid_ = Spawn(std::move(argv), out[1], -1, {out[0]});
  if (first_line == nullptr) return;
  close(out[1]);
  const std::string text = ReadUntilLines(out[0], 1, timeout);
  *first_line = text.substr(0, text.find('\n'));
}

ChildProcess::ChildProcess(std::vector<std::string> argv, std::vector<std::string>* lines,
                           int count, absl::Duration timeout) {
  int out[2] = {-1, -1};
  if (pipe(out) != 0) return;
  pid_ = Spawn(std::move(argv), out[1], -1, {out[0]});
  close(out[1]);
  const std::string text = ReadUntilLines(out[0], count, timeout);
  lines->clear();
  for (size_t start = 0; static_cast<int>(lines->size()) < count && start < text.size();) {
    const size_t end = text.find('\n', start);
    if (end == std::string::npos) break;  // a partial line: the child did not finish it
    lines->push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

ChildProcess::~ChildProcess() { Kill(SIGKILL); }

void ChildProcess::Kill(int signal) {
  if (pid_ <= 0) return;
  kill(pid_, signal);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

int ChildProcess::Stop(int signal, absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  return Wait(timeout);
}

bool ChildProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_) return true;
  pid_ = -1;
  return false;
}

int ChildProcess::Wait(absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    absl::SleepFor(absl::Milliseconds(10));  // polling a child's exit
  }
  Kill(SIGKILL);
  return -1;
}

ProcessResult RunProcess(const std::vector<std::string>& argv, absl::Duration timeout) {
  ProcessResult result;
  int out[2], err[2];
  if (pipe(out) != 0) return result;
  if (pipe(err) != 0) {
    close(out[0]);
    close(out[1]);
    return result;
  }
  const pid_t pid = Spawn(argv, out[1], err[1], {out[0], err[0]});
  close(out[1]);
  close(err[1]);
  const absl::Time deadline = absl::Now() + timeout;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  bool timed_out = false;
  while (open_fds > 0) {
    const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left <= 0) {
      timed_out = true;
      break;
    }
    if (poll(fds, 2, static_cast<int>(std::min<int64_t>(left, 1000))) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP)) == 0) continue;
      char buf[4096];
      const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        sinks[i]->append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (const pollfd& p : fds) {
    if (p.fd >= 0) close(p.fd);
  }
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!timed_out && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

SchedulerProcess::SchedulerProcess(std::vector<std::string> command, const std::string& data_dir,
                                   int port, std::vector<std::string> extra_args) {
  command.push_back("--data-dir=" + data_dir);
  command.push_back(absl::StrCat("--port=", port));
  command.push_back("--host=127.0.0.1");
  command.insert(command.end(), extra_args.begin(), extra_args.end());
  bool serves_http = false;
  for (const std::string& arg : command) {
    int http_port = -1;
    if ((absl::StartsWith(arg, "--http-port=") || absl::StartsWith(arg, "--http_port=")) &&
        absl::SimpleAtoi(arg.substr(arg.find('=') + 1), &http_port)) {
      serves_http = http_port >= 0;  // the last one wins, as in the daemon's flag parsing
    }
  }
  // "listening on 127.0.0.1:PORT", then with HTTP "http on 127.0.0.1:PORT".
  std::vector<std::string> lines;
  child_ = std::make_unique<ChildProcess>(std::move(command), &lines, serves_http ? 2 : 1);
  const std::string first = lines.empty() ? "" : lines[0];
  const size_t colon = first.rfind(':');
  if (colon != std::string::npos && absl::SimpleAtoi(first.substr(colon + 1), &port_)) {
    address_ = absl::StrCat("127.0.0.1:", port_);
  }
  constexpr absl::string_view kHttpPrefix = "http on ";
  int http_port = 0;
  if (serves_http && lines.size() == 2 && absl::StartsWith(lines[1], kHttpPrefix) &&
      absl::SimpleAtoi(lines[1].substr(lines[1].rfind(':') + 1), &http_port) && http_port > 0) {
    http_url_ = absl::StrCat("http://", lines[1].substr(kHttpPrefix.size()));
  }
}

absl::StatusOr<v1::Job> SubmitWhenOffered(const std::string& address,
                                          const v1::SubmitJobRequest& request) {
  auto jobs = v1::JobService::NewStub(Channel(address));
  v1::SubmitJobResponse response;
  grpc::Status status;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    status = jobs->SubmitJob(WithDeadline().get(), request, &response);
    if (status.error_code() != grpc::StatusCode::NOT_FOUND) break;
    absl::SleepFor(kPollInterval);
  }
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        status.error_message());
  }
  return response.job();
}

v1::Job AwaitJobEnd(const std::string& address, const std::string& job_id,
                    absl::Duration timeout) {
  auto jobs = v1::JobService::NewStub(Channel(address));
  v1::GetJobRequest get;
  get.set_job_id(job_id);
  v1::Job job;
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (jobs->GetJob(WithDeadline().get(), get, &job).ok() && job.state() != v1::JOB_PENDING &&
        job.state() != v1::JOB_RUNNING) {
      break;
    }
    absl::SleepFor(kPollInterval);
  }
  return job;
}

std::map<std::string, v1::Run> ListAllRuns(const std::string& address,
                                           const std::string& job_id) {
  auto stub = v1::RunService::NewStub(Channel(address));
  std::map<std::string, v1::Run> out;
  v1::ListRunsRequest request;
  request.set_job_id(job_id);
  request.set_page_size(1000);
  do {
    v1::ListRunsResponse response;
    if (!stub->ListRuns(WithDeadline().get(), request, &response).ok()) return {};
    for (const v1::Run& run : response.runs()) out[run.id()] = run;
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  return out;
}

absl::StatusOr<std::vector<v1::JobEvent>> JobEvents(const std::string& address,
                                                    const std::string& job_id,
                                                    absl::Duration timeout) {
  auto jobs = v1::JobService::NewStub(Channel(address));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  v1::WatchJobRequest request;
  request.set_job_id(job_id);
  request.set_after_sequence(0);
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader = jobs->WatchJob(&context, request);
  std::vector<v1::JobEvent> events;
  for (v1::JobEvent event; reader->Read(&event);) events.push_back(event);
  const grpc::Status status = reader->Finish();
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat("WatchJob ", job_id, ": ", status.error_message()));
  }
  return events;
}

}  // namespace sematic::testing
