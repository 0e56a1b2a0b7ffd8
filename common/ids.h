// Identifiers for runs and jobs.
//
//   sematic::IdGenerator ids;             // thread-safe
//   std::string run_id = ids.Next();      // "r-5f0c2a9e1b3d4c7a-000001"-like, unique per process
//
// Ids are short, printable, unique within a process and very likely unique across processes
// (a random 64-bit prefix chosen at construction plus a counter). Durable components that need
// fixed-width binary keys (the scheduler's store) derive those from their own counters.
#ifndef SEMATIC_COMMON_IDS_H_
#define SEMATIC_COMMON_IDS_H_

#include <atomic>
#include <cstdint>
#include <string>

namespace sematic {

class IdGenerator {
 public:
  // `tag` starts every id ("r" for runs, "j" for jobs).
  explicit IdGenerator(std::string tag = "r");
  IdGenerator(const IdGenerator&) = delete;
  IdGenerator& operator=(const IdGenerator&) = delete;

  // Thread-safe.
  std::string Next();

 private:
  const std::string prefix_;
  std::atomic<uint64_t> counter_{0};
};

// 64 random bits from the OS entropy source, as 16 hex characters.
std::string RandomHex64();

}  // namespace sematic

#endif  // SEMATIC_COMMON_IDS_H_
