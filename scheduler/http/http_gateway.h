// The scheduler's HTTP port (docs/http.md): the JSON API, server-sent event streams of job
// events and log tails, ranged artifact downloads, Prometheus /metrics, /healthz, and the
// dashboard's files. Transport only: every answer comes from the Scheduler interface (through
// JsonApi), the same calls the gRPC services make.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<HttpGateway> http,
//                    HttpGateway::Start(scheduler, {.host = "127.0.0.1", .port = 7071}));
//   std::cout << http->url();  // "http://127.0.0.1:7071/"
//
// Threads: a pool of its own serves connections; a live stream holds one of its threads. The
// scheduler's loop only queues events for streams (bounded per stream), never writes sockets.
// Stop (or the destructor) ends every stream and joins the threads; call it before the
// scheduler is destroyed.
#ifndef SEMATIC_SCHEDULER_HTTP_HTTP_GATEWAY_H_
#define SEMATIC_SCHEDULER_HTTP_HTTP_GATEWAY_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/labeled_counters.h"
#include "scheduler/core/scheduler.h"

namespace sematic::scheduler::http {

struct HttpGatewayOptions {
  std::string host = "127.0.0.1";
  int port = 7071;  // 0 picks a free one
  // The built dashboard (index.html and assets/). Empty or missing: "/" says how to build it;
  // the API still works.
  std::string ui_dir;
  bool read_only = false;  // refuse POST routes (sematic ui --data-dir)
  int threads = 64;        // connections served at once (each live stream holds one)
  // Per event stream: a reader this far behind is cut off (it resumes with Last-Event-ID).
  // Queued batches are shared by every stream of the job, so this bounds what the slowest
  // reader keeps alive, not a copy per reader.
  size_t max_queued_events = 262144;
  absl::Duration keepalive = absl::Seconds(15);
  // The gRPC server's calls by method and code, for /metrics (null: not in this process).
  const LabeledCounters* rpc_counts = nullptr;
};

class HttpGateway {
 public:
  // Binds and starts serving. UNAVAILABLE naming the address when it cannot bind.
  static absl::StatusOr<std::unique_ptr<HttpGateway>> Start(Scheduler* scheduler,
                                                            HttpGatewayOptions options);
  virtual ~HttpGateway() = default;

  virtual int port() const = 0;
  // "http://HOST:PORT/"
  virtual std::string url() const = 0;
  // Ends every stream, stops accepting and joins the server's threads. Idempotent.
  virtual void Stop() = 0;
};

}  // namespace sematic::scheduler::http

#endif  // SEMATIC_SCHEDULER_HTTP_HTTP_GATEWAY_H_
