#include "worker/result_book.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sematic::worker {
namespace {

v1::RunResult Result(const std::string& run, int attempt, int64_t value) {
  v1::RunResult r;
  r.set_run_id(run);
  r.set_attempt(attempt);
  r.mutable_value()->set_int_value(value);
  return r;
}

v1::RunAttempt Attempt(const std::string& run, int attempt) {
  v1::RunAttempt a;
  a.set_run_id(run);
  a.set_attempt(attempt);
  return a;
}

std::vector<std::string> Ids(const std::vector<v1::RunResult>& results) {
  std::vector<std::string> out;
  for (const auto& r : results) out.push_back(r.run_id() + "/" + std::to_string(r.attempt()));
  return out;
}

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(ResultBookTest, SendsEachResultOnceUntilTheStreamBreaks) {
  ResultBook book;
  book.Add(Result("r2", 1, 20));
  book.Add(Result("r1", 1, 10));
  EXPECT_THAT(Ids(book.TakeUnsent()), ElementsAre("r2/1", "r1/1"));  // finish order
  EXPECT_THAT(book.TakeUnsent(), IsEmpty());
  book.Add(Result("r3", 2, 30));
  EXPECT_THAT(Ids(book.TakeUnsent()), ElementsAre("r3/2"));
  book.MarkAllUnsent();
  EXPECT_THAT(Ids(book.TakeUnsent()), ElementsAre("r2/1", "r1/1", "r3/2"));
}

// UnsentCount always equals what TakeUnsent would return, whatever came before.
TEST(ResultBookTest, UnsentCountMatchesWhatTakeUnsentReturns) {
  ResultBook book;
  auto check = [&](size_t expected) {
    EXPECT_EQ(book.UnsentCount(), expected);
    EXPECT_EQ(book.HasUnsent(), expected > 0);
  };
  check(0);
  book.Add(Result("r1", 1, 10));
  book.Add(Result("r2", 1, 20));
  book.Add(Result("r2", 1, 21));  // replaces an unsent one
  check(2);
  ASSERT_EQ(book.TakeUnsent().size(), 2u);
  check(0);
  book.Add(Result("r1", 1, 11));  // replaces a sent one: unsent again
  book.Add(Result("r3", 1, 30));
  check(2);
  v1::ResultAck ack;
  *ack.add_accepted() = Attempt("r3", 1);  // an unsent one acknowledged
  *ack.add_rejected() = Attempt("r9", 1);  // unknown
  EXPECT_EQ(book.Acknowledge(ack), 1);
  check(1);
  book.MarkAllUnsent();  // r1 and r2
  check(2);
  EXPECT_TRUE(book.Forget(Attempt("r2", 1)));
  EXPECT_FALSE(book.Forget(Attempt("r2", 1)));
  check(1);
  EXPECT_EQ(book.TakeUnsent().size(), 1u);
  check(0);
}

TEST(ResultBookTest, AcksForgetAcceptedAndRejectedAttemptsOnly) {
  ResultBook book;
  book.Add(Result("r1", 1, 10));
  book.Add(Result("r2", 1, 20));
  book.Add(Result("r3", 1, 30));
  book.TakeUnsent();
  v1::ResultAck ack;
  *ack.add_accepted() = Attempt("r1", 1);
  *ack.add_rejected() = Attempt("r3", 1);
  *ack.add_accepted() = Attempt("r2", 7);  // another attempt: not ours
  EXPECT_EQ(book.Acknowledge(ack), 2);
  EXPECT_EQ(book.size(), 1u);
  EXPECT_TRUE(book.Contains(Attempt("r2", 1)));
  EXPECT_FALSE(book.Contains(Attempt("r1", 1)));
  ASSERT_EQ(book.Held().size(), 1u);
  EXPECT_EQ(book.Held()[0].run_id(), "r2");
  book.MarkAllUnsent();
  EXPECT_THAT(Ids(book.TakeUnsent()), ElementsAre("r2/1"));
  EXPECT_TRUE(book.Forget(Attempt("r2", 1)));
  EXPECT_FALSE(book.Forget(Attempt("r2", 1)));
  EXPECT_TRUE(book.empty());
}

TEST(ResultBookTest, ALaterResultForTheSameAttemptReplacesTheFirst) {
  ResultBook book;
  book.Add(Result("r1", 1, 10));
  book.Add(Result("r1", 1, 11));
  std::vector<v1::RunResult> out = book.TakeUnsent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value().int_value(), 11);
}

}  // namespace
}  // namespace sematic::worker
