#include "scheduler/http/json_api.h"

#include <functional>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "scheduler/core/await_reply.h"
#include "sematic/v1/value.pb.h"

namespace sematic::scheduler::http {

HttpReply HttpReply::Error(const absl::Status& status) {
  HttpReply reply;
  reply.status = HttpStatusFor(status.code());
  reply.body = ErrorJson(status);
  return reply;
}

namespace {

// The path segments after "/api/v1/".
std::vector<std::string> Segments(std::string_view path) {
  constexpr std::string_view kPrefix = "/api/v1/";
  if (path.substr(0, kPrefix.size()) != kPrefix) return {};
  path.remove_prefix(kPrefix.size());
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  return absl::StrSplit(AsAbsl(path), '/');
}

HttpReply Json(const google::protobuf::Message& message) {
  HttpReply reply;
  reply.body = ToJson(message);
  return reply;
}

// One matched request: the route's {captures} by name, in order.
struct Match {
  const HttpRequest& request;
  std::vector<std::string> captures;
};

// Whether `segments` fit `pattern` ("jobs/{job_id}/runs"); the {captures} in order.
bool Matches(const std::string& pattern, const std::vector<std::string>& segments,
             std::vector<std::string>* captures) {
  const std::vector<std::string> parts = absl::StrSplit(pattern, '/');
  if (parts.size() != segments.size()) return false;
  captures->clear();
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!parts[i].empty() && parts[i].front() == '{') {
      if (segments[i].empty()) return false;
      captures->emplace_back(segments[i]);
    } else if (parts[i] != segments[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

struct JsonApi::Route {
  std::string method;
  std::string pattern;  // "jobs/{job_id}/runs"
  std::function<absl::StatusOr<HttpReply>(const Match&)> handle;
};

JsonApi::~JsonApi() = default;

JsonApi::JsonApi(Scheduler* scheduler, JsonApiOptions options)
    : scheduler_(scheduler), options_(options) {
  Scheduler* const s = scheduler_;
  const absl::Duration timeout = options_.timeout;
  // A route answering with the reply of one Scheduler call on a request message read from the
  // query (and the path's captures, set by `bind`).
  auto unary = [&](std::string method, std::string pattern, auto request_type, auto reply_type,
                   auto bind, auto call, std::string_view name) {
    using Request = decltype(request_type);
    using Reply = decltype(reply_type);
    routes_.push_back(
        Route{std::move(method), std::move(pattern),
              [s, timeout, bind, call, name](const Match& m) -> absl::StatusOr<HttpReply> {
                Request request;
                RETURN_IF_ERROR(FillFromQuery(m.request.params, &request));
                bind(m.captures, &request);
                ASSIGN_OR_RETURN(Reply reply, AwaitReply<Reply>(name, timeout, [&](auto done) {
                                   call(s, std::move(request), std::move(done));
                                 }));
                return Json(reply);
              }});
  };
  auto no_captures = [](const std::vector<std::string>&, auto*) {};

  unary(
      "GET", "jobs", v1::ListJobsRequest(), v1::ListJobsResponse(), no_captures,
      [](Scheduler* s, auto r, auto d) { s->ListJobs(std::move(r), std::move(d)); }, "ListJobs");
  routes_.push_back(Route{
      "POST", "jobs", [s, timeout](const Match& m) -> absl::StatusOr<HttpReply> {
        v1::SubmitJobRequest request;
        RETURN_IF_ERROR(FromJson(m.request.body, &request));
        ASSIGN_OR_RETURN(v1::SubmitJobResponse reply,
                         AwaitReply<v1::SubmitJobResponse>("SubmitJob", timeout, [&](auto done) {
                           s->SubmitJob(std::move(request), std::move(done));
                         }));
        return Json(reply);
      }});
  unary(
      "GET", "jobs/{job_id}", v1::GetJobRequest(), v1::Job(),
      [](const std::vector<std::string>& c, v1::GetJobRequest* r) { r->set_job_id(c[0]); },
      [](Scheduler* s, auto r, auto d) { s->GetJob(std::move(r), std::move(d)); }, "GetJob");
  unary(
      "POST", "jobs/{job_id}/cancel", v1::CancelJobRequest(), v1::CancelJobResponse(),
      [](const std::vector<std::string>& c, v1::CancelJobRequest* r) { r->set_job_id(c[0]); },
      [](Scheduler* s, auto r, auto d) { s->CancelJob(std::move(r), std::move(d)); }, "CancelJob");
  unary(
      "GET", "jobs/{job_id}/runs", v1::ListRunsRequest(), v1::ListRunsResponse(),
      [](const std::vector<std::string>& c, v1::ListRunsRequest* r) { r->set_job_id(c[0]); },
      [](Scheduler* s, auto r, auto d) { s->ListRuns(std::move(r), std::move(d)); }, "ListRuns");
  unary(
      "GET", "jobs/{job_id}/run_groups", v1::ListRunGroupsRequest(), v1::ListRunGroupsResponse(),
      [](const std::vector<std::string>& c, v1::ListRunGroupsRequest* r) { r->set_job_id(c[0]); },
      [](Scheduler* s, auto r, auto d) { s->ListRunGroups(std::move(r), std::move(d)); },
      "ListRunGroups");
  unary(
      "GET", "runs/{run_id}", v1::GetRunRequest(), v1::Run(),
      [](const std::vector<std::string>& c, v1::GetRunRequest* r) { r->set_run_id(c[0]); },
      [](Scheduler* s, auto r, auto d) { s->GetRun(std::move(r), std::move(d)); }, "GetRun");
  routes_.push_back(Route{
      "GET", "runs/{run_id}/logs", [s, timeout](const Match& m) -> absl::StatusOr<HttpReply> {
        v1::GetRunLogsRequest request;
        RETURN_IF_ERROR(FillFromQuery(m.request.params, &request, {"max_lines"}));
        if (request.follow()) {
          return absl::InvalidArgumentError(
              "follow: not offered here (tail with /api/v1/runs/{run_id}/logs/events)");
        }
        request.set_run_id(m.captures[0]);
        size_t max_lines = 1000;
        if (auto it = m.request.params.find("max_lines"); it != m.request.params.end()) {
          if (!absl::SimpleAtoi(it->second, &max_lines) || max_lines == 0 || max_lines > 10000) {
            return absl::InvalidArgumentError(absl::StrCat("max_lines: expected 1 to 10000, got '",
                                                           it->second.substr(0, 32), "'"));
          }
        }
        ASSIGN_OR_RETURN(RunLogPage page,
                         AwaitReply<RunLogPage>("GetRunLogs", timeout, [&](auto done) {
                           s->ReadRunLogs(std::move(request), max_lines, std::move(done));
                         }));
        return Json(page.lines);
      }});
  routes_.push_back(Route{
      "GET", "runs/{run_id}/logs.txt", [s, timeout](const Match& m) -> absl::StatusOr<HttpReply> {
        RETURN_IF_ERROR(CheckNoParams(m.request.params));
        HttpReply reply;
        reply.content_type = "text/plain; charset=utf-8";
        reply.headers.emplace_back("Content-Disposition", absl::StrCat("attachment; filename=\"",
                                                                       m.captures[0], ".log\""));
        v1::GetRunLogsRequest request;
        request.set_run_id(m.captures[0]);
        while (true) {
          ASSIGN_OR_RETURN(RunLogPage page,
                           AwaitReply<RunLogPage>("GetRunLogs", timeout, [&](auto done) {
                             s->ReadRunLogs(request, 10000, std::move(done));
                           }));
          for (const v1::LogEntry& entry : page.lines.entries()) {
            absl::StrAppend(&reply.body, entry.text(), "\n");
          }
          if (page.lines.entries().empty()) break;
          request.set_from_index(request.from_index() + page.lines.entries_size());
        }
        return reply;
      }});
  unary(
      "GET", "runs/{run_id}/metrics", v1::GetRunMetricsRequest(), v1::GetRunMetricsResponse(),
      [](const std::vector<std::string>& c, v1::GetRunMetricsRequest* r) { r->set_run_id(c[0]); },
      [](Scheduler* s, auto r, auto d) { s->GetRunMetrics(std::move(r), std::move(d)); },
      "GetRunMetrics");
  unary(
      "GET", "runs/{run_id}/lineage", v1::GetLineageRequest(), v1::GetLineageResponse(),
      [](const std::vector<std::string>& c, v1::GetLineageRequest* r) { r->set_run_id(c[0]); },
      [](Scheduler* s, auto r, auto d) { s->GetLineage(std::move(r), std::move(d)); },
      "GetLineage");
  unary(
      "GET", "artifacts/{digest}/lineage", v1::GetLineageRequest(), v1::GetLineageResponse(),
      [](const std::vector<std::string>& c, v1::GetLineageRequest* r) {
        r->set_artifact_digest(c[0]);
      },
      [](Scheduler* s, auto r, auto d) { s->GetLineage(std::move(r), std::move(d)); },
      "GetLineage");
  routes_.push_back(
      Route{"GET", "artifacts/{digest}", [s](const Match& m) -> absl::StatusOr<HttpReply> {
              v1::GetArtifactRequest request;
              RETURN_IF_ERROR(FillFromQuery(m.request.params, &request));
              request.set_digest(m.captures[0]);
              RETURN_IF_ERROR(CheckDigest(request.digest()));
              ASSIGN_OR_RETURN(v1::GetArtifactResponse reply, s->artifacts().GetArtifact(request));
              return Json(reply);
            }});
  routes_.push_back(
      Route{"GET", "artifacts/{digest}/value", [this](const Match& m) -> absl::StatusOr<HttpReply> {
              RETURN_IF_ERROR(CheckNoParams(m.request.params));
              ASSIGN_OR_RETURN(v1::TypedValue value, ReadValue(m.captures[0]));
              return Json(value);
            }});
  routes_.push_back(Route{
      "GET", "artifacts/{digest}/image", [this](const Match& m) -> absl::StatusOr<HttpReply> {
        RETURN_IF_ERROR(CheckNoParams(m.request.params));
        ASSIGN_OR_RETURN(v1::TypedValue value, ReadValue(m.captures[0]));
        if (value.value().kind_case() != v1::Value::kImageValue) {
          return absl::FailedPreconditionError(
              absl::StrCat("artifact ", m.captures[0], " is not an Image"));
        }
        const v1::ImageValue& image = value.value().image_value();
        HttpReply reply;
        reply.content_type = image.format() == v1::ImageValue::JPEG ? "image/jpeg" : "image/png";
        reply.headers.emplace_back("Cache-Control", "public, max-age=31536000, immutable");
        if (image.has_data_ref()) {
          ASSIGN_OR_RETURN(reply.body,
                           ReadArtifact(image.data_ref().digest(), options_.max_value_bytes));
        } else {
          reply.body = image.data();
        }
        return reply;
      }});
  auto admin = [&](std::string pattern, auto reply_type, auto call, std::string_view name) {
    using Reply = decltype(reply_type);
    routes_.push_back(Route{"GET", std::move(pattern),
                            [s, timeout, call, name](const Match& m) -> absl::StatusOr<HttpReply> {
                              RETURN_IF_ERROR(CheckNoParams(m.request.params));
                              ASSIGN_OR_RETURN(Reply reply,
                                               AwaitReply<Reply>(name, timeout, [&](auto done) {
                                                 call(s, std::move(done));
                                               }));
                              return Json(reply);
                            }});
  };
  admin(
      "workers", v1::ListWorkersResponse(),
      [](Scheduler* s, auto d) { s->ListWorkers(std::move(d)); }, "ListWorkers");
  admin(
      "functions", v1::ListFunctionsResponse(),
      [](Scheduler* s, auto d) { s->ListFunctions(std::move(d)); }, "ListFunctions");
  admin(
      "info", v1::SchedulerInfo(), [](Scheduler* s, auto d) { s->GetInfo(std::move(d)); },
      "GetSchedulerInfo");
}

absl::StatusOr<std::string> JsonApi::ReadArtifact(const std::string& digest,
                                                  size_t max_bytes) const {
  RETURN_IF_ERROR(CheckDigest(digest));
  v1::DownloadRequest request;
  request.set_digest(digest);
  ASSIGN_OR_RETURN(std::unique_ptr<ArtifactService::Download> download,
                   scheduler_->artifacts().StartDownload(request));
  std::string bytes;
  v1::DownloadChunk chunk;
  while (true) {
    ASSIGN_OR_RETURN(bool more, download->Next(&chunk));
    if (!more) break;
    if (chunk.total_size() > max_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "artifact ", digest, " is ", chunk.total_size(), " bytes, over the ", max_bytes,
          " read whole here (download it from /api/v1/artifacts/", digest, "/bytes)"));
    }
    bytes.append(chunk.data());
  }
  return bytes;
}

absl::StatusOr<v1::TypedValue> JsonApi::ReadValue(const std::string& digest) const {
  ASSIGN_OR_RETURN(std::string bytes, ReadArtifact(digest, options_.max_value_bytes));
  v1::TypedValue value;
  if (!value.ParseFromString(bytes)) {
    return absl::FailedPreconditionError(
        absl::StrCat("artifact ", digest, " is a raw payload, not a value (download its /bytes)"));
  }
  return value;
}

std::string JsonApi::RouteOf(const HttpRequest& request) const {
  const std::vector<std::string> segments = Segments(request.path);
  for (const Route& route : routes_) {
    std::vector<std::string> unused;
    if (route.method == request.method && Matches(route.pattern, segments, &unused)) {
      return absl::StrCat("/api/v1/", route.pattern);
    }
  }
  return "other";
}

HttpReply JsonApi::Handle(const HttpRequest& request) const {
  const std::vector<std::string> segments = Segments(request.path);
  std::vector<std::string> allowed;
  for (const Route& route : routes_) {
    Match match{request, {}};
    if (!Matches(route.pattern, segments, &match.captures)) continue;
    if (route.method != request.method) {
      allowed.push_back(route.method);
      continue;
    }
    if (options_.read_only && route.method != "GET") {
      return HttpReply::Error(absl::FailedPreconditionError(
          "read-only: this dashboard shows a finished run's data (sematic ui --data-dir)"));
    }
    absl::StatusOr<HttpReply> reply = route.handle(match);
    return reply.ok() ? *std::move(reply) : HttpReply::Error(reply.status());
  }
  if (!allowed.empty()) {
    HttpReply reply = HttpReply::Error(absl::InvalidArgumentError(
        absl::StrCat(request.method, " ", request.path.substr(0, 200),
                     ": method not allowed (expected ", absl::StrJoin(allowed, " or "), ")")));
    reply.status = 405;
    reply.headers.emplace_back("Allow", absl::StrJoin(allowed, ", "));
    return reply;
  }
  return HttpReply::Error(absl::NotFoundError(absl::StrCat(
      "no route ", request.method, " ", request.path.substr(0, 200), " (see docs/http.md)")));
}

}  // namespace sematic::scheduler::http
