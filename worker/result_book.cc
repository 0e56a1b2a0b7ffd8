#include "worker/result_book.h"

#include <algorithm>

namespace sematic::worker {

void ResultBook::Add(v1::RunResult result) {
  Key key{result.run_id(), result.attempt()};
  auto [it, inserted] = held_.try_emplace(std::move(key));
  if (inserted || it->second.sent) ++unsent_;  // new, or replacing one already sent
  it->second = Entry{next_order_++, false, std::move(result)};
}

std::vector<v1::RunResult> ResultBook::TakeUnsent() {
  std::vector<Entry*> unsent;
  for (auto& [key, h] : held_) {
    if (!h.sent) unsent.push_back(&h);
  }
  std::sort(unsent.begin(), unsent.end(),
            [](const Entry* a, const Entry* b) { return a->order < b->order; });
  std::vector<v1::RunResult> out;
  out.reserve(unsent.size());
  for (Entry* h : unsent) {
    h->sent = true;
    out.push_back(h->result);
  }
  unsent_ = 0;
  return out;
}

void ResultBook::MarkAllUnsent() {
  for (auto& [key, h] : held_) h.sent = false;
  unsent_ = held_.size();
}

int ResultBook::Acknowledge(const v1::ResultAck& ack) {
  int forgotten = 0;
  for (const v1::RunAttempt& a : ack.accepted()) forgotten += Erase(KeyOf(a));
  for (const v1::RunAttempt& a : ack.rejected()) forgotten += Erase(KeyOf(a));
  return forgotten;
}

bool ResultBook::Forget(const v1::RunAttempt& attempt) { return Erase(KeyOf(attempt)) > 0; }

int ResultBook::Erase(const Key& key) {
  auto it = held_.find(key);
  if (it == held_.end()) return 0;
  if (!it->second.sent) --unsent_;
  held_.erase(it);
  return 1;
}

bool ResultBook::Contains(const v1::RunAttempt& attempt) const {
  return held_.contains(KeyOf(attempt));
}

std::vector<v1::RunAttempt> ResultBook::Held() const {
  std::vector<v1::RunAttempt> out;
  for (const auto& [key, h] : held_) {
    v1::RunAttempt& a = out.emplace_back();
    a.set_run_id(key.first);
    a.set_attempt(key.second);
  }
  return out;
}

}  // namespace sematic::worker
