// Identities of jobs and runs, their printable ids, and the store's binary key encoding.
//
//   RunKey key{.job = 42, .index = 7};
//   std::string id = FormatRunId(key);                 // "r00000000002a-0000000007"
//   ASSIGN_OR_RETURN(RunKey parsed, ParseRunId(id));   // INVALID_ARGUMENT if malformed
//   std::string bytes = EncodeRunKey(key);             // 16 bytes, big-endian job then index
//
// Binary keys are fixed-width big-endian integers, so byte order equals numeric order: a job's
// runs are one contiguous range in creation order, and jobs never interleave. Printable ids are
// fixed-width lowercase hex, so they sort like the keys.
//
// Everything here is a pure function: thread-safe.
#ifndef SEMATIC_SCHEDULER_STORE_KEYS_H_
#define SEMATIC_SCHEDULER_STORE_KEYS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace sematic::scheduler {

// A run's identity: its job and its creation index within the job.
struct RunKey {
  uint64_t job = 0;
  uint64_t index = 0;
  friend bool operator==(const RunKey&, const RunKey&) = default;
  friend auto operator<=>(const RunKey&, const RunKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const RunKey& k) {
    return H::combine(std::move(h), k.job, k.index);
  }
};

// The largest job id and run index that have a printable form (12 and 10 hex digits).
inline constexpr uint64_t kMaxJobId = (uint64_t{1} << 48) - 1;
inline constexpr uint64_t kMaxRunIndex = (uint64_t{1} << 40) - 1;

// "j" + 12 lowercase hex digits. Requires job <= kMaxJobId.
std::string FormatJobId(uint64_t job);
// "r" + 12 hex digits (job) + "-" + 10 hex digits (index). Requires the bounds above.
std::string FormatRunId(RunKey key);
// Inverses of the above. INVALID_ARGUMENT naming the malformed id (upper-case hex, wrong
// length or prefix are all malformed: each id has exactly one spelling).
absl::StatusOr<uint64_t> ParseJobId(std::string_view id);
absl::StatusOr<RunKey> ParseRunId(std::string_view id);

// ---- Binary keys (the store's on-disk format) -------------------------------------------------

inline constexpr size_t kJobKeySize = 8;
inline constexpr size_t kRunKeySize = 16;

// Appends `v` as 8 big-endian bytes.
void AppendUint64(std::string* out, uint64_t v);
// Reads 8 big-endian bytes. Requires bytes.size() >= 8.
uint64_t ReadUint64(std::string_view bytes);

std::string EncodeJobKey(uint64_t job);                        // job(8)
std::string EncodeRunKey(RunKey run);                          // job(8) index(8)
std::string EncodeJobSequenceKey(uint64_t job, uint64_t seq);  // job(8) seq(8): events
std::string EncodeRunIndexKey(RunKey run, uint64_t index);     // run(16) index(8): logs, metrics
std::string EncodeDepKey(RunKey upstream, RunKey downstream);  // up(16) down(16)

// Decoders. INVALID_ARGUMENT for a key of the wrong size (the store reports such a stored key
// as DATA_LOSS).
absl::StatusOr<uint64_t> DecodeJobKey(std::string_view key);
absl::StatusOr<RunKey> DecodeRunKey(std::string_view key);
// Returns (upstream, downstream).
absl::StatusOr<std::pair<RunKey, RunKey>> DecodeDepKey(std::string_view key);

}  // namespace sematic::scheduler

#endif  // SEMATIC_SCHEDULER_STORE_KEYS_H_
