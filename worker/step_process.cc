#include "worker/step_process.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/strings.h"
#include "sematic/func.h"
#include "sematic/payload.h"
#include "worker/output_lines.h"
#include "worker/payload_files.h"

namespace sematic::worker {
namespace {

// The child's end of the socket.
constexpr int kChildFd = 3;
// Frames above this cannot be parsed by protobuf anyway.
constexpr uint64_t kMaxFrameBytes = INT_MAX;
constexpr int kHeaderBytes = 8;
// The most read from a stdout/stderr pipe at once; also the default maximum pipe capacity.
constexpr size_t kDrainBudget = 1 << 20;

bool SendAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool ReadAll(int fd, char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = read(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

uint64_t DecodeLength(const char* header) {
  uint64_t length = 0;
  for (int i = kHeaderBytes - 1; i >= 0; --i) {
    length = (length << 8) | static_cast<unsigned char>(header[i]);
  }
  return length;
}

// An 8-byte little-endian length, then the message. Not thread-safe: callers serialize.
absl::Status WriteFrame(int fd, const google::protobuf::Message& message) {
  const size_t size = message.ByteSizeLong();
  if (size > kMaxFrameBytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("a ", size, "-byte message exceeds protobuf's 2 GiB limit"));
  }
  std::string frame(kHeaderBytes, '\0');
  for (int i = 0; i < kHeaderBytes; ++i) frame[i] = static_cast<char>((size >> (8 * i)) & 0xff);
  if (!message.AppendToString(&frame)) {
    return absl::InternalError("the message does not serialize");
  }
  if (!SendAll(fd, frame.data(), frame.size())) {
    return absl::UnavailableError(absl::StrCat("the other process hung up: ", strerror(errno)));
  }
  return absl::OkStatus();
}

// ---- Child side --------------------------------------------------------------------------------

// Set by SIGTERM; a lock-free atomic store is async-signal-safe.
std::atomic<bool>* g_cancelled = nullptr;

void OnTerminate(int) {
  if (g_cancelled != nullptr) g_cancelled->store(true);
}

// Sends the step's logs and metrics to the worker; the step's threads may log concurrently.
class SocketSink : public ContextSink {
 public:
  explicit SocketSink(int fd) : fd_(fd) {}

  void OnLog(const Context&, std::string_view line) override {
    internal::StepProcessEvent event;
    v1::LogEntry* log = event.mutable_log();
    log->set_unix_micros(absl::ToUnixMicros(absl::Now()));
    log->set_text(ValidUtf8(line));  // proto3 strings must be UTF-8, step output need not be
    Send(event).IgnoreError();  // the worker is gone: PDEATHSIG ends this process
  }

  void OnMetric(const Context&, std::string_view name, double value, int64_t step) override {
    internal::StepProcessEvent event;
    v1::MetricPoint* point = event.mutable_metric();
    point->set_name(std::string(name));
    point->set_value(value);
    point->set_step(step);
    point->set_unix_micros(absl::ToUnixMicros(absl::Now()));
    Send(event).IgnoreError();
  }

  absl::Status Send(const internal::StepProcessEvent& event) {
    absl::MutexLock lock(&mu_);
    return WriteFrame(fd_, event);
  }

 private:
  const int fd_;
  absl::Mutex mu_;
};

[[noreturn]] void ChildFails(const std::string& why) {
  std::fprintf(stderr, "sematic step process %d: %s\n", getpid(), why.c_str());
  std::fflush(stderr);
  _exit(3);
}

// ---- Worker side -------------------------------------------------------------------------------

// Decodes frames from the bytes read so far.
class FrameReader {
 public:
  // Reads what `fd` has (it is readable); false at end of stream or on an error.
  bool ReadSome(int fd) {
    constexpr size_t kChunk = 1 << 20;
    const size_t old_size = buffer_.size();
    // Once a large frame's length is known, grow once rather than by doubling.
    if (buffer_.size() - start_ >= kHeaderBytes) {
      const uint64_t length = DecodeLength(buffer_.data() + start_);
      if (length <= kMaxFrameBytes) buffer_.reserve(start_ + kHeaderBytes + length);
    }
    buffer_.resize(old_size + kChunk);
    ssize_t n;
    do {
      n = read(fd, buffer_.data() + old_size, kChunk);
    } while (n < 0 && errno == EINTR);
    buffer_.resize(old_size + static_cast<size_t>(std::max<ssize_t>(n, 0)));
    return n > 0;
  }

  // The next complete event: nullopt when more bytes are needed; an error for a bad frame.
  absl::StatusOr<std::optional<internal::StepProcessEvent>> Next() {
    if (buffer_.size() - start_ < kHeaderBytes) return std::nullopt;
    const uint64_t length = DecodeLength(buffer_.data() + start_);
    if (length > kMaxFrameBytes) {
      return absl::InternalError(absl::StrCat("the step process sent a ", length, "-byte frame"));
    }
    if (buffer_.size() - start_ - kHeaderBytes < length) return std::nullopt;
    internal::StepProcessEvent event;
    if (!event.ParseFromArray(buffer_.data() + start_ + kHeaderBytes, static_cast<int>(length))) {
      return absl::InternalError("the step process sent a malformed event");
    }
    start_ += kHeaderBytes + length;
    if (start_ == buffer_.size()) {
      buffer_.clear();
      start_ = 0;
    } else if (start_ >= (1 << 20) && 2 * start_ >= buffer_.size()) {
      buffer_.erase(0, start_);  // a steady stream of logs must not grow the buffer forever
      start_ = 0;
    }
    return event;
  }

 private:
  std::string buffer_;
  size_t start_ = 0;
};

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Starts /proc/self/exe as the step process with `fd` as its fd 3 and `out`/`err` as its
// stdout/stderr. Returns its pid.
absl::StatusOr<pid_t> Spawn(int fd, int out, int err, const std::vector<std::string>& libraries,
                            const Context& context) {
  std::vector<std::string> argv = {"/proc/self/exe", kStepProcessCommand,
                                   absl::StrCat("--parent=", getpid())};
  for (const std::string& library : libraries) argv.push_back(absl::StrCat("--load=", library));
  std::vector<std::string> env = context.ChildEnvironment();  // CUDA_VISIBLE_DEVICES narrowed

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fd, kChildFd);
  posix_spawn_file_actions_adddup2(&actions, out, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // The worker blocks SIGTERM/SIGINT to take them synchronously; the step process must not.
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  pid_t pid = -1;
  std::vector<char*> c_argv = CStrings(argv);
  std::vector<char*> c_env = CStrings(env);
  const int error = posix_spawn(&pid, c_argv[0], &actions, &attr, c_argv.data(), c_env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (error != 0) {
    return absl::UnavailableError(absl::StrCat("cannot start the step process: ", strerror(error)));
  }
  return pid;
}

// `fd` moved to a number of 10 or more (close-on-exec), so that none of the child's dup2s onto
// fds 1, 2 and 3 clobbers it or is a no-op. Closes `fd`; -1 on failure.
int MoveAboveStdio(int fd) {
  const int moved = fcntl(fd, F_DUPFD_CLOEXEC, 10);
  close(fd);
  return moved;
}

// The read end of a pipe that becomes a child's stdout or stderr, split into log lines.
struct OutputPipe {
  int fd = -1;  // the read end, non-blocking; -1 once at end of stream
  OutputLines lines;

  // Reads until the pipe is empty (it stays open), at its end (fd closed), or `budget` bytes
  // later: a step printing without pause must not starve the socket and the cancel checks.
  void Drain(size_t budget) {
    char buffer[1 << 16];
    for (size_t done = 0; fd >= 0 && done < budget;) {
      const ssize_t n = read(fd, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) {
        Close();
        return;
      }
      lines.Append(std::string_view(buffer, static_cast<size_t>(n)));
      done += static_cast<size_t>(n);
    }
  }

  void Close() {
    if (fd >= 0) close(fd);
    fd = -1;
  }
};

int Reap(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

}  // namespace

std::string SignalName(int signal) {
  const char* abbreviation = sigabbrev_np(signal);
  if (abbreviation == nullptr) return absl::StrCat("signal ", signal);
  return absl::StrCat("SIG", abbreviation);
}

bool IsStepProcessCommand(int argc, char** argv) {
  return argc > 1 && std::strcmp(argv[1], kStepProcessCommand) == 0;
}

int StepProcessMain(int argc, char** argv) {
  // stdout is a pipe to the worker: flush each line as it is written, so that the lines before
  // a crash reach the run's log (stderr is unbuffered already).
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  pid_t parent = 0;
  for (int i = 2; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--load=")) {
      if (dlopen(argv[i] + 7, RTLD_NOW | RTLD_GLOBAL) == nullptr) {
        ChildFails(absl::StrCat("--load: ", dlerror()));
      }
    } else if (arg.starts_with("--parent=")) {
      if (!absl::SimpleAtoi(AsAbsl(arg.substr(9)), &parent)) ChildFails("bad --parent");
    } else {
      ChildFails(absl::StrCat("unknown argument ", AsAbsl(arg)));
    }
  }
  // Die with the worker (a worker killed -9 must not leave its steps running), including when
  // it died before this line. The signal follows the spawning *thread*: a pool thread, which
  // lives as long as the worker.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) ChildFails("the worker is gone");
  // Processes the step starts must not hold the socket open after this process exits.
  fcntl(kChildFd, F_SETFD, FD_CLOEXEC);

  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  g_cancelled = cancelled.get();
  struct sigaction on_term = {};
  on_term.sa_handler = OnTerminate;
  sigemptyset(&on_term.sa_mask);
  sigaction(SIGTERM, &on_term, nullptr);

  char header[kHeaderBytes];
  if (!ReadAll(kChildFd, header, kHeaderBytes)) ChildFails("no request");
  const uint64_t length = DecodeLength(header);
  if (length > kMaxFrameBytes) ChildFails("request too large");
  std::string bytes(length, '\0');
  if (!ReadAll(kChildFd, bytes.data(), length)) ChildFails("truncated request");
  internal::StepProcessRequest request;
  if (!request.ParseFromString(bytes)) ChildFails("malformed request");
  std::string().swap(bytes);

  const v1::Assignment& a = request.assignment();
  absl::StatusOr<const FuncInfo*> func = FindFunc(a.function(), a.version());
  if (!func.ok()) ChildFails(func.status().ToString());
  std::vector<const v1::Value*> args;
  const std::string payload_dir = request.payload_dir();
  for (v1::AssignedInput& input : *request.mutable_assignment()->mutable_inputs()) {
    if (!input.has_value()) ChildFails(absl::StrCat("input ", input.name(), " is not inline"));
    const absl::Status read = InternalizePayloads(
        input.mutable_value(),
        [&](const v1::PayloadRef& ref) { return ReadPayloadFile(payload_dir, ref); },
        absl::StrCat("input ", input.name()));
    if (!read.ok()) ChildFails(read.ToString());
    args.push_back(&input.value());
  }

  Context::Info info;
  info.run_id = a.run_id();
  info.parent_id = a.parent_id();
  info.job_id = a.job_id();
  info.function = a.function();
  info.attempt = a.attempt();
  info.gpu_ids.assign(request.gpu_ids().begin(), request.gpu_ids().end());
  info.gpus_assigned = true;
  SocketSink sink(kChildFd);
  Context context(std::move(info), &sink, cancelled);
  StepResult step;
  {
    internal::ScopedContext scoped(&context);
    step = (*func)->invoke(args);
  }

  request.Clear();  // the inputs' memory, before the output's payloads are written

  internal::StepProcessEvent event;
  internal::StepProcessOutcome* outcome = event.mutable_outcome();
  // Large payloads go to files in payload_dir; the outcome carries their refs.
  auto write_payloads = [&](std::vector<Payload> payloads) {
    for (const Payload& p : payloads) {
      const absl::Status written = WritePayloadFile(payload_dir, p.digest, p.bytes);
      if (!written.ok()) ChildFails(absl::StrCat("writing a payload: ", written.ToString()));
    }
  };
  if (!step.status.ok()) {
    outcome->set_error(std::string(step.status.message()));
    outcome->set_error_code(static_cast<int>(step.status.code()));
    outcome->set_retryable(step.retryable);
  } else if (step.graph != nullptr) {
    v1::Graph* graph = outcome->mutable_graph();
    *graph = *step.graph;
    for (v1::CallNode& node : *graph->mutable_nodes()) {
      for (v1::Arg& arg : *node.mutable_args()) {
        if (arg.has_literal()) write_payloads(ExternalizePayloads(arg.mutable_literal()));
      }
    }
  } else if (step.value.has_value()) {
    *outcome->mutable_value() = *std::move(step.value);
    write_payloads(ExternalizePayloads(outcome->mutable_value()));
  } else {
    outcome->set_error("the step returned neither a value nor a graph");
    outcome->set_error_code(static_cast<int>(absl::StatusCode::kInternal));
  }
  std::fflush(nullptr);  // the step's last output, before the outcome
  absl::Status sent = sink.Send(event);
  if (absl::IsResourceExhausted(sent)) {  // too large for one message: report that instead
    event.mutable_outcome()->set_error(std::string(sent.message()));
    event.mutable_outcome()->set_error_code(static_cast<int>(sent.code()));
    event.mutable_outcome()->set_retryable(false);
    sent = sink.Send(event);
  }
  if (!sent.ok()) ChildFails(absl::StrCat("sending the outcome: ", sent.ToString()));
  // Skip static destructors: the step's libraries may not tear down cleanly, and the outcome
  // is already out.
  _exit(0);
}

absl::StatusOr<internal::StepProcessOutcome> RunStepProcess(
    const internal::StepProcessRequest& request, const std::vector<std::string>& libraries,
    const Context& context, ContextSink& sink, const std::atomic<bool>& cancelled,
    absl::Duration cancel_grace) {
  // The step's stdout and stderr become lines of its log, stderr's marked.
  auto log_line = [&](std::string line) { sink.OnLog(context, line); };
  OutputPipe out{-1, OutputLines("", kMaxOutputLineBytes, log_line)};
  OutputPipe err{-1, OutputLines(kStderrPrefix, kMaxOutputLineBytes, log_line)};
  int sock[2], out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock) != 0) {
    return absl::UnavailableError(absl::StrCat("socketpair: ", strerror(errno)));
  }
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int error = errno;
    for (int end : {sock[0], sock[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
      if (end >= 0) close(end);
    }
    return absl::UnavailableError(absl::StrCat("pipe: ", strerror(error)));
  }
  const int fd = sock[0];
  out.fd = out_pipe[0];
  err.fd = err_pipe[0];
  // Only the worker's ends: the child's writes still block on a full pipe.
  fcntl(out.fd, F_SETFL, O_NONBLOCK);
  fcntl(err.fd, F_SETFL, O_NONBLOCK);
  const int child_ends[3] = {MoveAboveStdio(sock[1]), MoveAboveStdio(out_pipe[1]),
                             MoveAboveStdio(err_pipe[1])};
  absl::StatusOr<pid_t> spawned = absl::UnavailableError("fcntl: out of file descriptors");
  if (child_ends[0] >= 0 && child_ends[1] >= 0 && child_ends[2] >= 0) {
    spawned = Spawn(child_ends[0], child_ends[1], child_ends[2], libraries, context);
  }
  for (int end : child_ends) {
    if (end >= 0) close(end);
  }
  if (!spawned.ok()) {
    close(fd);
    out.Close();
    err.Close();
    return spawned.status();
  }
  const pid_t pid = *spawned;

  // A failed send means the child is already gone; its exit status says why.
  absl::Status sent = WriteFrame(fd, request);
  if (!sent.ok()) kill(pid, SIGKILL);  // harmless on a dead child; unblocks Reap on a live one
  std::optional<internal::StepProcessOutcome> outcome;
  absl::Status protocol_error;
  bool terminated = false, killed = false;
  absl::Time kill_at = absl::InfiniteFuture();
  FrameReader reader;
  while (sent.ok()) {
    if (cancelled.load() && !terminated) {
      kill(pid, SIGTERM);
      terminated = true;
      kill_at = absl::Now() + cancel_grace;
    }
    if (terminated && !killed && absl::Now() >= kill_at) {
      kill(pid, SIGKILL);
      killed = true;
    }
    // A closed pipe's fd is -1, which poll skips.
    pollfd p[3] = {{fd, POLLIN, 0}, {out.fd, POLLIN, 0}, {err.fd, POLLIN, 0}};
    const int ready = poll(p, 3, 50);  // how quickly cancellation is noticed
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    if (p[1].revents != 0) out.Drain(kDrainBudget);
    if (p[2].revents != 0) err.Drain(kDrainBudget);
    if (p[0].revents == 0) continue;
    if (!reader.ReadSome(fd)) break;  // end of stream: the child exited
    for (;;) {
      absl::StatusOr<std::optional<internal::StepProcessEvent>> event = reader.Next();
      if (!event.ok()) {
        protocol_error = event.status();
        break;
      }
      if (!event->has_value()) break;
      internal::StepProcessEvent& e = **event;
      switch (e.event_case()) {
        case internal::StepProcessEvent::kLog:
          sink.OnLog(context, e.log().text());
          break;
        case internal::StepProcessEvent::kMetric:
          sink.OnMetric(context, e.metric().name(), e.metric().value(), e.metric().step());
          break;
        case internal::StepProcessEvent::kOutcome:
          outcome = std::move(*e.mutable_outcome());
          break;
        case internal::StepProcessEvent::EVENT_NOT_SET:
          break;
      }
    }
    if (!protocol_error.ok()) {
      kill(pid, SIGKILL);
      break;
    }
  }
  close(fd);
  const int status = Reap(pid);
  // Whatever the child wrote is in the pipes now, even when it crashed: log it before the
  // outcome. That is at most a pipe's capacity (64 KiB by default, 1 MiB at most unprivileged),
  // since a write to a full pipe blocks. A process the step started may hold a pipe open and
  // write on: its output from now on is not read.
  for (OutputPipe* pipe : {&out, &err}) {
    pipe->Drain(kDrainBudget);
    pipe->lines.Finish();
    pipe->Close();
  }

  if (outcome.has_value()) return *std::move(outcome);
  if (!protocol_error.ok()) return protocol_error;
  // The request could not be framed (too large); the child was killed for want of it.
  if (!sent.ok() && !absl::IsUnavailable(sent)) return sent;
  if (WIFSIGNALED(status)) {
    const int signal = WTERMSIG(status);
    std::string why = absl::StrCat("step ", request.assignment().function(), " crashed (signal ",
                                   signal, ", ", SignalName(signal), ")");
    if (killed) {
      absl::StrAppend(&why, " (it ignored SIGTERM for ", absl::FormatDuration(cancel_grace), ")");
    } else if (signal == SIGKILL) {
      absl::StrAppend(&why, " (the kernel's OOM killer sends SIGKILL)");
    }
    return absl::AbortedError(why);
  }
  return absl::InternalError(absl::StrCat(
      "the step process exited with status ", WEXITSTATUS(status), " without an outcome",
      sent.ok() ? "" : absl::StrCat(" (", sent.message(), ")")));
}

}  // namespace sematic::worker
