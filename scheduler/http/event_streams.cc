#include "scheduler/http/event_streams.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "scheduler/http/json_mapping.h"

namespace sematic::scheduler::http {

std::string EndFrame(const absl::Status& status) {
  return absl::StrCat("event: end\ndata: ", ErrorJson(status), "\n\n");
}

// ---- JobEventStream -------------------------------------------------------------------------

std::function<bool(const v1::JobEvent&)> JobEventStream::EventCallback() {
  // The watch co-owns the stream: its callbacks may run after the connection is gone.
  return [self = shared_from_this()](const v1::JobEvent& event) { return self->Push(event); };
}

std::function<void(absl::Status)> JobEventStream::DoneCallback() {
  return [self = shared_from_this()](absl::Status status) { self->End(std::move(status)); };
}

bool JobEventStream::Push(const v1::JobEvent& event) {
  absl::MutexLock lock(&mu_);
  if (closed_ || end_) return false;
  if (queue_.size() >= max_queued_) {
    end_ = absl::ResourceExhaustedError(absl::StrCat(
        "this client fell more than ", max_queued_,
        " events behind; reconnect with Last-Event-ID and re-read the runs"));
    return false;
  }
  queue_.push_back(event);
  return true;
}

void JobEventStream::End(absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (!end_) end_ = std::move(status);
}

void JobEventStream::Close(absl::Status why) {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  if (!end_) end_ = std::move(why);
}

bool JobEventStream::NextFrames(absl::Duration wait, std::string* frames) {
  std::deque<v1::JobEvent> batch;
  std::optional<absl::Status> end;
  {
    absl::MutexLock lock(&mu_);
    if (end_sent_) return false;
    mu_.AwaitWithTimeout(absl::Condition(this, &JobEventStream::Ready), wait);
    batch.swap(queue_);
    // Events queued before the end are written before its frame.
    if (end_) {
      end = *end_;
      end_sent_ = true;
    }
  }
  if (batch.empty() && !end) {
    frames->append(": keepalive\n\n");
    return true;
  }
  for (const v1::JobEvent& event : batch) {
    if (event.sequence() > 0) absl::StrAppend(frames, "id: ", event.sequence(), "\n");
    absl::StrAppend(frames, "event: ", event.has_job() ? "job" : "run", "\ndata: ",
                    ToJson(event), "\n\n");
  }
  if (end) frames->append(EndFrame(*end));
  return true;
}

// ---- LogTail --------------------------------------------------------------------------------

LogTail::LogTail(Scheduler* scheduler, std::string run_id, uint64_t from_index)
    : scheduler_(scheduler), run_id_(std::move(run_id)), next_index_(from_index) {}

void LogTail::StartRead() {
  in_flight_ = true;
  v1::GetRunLogsRequest request;
  request.set_run_id(run_id_);
  request.set_from_index(next_index_);
  request.set_follow(true);
  scheduler_->ReadRunLogs(std::move(request), 1000,
                          [shared = shared_](absl::StatusOr<RunLogPage> page) {
                            absl::MutexLock lock(&shared->mu);
                            shared->page = std::move(page);
                          });
}

void LogTail::Close(absl::Status why) {
  absl::MutexLock lock(&shared_->mu);
  if (!shared_->closed) shared_->closed = std::move(why);
}

bool LogTail::NextFrames(absl::Duration wait, std::string* frames) {
  if (end_sent_) return false;
  if (!in_flight_) StartRead();
  std::optional<absl::StatusOr<RunLogPage>> page;
  std::optional<absl::Status> closed;
  {
    absl::MutexLock lock(&shared_->mu);
    auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(shared_->mu) {
      return shared_->page.has_value() || shared_->closed.has_value();
    };
    shared_->mu.AwaitWithTimeout(absl::Condition(&ready), wait);
    page.swap(shared_->page);
    closed = shared_->closed;
  }
  auto end = [&](const absl::Status& status) {
    frames->append(EndFrame(status));
    end_sent_ = true;
    return true;
  };
  if (closed) return end(*closed);
  if (!page) {
    frames->append(": keepalive\n\n");
    return true;
  }
  in_flight_ = false;
  if (!page->ok()) return end(page->status());
  v1::LogLines& lines = (*page)->lines;
  // A follow read answers empty only once the run has ended with nothing more to read.
  if (lines.entries().empty()) return end(absl::OkStatus());
  next_index_ += lines.entries_size();
  absl::StrAppend(frames, "id: ", next_index_, "\nevent: logs\ndata: ", ToJson(lines), "\n\n");
  return true;
}

}  // namespace sematic::scheduler::http
