#include "scheduler/http/http_gateway.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "httplib.h"
#include "scheduler/core/await_reply.h"
#include "scheduler/http/event_streams.h"
#include "scheduler/http/json_api.h"
#include "scheduler/http/prometheus.h"

namespace sematic::scheduler::http {
namespace {

namespace fs = std::filesystem;

constexpr char kEventStream[] = "text/event-stream";

HttpRequest FromHttplib(const httplib::Request& req) {
  HttpRequest request;
  request.method = req.method;
  request.path = req.path;
  request.params = QueryParams(req.params.begin(), req.params.end());
  request.body = req.body;
  return request;
}

void Send(const HttpReply& reply, httplib::Response& res) {
  res.status = reply.status;
  for (const auto& [name, value] : reply.headers) res.set_header(name, value);
  res.set_content(reply.body, reply.content_type);
}

void SendError(const absl::Status& status, httplib::Response& res) {
  Send(HttpReply::Error(status), res);
}

// The live streams, so that Stop can end them (their threads wait on them, not on sockets).
class StreamRegistry {
 public:
  template <typename Stream>
  void Add(const std::shared_ptr<Stream>& stream) {
    absl::MutexLock lock(&mu_);
    if (stopped_) {
      stream->Close(absl::UnavailableError("the server is stopping"));
      return;
    }
    closers_[stream.get()] = [weak = std::weak_ptr<Stream>(stream)] {
      if (auto s = weak.lock()) s->Close(absl::UnavailableError("the server is stopping"));
    };
  }
  void Remove(const void* stream) {
    absl::MutexLock lock(&mu_);
    closers_.erase(stream);
  }
  void CloseAll() {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    for (auto& [stream, close] : closers_) close();
  }

 private:
  absl::Mutex mu_;
  std::map<const void*, std::function<void()>> closers_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

// The calling thread's CPU priority while it serves a stream: a nice value of +10 gets it about
// a tenth of what the scheduler's loop gets when they compete for a core, so dashboards never
// slow the scheduler; a stream that falls behind is written in bigger, coalesced pieces.
// Restoring the priority afterwards needs CAP_SYS_NICE; without it the thread stays low.
class LowPriority {
 public:
  static void Enter() {
    const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
    errno = 0;
    const int now = getpriority(PRIO_PROCESS, tid);
    if (errno == 0 && now < kStreamNice) setpriority(PRIO_PROCESS, tid, kStreamNice);
  }
  static void Leave() {
    setpriority(PRIO_PROCESS, static_cast<pid_t>(syscall(SYS_gettid)), 0);  // may be refused
  }

 private:
  static constexpr int kStreamNice = 10;
};

// Streams `stream`'s frames as server-sent events until it ends or the client goes away.
template <typename Stream>
void ServeEvents(std::shared_ptr<Stream> stream, StreamRegistry* registry, absl::Duration keepalive,
                 httplib::Response& res) {
  registry->Add(stream);
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      kEventStream,
      [stream, keepalive](size_t offset, httplib::DataSink& sink) {
        if (offset == 0) LowPriority::Enter();
        std::string frames;
        if (!stream->NextFrames(keepalive, &frames)) {
          sink.done();
          return true;
        }
        if (!sink.write(frames.data(), frames.size())) {
          stream->Close(absl::CancelledError("the client went away"));
          return false;
        }
        return true;
      },
      [stream, registry](bool) {
        // Also when the client disconnected mid-stream: the watch ends at its next event.
        stream->Close(absl::CancelledError("the client went away"));
        registry->Remove(stream.get());
        LowPriority::Leave();
      });
}

class GatewayImpl final : public HttpGateway {
 public:
  GatewayImpl(Scheduler* scheduler, HttpGatewayOptions options)
      : scheduler_(scheduler),
        options_(std::move(options)),
        api_(scheduler, {.read_only = options_.read_only}) {}

  ~GatewayImpl() override { Stop(); }

  absl::Status Bind() {
    const int threads = options_.threads;
    server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server_.set_payload_max_length(size_t{16} << 20);
    server_.set_keep_alive_max_count(1000);
    // Small replies (a job, an event) must not wait for the peer's delayed ACK (40 ms).
    server_.set_tcp_nodelay(true);
    // No compression: Debian's httplib compresses every JSON, JS and CSS reply with brotli at
    // its slowest quality when the browser accepts it (850 ms for the 330 KB bundle, more than
    // sending it). Dropping Accept-Encoding before routing turns that off; the Request is
    // httplib's own non-const object, handed to handlers as const.
    server_.set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
      const_cast<httplib::Request&>(req).headers.erase("Accept-Encoding");
      return httplib::Server::HandlerResponse::Unhandled;
    });
    Routes();
    if (options_.port == 0) {
      port_ = server_.bind_to_any_port(options_.host);
    } else if (server_.bind_to_port(options_.host, options_.port)) {
      port_ = options_.port;
    }
    if (port_ <= 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", options_.host, ":",
                                                 options_.port,
                                                 " (in use? --http-port=0 picks "
                                                 "a free port)"));
    }
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    return absl::OkStatus();
  }

  int port() const override { return port_; }
  std::string url() const override {
    return absl::StrCat("http://", options_.host, ":", port_, "/");
  }

  void Stop() override {
    {
      absl::MutexLock lock(&stop_mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    streams_.CloseAll();
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  // Runs `handle` and counts the request for /metrics.
  template <typename Handle>
  httplib::Server::Handler Counted(std::string route, Handle handle) {
    return [this, route = std::move(route), handle](const httplib::Request& req,
                                                    httplib::Response& res) {
      const absl::Time start = absl::Now();
      handle(req, res);
      stats_.Record(route == "api" ? api_.RouteOf(FromHttplib(req)) : route, res.status,
                    absl::Now() - start);
    };
  }

  void Routes() {
    auto api = [this](const httplib::Request& req, httplib::Response& res) {
      Send(api_.Handle(FromHttplib(req)), res);
    };
    server_.Get(R"(/api/v1/jobs/([^/]+)/events)",
                Counted("/api/v1/jobs/{job_id}/events",
                        [this](const httplib::Request& req, httplib::Response& res) {
                          JobEvents(req, res);
                        }));
    server_.Get(R"(/api/v1/runs/([^/]+)/logs/events)",
                Counted("/api/v1/runs/{run_id}/logs/events",
                        [this](const httplib::Request& req, httplib::Response& res) {
                          LogEvents(req, res);
                        }));
    server_.Get(R"(/api/v1/artifacts/([^/]+)/bytes)",
                Counted("/api/v1/artifacts/{digest}/bytes",
                        [this](const httplib::Request& req, httplib::Response& res) {
                          ArtifactBytes(req, res);
                        }));
    server_.Get(R"(/api/.*)", Counted("api", api));
    server_.Post(R"(/api/.*)", Counted("api", api));
    server_.Get("/metrics", Counted("/metrics", [this](const httplib::Request&,
                                                       httplib::Response& res) { Metrics(res); }));
    server_.Get("/healthz", Counted("/healthz", [this](const httplib::Request&,
                                                       httplib::Response& res) { Health(res); }));
    if (!options_.ui_dir.empty() && fs::exists(fs::path(options_.ui_dir) / "index.html")) {
      // Files of the app first (immutable assets, index.html), then the app for any other path
      // so that every view is a link.
      server_.set_mount_point("/", options_.ui_dir);
      server_.Get(R"(/.*)", [this](const httplib::Request&, httplib::Response& res) {
        std::ifstream index(fs::path(options_.ui_dir) / "index.html", std::ios::binary);
        std::ostringstream html;
        html << index.rdbuf();
        res.set_header("Cache-Control", "no-cache");
        res.set_content(html.str(), "text/html; charset=utf-8");
      });
    } else {
      server_.Get(R"(/.*)", [this](const httplib::Request&, httplib::Response& res) {
        res.status = 404;
        res.set_content(
            absl::StrCat("The dashboard is not built here",
                         options_.ui_dir.empty()
                             ? ""
                             : absl::StrCat(" (no ", options_.ui_dir, "/index.html)"),
                         ". Build it with `make build` (it runs npm in ui/); the JSON API is at "
                         "/api/v1/ (docs/http.md).\n"),
            "text/plain; charset=utf-8");
      });
    }
    // Whatever httplib refuses itself (a URI over 8 KiB: 414, a bad request line: 400) keeps
    // its status; the body says it in one line.
    server_.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return;
      res.set_content(absl::StrCat("HTTP ", res.status, "\n"), "text/plain");
    });
    server_.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
          SendError(absl::InternalError("the request failed inside the server"), res);
        });
  }

  void JobEvents(const httplib::Request& req, httplib::Response& res) {
    v1::WatchJobRequest request;
    QueryParams params(req.params.begin(), req.params.end());
    if (absl::Status s = FillFromQuery(params, &request); !s.ok()) return SendError(s, res);
    request.set_job_id(req.matches[1]);
    if (req.has_header("Last-Event-ID")) {
      uint64_t after;
      if (!absl::SimpleAtoi(req.get_header_value("Last-Event-ID"), &after)) {
        return SendError(absl::InvalidArgumentError(
                             "Last-Event-ID: expected the id of an earlier event (a number)"),
                         res);
      }
      request.set_after_sequence(after);
    }
    // An unknown job is an HTTP error, not a stream that ends at once.
    v1::GetJobRequest get;
    get.set_job_id(request.job_id());
    absl::StatusOr<v1::Job> job = AwaitReply<v1::Job>(
        "GetJob", absl::Seconds(30), [&](auto done) { scheduler_->GetJob(get, std::move(done)); });
    if (!job.ok()) return SendError(job.status(), res);
    auto stream = std::make_shared<JobEventStream>(&frames_, options_.max_queued_events);
    scheduler_->WatchJobBatches(request, stream->BatchCallback(), stream->DoneCallback());
    ServeEvents(stream, &streams_, options_.keepalive, res);
  }

  void LogEvents(const httplib::Request& req, httplib::Response& res) {
    v1::GetRunLogsRequest request;
    QueryParams params(req.params.begin(), req.params.end());
    if (absl::Status s = FillFromQuery(params, &request); !s.ok()) return SendError(s, res);
    request.set_run_id(req.matches[1]);
    uint64_t from = request.from_index();
    if (req.has_header("Last-Event-ID") &&
        !absl::SimpleAtoi(req.get_header_value("Last-Event-ID"), &from)) {
      return SendError(absl::InvalidArgumentError(
                           "Last-Event-ID: expected the id of an earlier event (a number)"),
                       res);
    }
    v1::GetRunRequest get;
    get.set_run_id(request.run_id());
    absl::StatusOr<v1::Run> run = AwaitReply<v1::Run>(
        "GetRun", absl::Seconds(30), [&](auto done) { scheduler_->GetRun(get, std::move(done)); });
    if (!run.ok()) return SendError(run.status(), res);
    ServeEvents(std::make_shared<LogTail>(scheduler_, request.run_id(), from), &streams_,
                options_.keepalive, res);
  }

  void ArtifactBytes(const httplib::Request& req, httplib::Response& res) {
    const std::string digest = req.matches[1];
    for (const absl::Status& check :
         {CheckNoParams(QueryParams(req.params.begin(), req.params.end()),
                        "ranges go in the Range header"),
          CheckDigest(digest)}) {
      if (!check.ok()) return SendError(check, res);
    }
    v1::GetArtifactRequest get;
    get.set_digest(digest);
    absl::StatusOr<v1::GetArtifactResponse> meta = scheduler_->artifacts().GetArtifact(get);
    if (!meta.ok()) return SendError(meta.status(), res);
    ArtifactService* artifacts = &scheduler_->artifacts();
    res.set_header("Content-Disposition", absl::StrCat("attachment; filename=\"", digest, "\""));
    res.set_header("Cache-Control", "public, max-age=31536000, immutable");
    // httplib answers Range requests (206, Content-Range) by asking for the range's pieces.
    res.set_content_provider(
        meta->meta().size_bytes(), "application/octet-stream",
        [artifacts, digest](size_t offset, size_t length, httplib::DataSink& sink) {
          v1::DownloadRequest request;
          request.set_digest(digest);
          request.set_offset(offset);
          request.set_limit(length);
          absl::StatusOr<std::unique_ptr<ArtifactService::Download>> download =
              artifacts->StartDownload(request);
          if (!download.ok()) return false;
          v1::DownloadChunk chunk;
          while (true) {
            absl::StatusOr<bool> more = (*download)->Next(&chunk);
            if (!more.ok()) return false;
            if (!*more) break;
            if (!chunk.data().empty() && !sink.write(chunk.data().data(), chunk.data().size())) {
              return false;
            }
          }
          return true;
        });
  }

  void Metrics(httplib::Response& res) {
    absl::StatusOr<std::string> text = PrometheusText(*scheduler_, stats_, options_.rpc_counts);
    if (!text.ok()) return SendError(text.status(), res);
    res.set_content(*text, "text/plain; version=0.0.4; charset=utf-8");
  }

  void Health(httplib::Response& res) {
    absl::StatusOr<v1::SchedulerInfo> info =
        AwaitReply<v1::SchedulerInfo>("GetSchedulerInfo", absl::Seconds(5),
                                      [&](auto done) { scheduler_->GetInfo(std::move(done)); });
    if (!info.ok()) {
      res.status = 503;
      res.set_content(absl::StrCat("NOT_SERVING: ", info.status().message(), "\n"), "text/plain");
      return;
    }
    res.set_content(
        info->recovering() ? "SERVING (recovering: workers may still report)\n" : "SERVING\n",
        "text/plain");
  }

  Scheduler* const scheduler_;
  const HttpGatewayOptions options_;
  JsonApi api_;
  RequestStats stats_;
  FrameCache frames_;
  StreamRegistry streams_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<HttpGateway>> HttpGateway::Start(Scheduler* scheduler,
                                                                HttpGatewayOptions options) {
  auto gateway = std::make_unique<GatewayImpl>(scheduler, std::move(options));
  if (absl::Status bound = gateway->Bind(); !bound.ok()) return bound;
  return gateway;
}

}  // namespace sematic::scheduler::http
