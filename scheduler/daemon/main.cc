// sematic-scheduler: the scheduler daemon.
//
//   sematic-scheduler --data-dir=/var/lib/sematic --port=7070 [--sync] [--host=0.0.0.0]
//
// Serves JobService, RunService, ArtifactService, AdminService and WorkerService, plus
// grpc.health.v1 and server reflection. The same code runs as `sematic scheduler` (see daemon.h).
#include "scheduler/daemon/daemon.h"

int main(int argc, char** argv) { return sematic::scheduler::DaemonMain(argc, argv); }
