// SHA-256 digests, the identity of every artifact.
//
//   std::string id = sematic::Sha256Hex(bytes);          // 64 lowercase hex characters
//   sematic::Sha256 h; h.Update(a); h.Update(b);          // streaming, for large values
//   std::string id2 = h.HexDigest();
#ifndef SEMATIC_COMMON_DIGEST_H_
#define SEMATIC_COMMON_DIGEST_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

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

// SHA-256 of `data` as 64 lowercase hex characters.
std::string Sha256Hex(std::string_view data);

// Lowercase hex of arbitrary bytes.
std::string ToHex(std::string_view bytes);

// True when `s` looks like a SHA-256 hex digest (64 lowercase hex characters).
bool IsSha256Hex(std::string_view s);

}  // namespace sematic

#endif  // SEMATIC_COMMON_DIGEST_H_
