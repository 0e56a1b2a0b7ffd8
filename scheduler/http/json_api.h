// The HTTP gateway's JSON API (docs/http.md) over the Scheduler interface: the routes that
// answer with one reply. Server-sent event streams and ranged artifact bytes are the gateway's
// (http_gateway.h); this class holds no socket and is tested by calling Handle directly.
//
//   JsonApi api(scheduler, {.read_only = false});
//   HttpReply reply = api.Handle({.method = "GET", .path = "/api/v1/jobs/j-1"});
//
// Thread-safe: Handle blocks its calling thread (at most `timeout`) until the scheduler's loop
// answers, and never runs on the loop.
#ifndef SEMATIC_SCHEDULER_HTTP_JSON_API_H_
#define SEMATIC_SCHEDULER_HTTP_JSON_API_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "scheduler/core/scheduler.h"
#include "scheduler/http/json_mapping.h"
#include "sematic/v1/value.pb.h"

namespace sematic::scheduler::http {

struct HttpRequest {
  std::string method;  // "GET", "POST"
  std::string path;    // without the query string
  QueryParams params;
  std::string body;
};

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static HttpReply Error(const absl::Status& status);
};

struct JsonApiOptions {
  bool read_only = false;  // POST routes answer FAILED_PRECONDITION (sematic ui --data-dir)
  absl::Duration timeout = absl::Seconds(30);
  // Largest artifact the /value and /image routes read whole (bigger ones: use /bytes).
  size_t max_value_bytes = size_t{64} << 20;
};

class JsonApi {
 public:
  // `scheduler` must outlive this object.
  JsonApi(Scheduler* scheduler, JsonApiOptions options);
  ~JsonApi();

  // Answers one request under /api/v1/. Unknown routes: 404 naming the route; a known path with
  // another method: 405.
  HttpReply Handle(const HttpRequest& request) const;

  // The route's pattern, e.g. "/api/v1/jobs/{job_id}", for metrics labels ("other" if none).
  std::string RouteOf(const HttpRequest& request) const;

  // An artifact's stored bytes, whole (NOT_FOUND, or RESOURCE_EXHAUSTED over `max_bytes`).
  absl::StatusOr<std::string> ReadArtifact(const std::string& digest, size_t max_bytes) const;

 private:
  struct Route;
  absl::StatusOr<v1::TypedValue> ReadValue(const std::string& digest) const;

  Scheduler* const scheduler_;
  const JsonApiOptions options_;
  std::vector<Route> routes_;
};

}  // namespace sematic::scheduler::http

#endif  // SEMATIC_SCHEDULER_HTTP_JSON_API_H_
