// Finished results a worker holds until the scheduler acknowledges them. Nothing finished is
// lost across a broken stream: after a reconnect every unacknowledged result is sent again, and
// its run is reported as in flight in the Hello so the restarted scheduler keeps the attempt.
//
//   book.Add(result);                                 // a run finished
//   SendBatch(book.TakeUnsent());                     // at the end of the loop turn
//   book.Acknowledge(message.ack());                  // accepted or rejected: forgotten
//   book.MarkAllUnsent();                             // the stream broke
//
// Not thread-safe: the worker's event loop owns it.
#ifndef SEMATIC_WORKER_RESULT_BOOK_H_
#define SEMATIC_WORKER_RESULT_BOOK_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "sematic/v1/worker_service.pb.h"

namespace sematic::worker {

class ResultBook {
 public:
  // Records a finished attempt. A second result for the same attempt replaces the first.
  void Add(v1::RunResult result);

  // Results not yet sent on the current stream, in the order they were added; marks them sent.
  std::vector<v1::RunResult> TakeUnsent();

  // How many TakeUnsent would return.
  size_t UnsentCount() const { return unsent_; }
  bool HasUnsent() const { return unsent_ > 0; }

  // The stream broke: every result still held goes out again on the next one.
  void MarkAllUnsent();

  // Forgets every attempt the ack names (accepted or rejected alike). Returns how many.
  int Acknowledge(const v1::ResultAck& ack);

  // Forgets one attempt (the scheduler abandoned it). True when it was held.
  bool Forget(const v1::RunAttempt& attempt);

  bool Contains(const v1::RunAttempt& attempt) const;
  // Every held attempt, for Hello.in_flight.
  std::vector<v1::RunAttempt> Held() const;
  size_t size() const { return held_.size(); }
  bool empty() const { return held_.empty(); }

 private:
  using Key = std::pair<std::string, int>;
  struct Entry {
    uint64_t order;
    bool sent = false;
    v1::RunResult result;
  };
  static Key KeyOf(const v1::RunAttempt& a) { return {a.run_id(), a.attempt()}; }
  int Erase(const Key& key);  // keeps unsent_ in step

  uint64_t next_order_ = 0;
  std::map<Key, Entry> held_;
  size_t unsent_ = 0;  // entries of held_ not yet sent
};

}  // namespace sematic::worker

#endif  // SEMATIC_WORKER_RESULT_BOOK_H_
