// The scheduler daemon's entry point, shared by the `sematic-scheduler` binary and the
// `sematic scheduler` command so both run exactly the same code.
//
//   int main(int argc, char** argv) { return sematic::scheduler::DaemonMain(argc, argv); }
//
// Flags (abseil flags; `--data-dir` and `--data_dir` are both accepted): --data-dir, --host,
// --port (default 7070, 0 picks a free one), --sync, --heartbeat-timeout, --recovery-grace,
// --placement, --max-message-bytes, --http-port (default 7071, or a free one with --port=0;
// -1: no HTTP), --ui-dir. Prints "listening on HOST:PORT" on stdout once ready, then
// "http on HOST:PORT" when serving HTTP, then serves until SIGTERM or SIGINT, drains and
// returns 0. Returns 1 when the scheduler cannot start (bad data directory, port taken). `argv[0]` names the program in messages.
#ifndef SEMATIC_SCHEDULER_DAEMON_DAEMON_H_
#define SEMATIC_SCHEDULER_DAEMON_DAEMON_H_

namespace sematic::scheduler {

// The default port of the daemon, and the one the `sematic` CLI connects to.
inline constexpr int kDefaultPort = 7070;
// The default HTTP port (dashboard, JSON API, /metrics).
inline constexpr int kDefaultHttpPort = 7071;

// Parses the daemon's flags from argv (argv may be modified), runs the scheduler until a
// termination signal, and returns the process exit code. Call at most once per process, from the
// main thread, before other threads start (it blocks SIGTERM/SIGINT for all threads).
int DaemonMain(int argc, char** argv);

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_DAEMON_DAEMON_H_
