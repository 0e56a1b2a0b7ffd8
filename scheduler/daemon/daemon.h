// The scheduler daemon's entry point, shared by the `sematic-scheduler` binary and the
// `sematic scheduler` command so both run exactly the same code.
//
//   int main(int argc, char** argv) { return sematic::scheduler::DaemonMain(argc, argv); }
//
// Flags (abseil flags; `--data-dir` and `--data_dir` are both accepted): --data-dir, --host,
// --port (default 7070, 0 picks a free one), --sync, --heartbeat-timeout, --recovery-grace,
// --placement, --max-message-bytes. Prints one line "listening on HOST:PORT" on stdout once
// ready, then serves until SIGTERM or SIGINT, drains and returns 0. Returns 1 when the scheduler
// cannot start (bad data directory, port taken). `argv[0]` names the program in messages.
#ifndef SEMATIC_SCHEDULER_DAEMON_DAEMON_H_
#define SEMATIC_SCHEDULER_DAEMON_DAEMON_H_

namespace sematic::scheduler {

// The default port of the daemon, and the one the `sematic` CLI connects to.
inline constexpr int kDefaultPort = 7070;

// Parses the daemon's flags from argv (argv may be modified), runs the scheduler until a
// termination signal, and returns the process exit code. Call at most once per process, from the
// main thread, before other threads start (it blocks SIGTERM/SIGINT for all threads).
int DaemonMain(int argc, char** argv);

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_DAEMON_DAEMON_H_
