// Server-sent event streams of the HTTP gateway, apart from sockets: what the scheduler's loop
// hands over and what a connection's thread writes (docs/http.md, "Server-sent events").
//
//   auto stream = std::make_shared<JobEventStream>(&frame_cache, /*max_queued=*/65536);
//   scheduler->WatchJobBatches(request, stream->BatchCallback(), stream->DoneCallback());
//   std::string frames;
//   while (stream->NextFrames(absl::Seconds(15), &frames)) write(frames);
#ifndef SEMATIC_SCHEDULER_HTTP_EVENT_STREAMS_H_
#define SEMATIC_SCHEDULER_HTTP_EVENT_STREAMS_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "scheduler/core/scheduler.h"
#include "sematic/v1/job.pb.h"

namespace sematic::scheduler::http {

// The SSE frames of one batch of events, each printed the first time any stream writes it:
// frames a stream leaves out (superseded progress) are never printed. Thread-safe.
class PrintedBatch {
 public:
  explicit PrintedBatch(JobEventBatch batch);
  const std::vector<v1::JobEvent>& events() const { return *batch_; }
  // Appends event `i`'s frame to `out`.
  void AppendFrame(size_t i, std::string* out);

 private:
  const JobEventBatch batch_;
  absl::Mutex mu_;
  std::vector<std::optional<std::string>> frames_ ABSL_GUARDED_BY(mu_);
};

// The printed frames of recent batches, shared by every stream that writes them: the scheduler
// hands each loop turn's events to every watcher as one shared batch, so ten dashboards on one
// job cost one JSON print per event written, not ten. Thread-safe.
class FrameCache {
 public:
  std::shared_ptr<PrintedBatch> FramesOf(const JobEventBatch& batch);

 private:
  static constexpr size_t kRecentBatches = 512;
  absl::Mutex mu_;
  // Recent batches by address (an entry keeps its batch alive, so an address is not reused
  // while it is here), and the order they came in (the oldest are forgotten).
  absl::flat_hash_map<const void*, std::shared_ptr<PrintedBatch>> recent_ ABSL_GUARDED_BY(mu_);
  std::deque<const void*> order_ ABSL_GUARDED_BY(mu_);
};

// One watcher's events. The loop thread hands over shared batches (no copy, no JSON on the
// loop); the connection's thread writes their frames.
class JobEventStream : public std::enable_shared_from_this<JobEventStream> {
 public:
  JobEventStream(FrameCache* frames, size_t max_queued)
      : frames_(frames), max_queued_(max_queued) {}

  // For Scheduler::WatchJobBatches. The batch callback returns false (ending the watch) once
  // the reader is gone or too far behind.
  std::function<bool(const JobEventBatch&)> BatchCallback();
  std::function<void(absl::Status)> DoneCallback();

  // Waits up to `wait` and appends to `frames` the SSE frames of what arrived (a keepalive
  // comment if nothing did). False once the stream has ended and its last frame was appended.
  bool NextFrames(absl::Duration wait, std::string* frames);

  // The reader went away (or the gateway stops): the watch ends at the next event.
  void Close(absl::Status why);

 private:
  bool Push(const JobEventBatch& batch);
  void End(absl::Status status);
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty() || end_; }

  FrameCache* const frames_;
  const size_t max_queued_;  // events
  absl::Mutex mu_;
  std::deque<JobEventBatch> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_events_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<absl::Status> end_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool end_sent_ ABSL_GUARDED_BY(mu_) = false;
};

// A live tail of one run's log: one follow read in flight at a time, its reply picked up by the
// connection's thread (the only caller of NextFrames).
class LogTail {
 public:
  LogTail(Scheduler* scheduler, std::string run_id, uint64_t from_index);

  // As JobEventStream::NextFrames: `event: logs` frames with `id:` the index after the batch,
  // then `event: end` once the run has ended and every line was sent.
  bool NextFrames(absl::Duration wait, std::string* frames);
  // From any thread: the tail ends with `why` at the reader's next call.
  void Close(absl::Status why);

 private:
  void StartRead();

  Scheduler* const scheduler_;
  const std::string run_id_;
  // Shared with the read's callback, which may run after this object is gone.
  struct Shared {
    absl::Mutex mu;
    std::optional<absl::StatusOr<RunLogPage>> page ABSL_GUARDED_BY(mu);
    std::optional<absl::Status> closed ABSL_GUARDED_BY(mu);
  };
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  // The reader's own state.
  uint64_t next_index_;
  bool in_flight_ = false;
  bool end_sent_ = false;
};

// "event: end" with the HttpError JSON of `status`.
std::string EndFrame(const absl::Status& status);

}  // namespace sematic::scheduler::http

#endif  // SEMATIC_SCHEDULER_HTTP_EVENT_STREAMS_H_
