// A worker's local cache of artifacts, keyed by digest: files under one directory, capped in
// total size, least recently used evicted first. Entries are verified on insert (their SHA-256
// must be their name), so a hit never needs a second check.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<ArtifactCache> cache,
//                    ArtifactCache::Open("/var/cache/sematic", int64_t{10} << 30));
//   RETURN_IF_ERROR(cache->Insert(digest, bytes));
//   std::optional<std::string> hit = cache->Get(digest);
//
// Thread-safe (one mutex; file reads and writes happen outside it). Files found in the
// directory at Open are adopted, oldest modification first in eviction order.
#ifndef SEMATIC_WORKER_ARTIFACT_CACHE_H_
#define SEMATIC_WORKER_ARTIFACT_CACHE_H_

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace sematic::worker {

class ArtifactCache {
 public:
  // Creates `dir` if needed. INVALID_ARGUMENT for max_bytes < 0; the filesystem's error when
  // the directory cannot be created or listed.
  static absl::StatusOr<std::unique_ptr<ArtifactCache>> Open(std::string dir, int64_t max_bytes);
  ArtifactCache(const ArtifactCache&) = delete;
  ArtifactCache& operator=(const ArtifactCache&) = delete;

  // The artifact's bytes and marks it most recently used; nullopt when absent (or unreadable).
  std::optional<std::string> Get(std::string_view digest);

  // Stores `bytes` as `digest`, then evicts least recently used entries until the total fits.
  // INVALID_ARGUMENT when SHA-256(bytes) is not `digest`; OK without storing when `bytes`
  // alone exceed the cap; the filesystem's error when writing fails.
  absl::Status Insert(std::string_view digest, std::string_view bytes);

  bool Contains(std::string_view digest) const;
  int64_t size_bytes() const;
  int64_t max_bytes() const { return max_bytes_; }

 private:
  struct Entry {
    int64_t size;
    std::list<std::string>::iterator lru;  // position in lru_
  };
  ArtifactCache(std::string dir, int64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {}
  std::string PathOf(std::string_view digest) const;
  void EvictLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string dir_;
  const int64_t max_bytes_;
  mutable absl::Mutex mu_;
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);  // front: most recently used
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  int64_t total_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace sematic::worker

#endif  // SEMATIC_WORKER_ARTIFACT_CACHE_H_
