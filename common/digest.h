// SHA-256 digests, the identity of every artifact.
//
//   std::string id = sematic::Sha256Hex(bytes);          // 64 lowercase hex characters
//   sematic::Sha256 h; h.Update(a); h.Update(b);          // streaming, for large values
//   std::string id2 = h.HexDigest();
//   sematic::BackgroundSha256 bg; bg.Update(a); Write(a); bg.Wait();  // hash beside other work
#ifndef SEMATIC_COMMON_DIGEST_H_
#define SEMATIC_COMMON_DIGEST_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace sematic {

// Incremental SHA-256 over OpenSSL's libcrypto. Not thread-safe; movable, not copyable.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view data);
  // Finishes the hash; the object must not be updated afterwards.
  std::array<uint8_t, 32> Digest();
  std::string HexDigest();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Incremental SHA-256 computed on a thread of its own, so that the caller can do something else
// with the same bytes meanwhile (write them to disk) instead of hashing them after. One chunk is
// in hand at a time and the caller keeps ownership of it: no copy, no queue.
//
//   BackgroundSha256 hash;
//   hash.Update(chunk);      // returns at once; `chunk` must not change until Wait()
//   Write(chunk);
//   hash.Wait();             // now `chunk` may be reused
//   std::string id = hash.HexDigest();
//
// Used by one caller at a time (the hashing thread is internal). Destroying it waits for the
// chunk in hand and joins the thread.
class BackgroundSha256 {
 public:
  BackgroundSha256();
  ~BackgroundSha256();
  BackgroundSha256(const BackgroundSha256&) = delete;
  BackgroundSha256& operator=(const BackgroundSha256&) = delete;

  // Starts hashing `data` after the previous chunk (waiting for that one first). `data` must
  // stay valid and unchanged until Wait, the next Update or HexDigest returns.
  void Update(std::string_view data);
  // Returns once the chunk given to Update is hashed.
  void Wait();
  // Waits, then finishes the hash. Called once; no Update afterwards.
  std::string HexDigest();

 private:
  void Loop();

  absl::Mutex mu_;
  std::optional<std::string_view> chunk_ ABSL_GUARDED_BY(mu_);  // in hand, not yet hashed
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Sha256 hash_;  // the thread's while a chunk is in hand; the caller's otherwise
  std::thread thread_;
};

// SHA-256 of `data` as 64 lowercase hex characters.
std::string Sha256Hex(std::string_view data);

// Lowercase hex of arbitrary bytes.
std::string ToHex(std::string_view bytes);

// True when `s` looks like a SHA-256 hex digest (64 lowercase hex characters).
bool IsSha256Hex(std::string_view s);

}  // namespace sematic

#endif  // SEMATIC_COMMON_DIGEST_H_
