#include "worker/artifact_cache.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/digest.h"
#include "common/ids.h"
#include "common/strings.h"

namespace sematic::worker {
namespace fs = std::filesystem;

absl::StatusOr<std::unique_ptr<ArtifactCache>> ArtifactCache::Open(std::string dir,
                                                                   int64_t max_bytes) {
  if (max_bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cache max_bytes: expected >= 0, got ", max_bytes));
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cache dir ", dir, ": ", ec.message()));
  }
  std::unique_ptr<ArtifactCache> cache(new ArtifactCache(dir, max_bytes));
  struct Found {
    fs::file_time_type mtime;
    std::string digest;
    int64_t size;
  };
  std::vector<Found> found;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file()) continue;
    if (!IsSha256Hex(name)) {
      fs::remove(e.path(), ec);  // a temporary file of an interrupted insert
      continue;
    }
    found.push_back({e.last_write_time(), name, static_cast<int64_t>(e.file_size())});
  }
  if (ec) return absl::UnavailableError(absl::StrCat("cache dir ", dir, ": ", ec.message()));
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.mtime > b.mtime; });
  absl::MutexLock lock(&cache->mu_);
  for (const Found& f : found) {
    cache->lru_.push_back(f.digest);
    cache->entries_[f.digest] = Entry{f.size, std::prev(cache->lru_.end())};
    cache->total_ += f.size;
  }
  cache->EvictLocked();
  return cache;
}

std::string ArtifactCache::PathOf(std::string_view digest) const {
  return (fs::path(dir_) / std::string(digest)).string();
}

std::optional<std::string> ArtifactCache::Get(std::string_view digest) {
  std::ifstream in;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(AsAbsl(digest));
    if (it == entries_.end()) return std::nullopt;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    // Opened under the lock: an eviction racing with the read unlinks a file we already hold.
    in.open(PathOf(digest), std::ios::binary);
  }
  if (!in) return std::nullopt;
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return std::nullopt;
  return bytes;
}

absl::Status ArtifactCache::Insert(std::string_view digest, std::string_view bytes) {
  if (Sha256Hex(bytes) != digest) {
    return absl::InvalidArgumentError(
        absl::StrCat("artifact ", AsAbsl(digest), ": the bytes have another SHA-256"));
  }
  const int64_t size = static_cast<int64_t>(bytes.size());
  if (size > max_bytes_ || Contains(digest)) return absl::OkStatus();
  // Write aside, then rename: a reader never sees a partial file.
  const std::string tmp = PathOf(absl::StrCat(AsAbsl(digest), ".tmp-", RandomHex64()));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      return absl::UnavailableError(absl::StrCat("cache: cannot write ", tmp));
    }
  }
  std::error_code ec;
  fs::rename(tmp, PathOf(digest), ec);
  if (ec) {
    fs::remove(tmp, ec);
    return absl::UnavailableError(absl::StrCat("cache: cannot store ", AsAbsl(digest), ": ",
                                               ec.message()));
  }
  absl::MutexLock lock(&mu_);
  if (entries_.contains(AsAbsl(digest))) return absl::OkStatus();  // a concurrent insert won
  lru_.emplace_front(digest);
  entries_[std::string(digest)] = Entry{size, lru_.begin()};
  total_ += size;
  EvictLocked();
  return absl::OkStatus();
}

void ArtifactCache::EvictLocked() {
  while (total_ > max_bytes_ && !lru_.empty()) {
    const std::string victim = lru_.back();
    lru_.pop_back();
    auto it = entries_.find(victim);
    total_ -= it->second.size;
    entries_.erase(it);
    std::error_code ec;
    fs::remove(PathOf(victim), ec);
  }
}

bool ArtifactCache::Contains(std::string_view digest) const {
  absl::MutexLock lock(&mu_);
  return entries_.contains(AsAbsl(digest));
}

int64_t ArtifactCache::size_bytes() const {
  absl::MutexLock lock(&mu_);
  return total_;
}

}  // namespace sematic::worker
