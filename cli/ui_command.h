// `sematic ui --data-dir DIR`: the dashboard over a finished embedded run's data, read-only,
// until Ctrl-C. A scheduler daemon serves the dashboard itself (its --http-port).
#ifndef SEMATIC_CLI_UI_COMMAND_H_
#define SEMATIC_CLI_UI_COMMAND_H_

#include "cli/args.h"

namespace sematic::cli {

// Serves until SIGINT/SIGTERM; returns the exit code. Call from the main thread before other
// threads start (it blocks the signals for all threads).
int RunUi(const Invocation& inv);

}  // namespace sematic::cli

#endif  // SEMATIC_CLI_UI_COMMAND_H_
