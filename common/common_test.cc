#include <algorithm>
#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/digest.h"
#include "common/ids.h"
#include "common/status_macros.h"
#include "common/status_matchers.h"
#include "gtest/gtest.h"

namespace sematic {
namespace {

using ::sematic::testing::IsOk;
using ::sematic::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(DigestTest, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(DigestTest, StreamingEqualsOneShot) {
  std::string data(100000, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31);
  Sha256 h;
  h.Update(std::string_view(data).substr(0, 777));
  h.Update(std::string_view(data).substr(777));
  EXPECT_EQ(h.HexDigest(), Sha256Hex(data));
}

TEST(DigestTest, BackgroundHashEqualsOneShotWhateverTheChunking) {
  std::string data(300000, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131);
  BackgroundSha256 h;
  size_t at = 0;
  for (size_t n : {0, 1, 63, 64, 65, 4096, 70000, 100000}) {
    h.Update(std::string_view(data).substr(at, n));  // the next Update waits for this one
    at += n;
  }
  h.Update(std::string_view(data).substr(at));
  EXPECT_EQ(h.HexDigest(), Sha256Hex(data));

  BackgroundSha256 empty;
  EXPECT_EQ(empty.HexDigest(), Sha256Hex(""));
}

TEST(DigestTest, ABufferIsFreeToReuseOnceWaitReturns) {
  // The way an upload uses it: one buffer, refilled with each chunk.
  const std::string data = "the first chunk|and the second one, longer";
  const size_t split = data.find('|') + 1;
  std::string buffer = data.substr(0, split);
  BackgroundSha256 h;
  h.Update(buffer);
  h.Wait();
  buffer.assign(data.substr(split));
  h.Update(buffer);
  h.Wait();
  buffer.assign("scribbled over after the last Wait");
  EXPECT_EQ(h.HexDigest(), Sha256Hex(data));
}

TEST(DigestTest, DestroyingABackgroundHashMidStreamFinishesTheChunkInHand) {
  auto buffer = std::make_unique<std::string>(8 << 20, 'z');
  {
    BackgroundSha256 h;
    h.Update(*buffer);
  }  // an abandoned upload: no Wait, no HexDigest; the thread is done with the chunk here
  buffer.reset();  // freeing it now must be safe (the ASan and TSan builds catch a late read)
}

TEST(DigestTest, HexHelpers) {
  EXPECT_EQ(ToHex(std::string("\x00\xff\x10", 3)), "00ff10");
  EXPECT_TRUE(IsSha256Hex(Sha256Hex("a")));
  EXPECT_FALSE(IsSha256Hex("abc"));
  EXPECT_FALSE(IsSha256Hex(std::string(64, 'G')));
}

TEST(IdsTest, UniqueAcrossThreads) {
  IdGenerator ids("r");
  absl::Mutex mu;
  std::set<std::string> seen;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        std::string id = ids.Next();
        absl::MutexLock lock(&mu);
        seen.insert(std::move(id));
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(seen.size(), 4000u);
  EXPECT_EQ(seen.begin()->substr(0, 2), "r-");
}

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::Status Check(bool ok) { return ok ? absl::OkStatus() : absl::NotFoundError("missing"); }

absl::StatusOr<int> Quarter(int x) {
  RETURN_IF_ERROR(Check(x >= 0));
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(h, Half(h));
  return h;
}

TEST(StatusMacrosTest, PropagateAndAssign) {
  EXPECT_EQ(Quarter(8).value(), 2);
  EXPECT_THAT(Quarter(6), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("odd")));
  EXPECT_THAT(Quarter(-4), StatusIs(absl::StatusCode::kNotFound, "missing"));
  EXPECT_THAT(Quarter(-4), Not(IsOk()));
}

}  // namespace
}  // namespace sematic

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/event_loop.h"
#include "common/thread_pool.h"

namespace sematic {
namespace {

TEST(EventLoopTest, RunsInOrderOnOneThreadAndEndsTurns) {
  std::vector<int> order;
  int turns = 0;
  {
    EventLoop loop([&] { ++turns; });
    std::thread::id loop_thread;
    loop.RunSync([&] { loop_thread = std::this_thread::get_id(); });
    for (int i = 0; i < 100; ++i) {
      loop.Post([&, i] {
        EXPECT_EQ(std::this_thread::get_id(), loop_thread);
        order.push_back(i);
      });
    }
    loop.RunSync([] {});
  }
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
  EXPECT_GE(turns, 2);
  EXPECT_LE(turns, 102);
}

TEST(EventLoopTest, TimersFireInDeadlineOrder) {
  EventLoop loop;
  std::vector<int> fired;
  absl::Notification done;
  const absl::Time now = absl::Now();
  loop.RunAt(now + absl::Milliseconds(30), [&] {
    fired.push_back(2);
    done.Notify();
  });
  loop.RunAt(now + absl::Milliseconds(10), [&] { fired.push_back(1); });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  loop.RunSync([&] { EXPECT_EQ(fired, (std::vector<int>{1, 2})); });
}

TEST(ThreadPoolTest, RunsEveryClosureWithAtMostSizeAtOnce) {
  absl::Mutex mu;
  int running = 0, most = 0, ran = 0;
  {
    ThreadPool pool(3);
    EXPECT_EQ(pool.size(), 3);
    for (int i = 0; i < 200; ++i) {
      pool.Schedule([&] {
        {
          absl::MutexLock lock(&mu);
          most = std::max(most, ++running);
        }
        std::this_thread::yield();
        absl::MutexLock lock(&mu);
        --running;
        ++ran;
      });
    }
  }  // runs what is queued, then joins
  EXPECT_EQ(ran, 200);
  EXPECT_GE(most, 1);
  EXPECT_LE(most, 3);
}

TEST(ThreadPoolTest, OneThreadRunsClosuresInOrder) {
  std::vector<int> order;
  {
    ThreadPool pool(1);
    absl::Notification release;
    pool.Schedule([&] { release.WaitForNotification(); });
    for (int i = 0; i < 50; ++i) pool.Schedule([&order, i] { order.push_back(i); });
    release.Notify();
  }
  ASSERT_EQ(order.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[i], i);
}

// Bounded wait (no sleep as synchronisation) until `pool` has `n` idle threads.
bool AwaitIdle(ThreadPool& pool, int n) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (pool.idle_threads() != n) {
    if (absl::Now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// The thread that went idle last takes the next closure: the one that just finished.
TEST(ThreadPoolTest, TheThreadIdleLastTakesTheNextClosure) {
  ThreadPool pool(4);
  ASSERT_TRUE(AwaitIdle(pool, 4));
  for (int round = 0; round < 5; ++round) {
    std::thread::id first, second;
    absl::Notification ran_first, ran_second;
    pool.Schedule([&] {
      first = std::this_thread::get_id();
      ran_first.Notify();
    });
    ASSERT_TRUE(ran_first.WaitForNotificationWithTimeout(absl::Seconds(30)));
    ASSERT_TRUE(AwaitIdle(pool, 4));
    pool.Schedule([&] {
      second = std::this_thread::get_id();
      ran_second.Notify();
    });
    ASSERT_TRUE(ran_second.WaitForNotificationWithTimeout(absl::Seconds(30)));
    EXPECT_EQ(first, second);
    ASSERT_TRUE(AwaitIdle(pool, 4));
  }
}

// An idle loop lends its turn to the caller: the closure and the turn-end hook run on the
// calling thread, which counts as the loop's (InLoop) meanwhile.
TEST(EventLoopTest, AnIdleLoopRunsAClosureOnTheCallersThread) {
  absl::Mutex mu;
  std::vector<std::thread::id> hook_threads;
  EventLoop loop([&] {
    absl::MutexLock lock(&mu);
    hook_threads.push_back(std::this_thread::get_id());
  });
  struct Attempt {
    std::thread::id ran_on;
    bool in_loop = false;
  };
  // The loop thread may still be ending a turn right after RunSync returns: then the closure is
  // posted, and the next attempt follows once the loop drained (bounded).
  bool lent = false;
  auto attempt = std::make_shared<Attempt>();
  for (int i = 0; i < 1000 && !lent; ++i) {
    loop.RunSync([] {});
    attempt = std::make_shared<Attempt>();
    lent = loop.PostOrRunHere([&loop, attempt] {
      attempt->ran_on = std::this_thread::get_id();
      attempt->in_loop = loop.InLoop();
    });
  }
  ASSERT_TRUE(lent);
  EXPECT_EQ(attempt->ran_on, std::this_thread::get_id());
  EXPECT_TRUE(attempt->in_loop);
  EXPECT_FALSE(loop.InLoop());
  absl::MutexLock lock(&mu);
  ASSERT_FALSE(hook_threads.empty());
  EXPECT_EQ(hook_threads.back(), std::this_thread::get_id());  // nothing ran since
}

// While the loop runs a turn (or has work queued), the closure is posted: it runs after what
// came before it, on the loop thread, never beside another closure.
TEST(EventLoopTest, ABusyLoopQueuesTheClosureInOrder) {
  EventLoop loop;
  absl::Notification entered, release;
  std::vector<int> order;
  std::thread::id loop_thread;
  loop.Post([&] {
    loop_thread = std::this_thread::get_id();
    entered.Notify();
    release.WaitForNotification();
    order.push_back(1);
  });
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(30)));
  std::thread::id ran_on;
  EXPECT_FALSE(loop.PostOrRunHere([&] {
    ran_on = std::this_thread::get_id();
    order.push_back(2);
  }));
  release.Notify();
  loop.RunSync([] {});
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(ran_on, loop_thread);
}

// Many threads lending and posting at once: closures never overlap and none is lost.
TEST(EventLoopTest, LentTurnsNeverOverlapTheLoopsOwn) {
  EventLoop loop;
  std::atomic<int> inside{0};
  int ran = 0;  // loop-owned
  bool overlapped = false;
  auto body = [&] {
    if (inside.fetch_add(1) != 0) overlapped = true;
    ++ran;
    inside.fetch_sub(1);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        if ((i + t) % 2 == 0) {
          loop.PostOrRunHere(body);
        } else {
          loop.Post(body);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  loop.RunSync([&] {
    EXPECT_EQ(ran, 2000);
    EXPECT_FALSE(overlapped);
  });
}

// ScheduleHere from a pool thread: the closure runs on that thread right after the current one,
// even while other threads are idle; from elsewhere it is Schedule.
TEST(ThreadPoolTest, ScheduleHereRunsNextOnTheSameThread) {
  ThreadPool pool(4);
  ASSERT_TRUE(AwaitIdle(pool, 4));
  std::thread::id first, second, third;
  absl::Notification done;
  pool.Schedule([&] {
    first = std::this_thread::get_id();
    pool.ScheduleHere([&] {
      second = std::this_thread::get_id();
      pool.ScheduleHere([&] {
        third = std::this_thread::get_id();
        done.Notify();
      });
    });
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(first, second);
  EXPECT_EQ(second, third);
  absl::Notification elsewhere;
  pool.ScheduleHere([&] { elsewhere.Notify(); });  // not a pool thread: queued as usual
  EXPECT_TRUE(elsewhere.WaitForNotificationWithTimeout(absl::Seconds(30)));
}

TEST(EventLoopTest, DestructionRunsWhatWasPosted) {
  int ran = 0;
  {
    EventLoop loop;
    for (int i = 0; i < 1000; ++i) loop.Post([&] { ++ran; });
  }
  EXPECT_EQ(ran, 1000);
}

}  // namespace
}  // namespace sematic
