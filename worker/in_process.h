// Connects a worker to a Scheduler object in the same process: the embedded engine's wiring.
// Messages pass as objects, with no serialization and no network.
//
//   std::unique_ptr<scheduler::Scheduler> s = *scheduler::Scheduler::Create({...});
//   auto worker = *Worker::Create(options, MakeInProcessConnector(s.get()),
//                                 MakeInProcessArtifactClient(s.get()));
//   worker->Start();
//
// The scheduler must outlive the connector, the artifact client and every stream opened.
#ifndef SEMATIC_WORKER_IN_PROCESS_H_
#define SEMATIC_WORKER_IN_PROCESS_H_

#include <memory>

#include "scheduler/core/scheduler.h"
#include "worker/transport.h"

namespace sematic::worker {

std::unique_ptr<Connector> MakeInProcessConnector(scheduler::Scheduler* scheduler);

// Moves large outputs and inputs through the scheduler's ArtifactService, without the network.
std::unique_ptr<ArtifactClient> MakeInProcessArtifactClient(scheduler::Scheduler* scheduler);

}  // namespace sematic::worker

#endif  // SEMATIC_WORKER_IN_PROCESS_H_
