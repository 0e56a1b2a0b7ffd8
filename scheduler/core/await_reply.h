// Blocking calls of the Scheduler's callback API, for callers on their own threads (the CLI over
// an embedded engine, the HTTP gateway). Never call from the scheduler's loop thread.
//
//   absl::StatusOr<v1::Job> job = AwaitReply<v1::Job>("GetJob", absl::Seconds(10), [&](auto done) {
//     scheduler->GetJob(request, std::move(done));
//   });
#ifndef SEMATIC_SCHEDULER_CORE_AWAIT_REPLY_H_
#define SEMATIC_SCHEDULER_CORE_AWAIT_REPLY_H_

#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/strings.h"

namespace sematic::scheduler {

// Calls `start` with a callback and waits up to `timeout` for its reply. The reply's storage is
// shared with the callback, so a reply arriving after the timeout writes into live memory.
// DEADLINE_EXCEEDED (naming `method`) when the scheduler does not answer in time.
template <typename T, typename Start>
absl::StatusOr<T> AwaitReply(std::string_view method, absl::Duration timeout, Start start) {
  struct Reply {
    absl::Mutex mu;
    std::optional<absl::StatusOr<T>> value ABSL_GUARDED_BY(mu);
  };
  auto reply = std::make_shared<Reply>();
  start([reply](absl::StatusOr<T> r) {
    absl::MutexLock lock(&reply->mu);
    reply->value = std::move(r);
  });
  absl::MutexLock lock(&reply->mu);
  auto has_value = [&reply]() ABSL_SHARED_LOCKS_REQUIRED(reply->mu) {
    return reply->value.has_value();
  };
  if (!reply->mu.AwaitWithTimeout(absl::Condition(&has_value), timeout)) {
    return absl::DeadlineExceededError(absl::StrCat("the scheduler did not answer ", AsAbsl(method),
                                                    " within ", absl::FormatDuration(timeout)));
  }
  return *std::move(reply->value);
}

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_CORE_AWAIT_REPLY_H_
