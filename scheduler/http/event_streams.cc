#include "scheduler/http/event_streams.h"

#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "scheduler/http/json_mapping.h"

namespace sematic::scheduler::http {

std::string EndFrame(const absl::Status& status) {
  return absl::StrCat("event: end\ndata: ", ErrorJson(status), "\n\n");
}

// ---- FrameCache -----------------------------------------------------------------------------

PrintedBatch::PrintedBatch(JobEventBatch batch)
    : batch_(std::move(batch)), frames_(batch_->size()) {}

void PrintedBatch::AppendFrame(size_t i, std::string* out) {
  absl::MutexLock lock(&mu_);
  std::optional<std::string>& frame = frames_[i];
  if (!frame) {
    const v1::JobEvent& event = (*batch_)[i];
    frame.emplace();
    if (event.sequence() > 0) absl::StrAppend(&*frame, "id: ", event.sequence(), "\n");
    absl::StrAppend(&*frame, "event: ", event.has_job() ? "job" : "run", "\ndata: ",
                    ToJson(event), "\n\n");
  }
  out->append(*frame);
}

std::shared_ptr<PrintedBatch> FrameCache::FramesOf(const JobEventBatch& batch) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<PrintedBatch>& entry = recent_[batch.get()];
  if (entry != nullptr) return entry;
  entry = std::make_shared<PrintedBatch>(batch);
  order_.push_back(batch.get());
  std::shared_ptr<PrintedBatch> found = entry;
  while (order_.size() > kRecentBatches) {
    recent_.erase(order_.front());
    order_.pop_front();
  }
  return found;
}

// ---- JobEventStream -------------------------------------------------------------------------

std::function<bool(const JobEventBatch&)> JobEventStream::BatchCallback() {
  // The watch co-owns the stream: its callbacks may run after the connection is gone.
  return [self = shared_from_this()](const JobEventBatch& batch) { return self->Push(batch); };
}

std::function<void(absl::Status)> JobEventStream::DoneCallback() {
  return [self = shared_from_this()](absl::Status status) { self->End(std::move(status)); };
}

bool JobEventStream::Push(const JobEventBatch& batch) {
  absl::MutexLock lock(&mu_);
  if (closed_ || end_) return false;
  // A batch larger than the limit (a big registration's turn) is taken when nothing waits.
  if (queued_events_ > 0 && queued_events_ + batch->size() > max_queued_) {
    end_ = absl::ResourceExhaustedError(
        absl::StrCat("this client fell more than ", max_queued_,
                     " events behind; reconnect with Last-Event-ID and re-read the runs"));
    return false;
  }
  queued_events_ += batch->size();
  queue_.push_back(batch);
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
  std::deque<JobEventBatch> batches;
  std::optional<absl::Status> end;
  {
    absl::MutexLock lock(&mu_);
    if (end_sent_) return false;
    mu_.AwaitWithTimeout(absl::Condition(this, &JobEventStream::Ready), wait);
    batches.swap(queue_);
    queued_events_ = 0;
    // Events queued before the end are written before its frame.
    if (end_) {
      end = *end_;
      end_sent_ = true;
    }
  }
  if (batches.empty() && !end) {
    frames->append(": keepalive\n\n");
    return true;
  }
  // A run's progress event (not stored, sequence 0) that a later event of the same run in this
  // write supersedes is left out: a reader that falls behind gets fewer events, not a backlog
  // of states already past. Stored events are all written (they are what Last-Event-ID resumes).
  absl::flat_hash_map<std::string_view, std::pair<size_t, size_t>> last_of_run;
  if (batches.size() > 1 || (batches.size() == 1 && batches[0]->size() > 1)) {
    for (size_t b = 0; b < batches.size(); ++b) {
      for (size_t i = 0; i < batches[b]->size(); ++i) {
        const v1::JobEvent& e = (*batches[b])[i];
        if (e.has_run()) last_of_run[e.run().id()] = {b, i};
      }
    }
  }
  for (size_t b = 0; b < batches.size(); ++b) {
    const std::shared_ptr<PrintedBatch> printed = frames_->FramesOf(batches[b]);
    for (size_t i = 0; i < batches[b]->size(); ++i) {
      const v1::JobEvent& e = (*batches[b])[i];
      if (e.sequence() == 0 && e.has_run() && !last_of_run.empty()) {
        auto last = last_of_run.find(e.run().id());
        if (last != last_of_run.end() && last->second != std::pair{b, i}) continue;
      }
      printed->AppendFrame(i, frames);
    }
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
