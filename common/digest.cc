#include "common/digest.h"

#include <openssl/evp.h>

#include "common/check.h"

namespace sematic {

struct Sha256::State {
  EVP_MD_CTX* ctx = nullptr;
  ~State() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
  state_->ctx = EVP_MD_CTX_new();
  SEMATIC_CHECK(state_->ctx != nullptr, "out of memory creating a SHA-256 context");
  SEMATIC_CHECK(EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr) == 1, "SHA-256 init");
}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::Update(std::string_view data) {
  SEMATIC_CHECK(EVP_DigestUpdate(state_->ctx, data.data(), data.size()) == 1, "SHA-256 update");
}

std::array<uint8_t, 32> Sha256::Digest() {
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  SEMATIC_CHECK(EVP_DigestFinal_ex(state_->ctx, out.data(), &len) == 1 && len == out.size(),
                "SHA-256 final");
  return out;
}

std::string Sha256::HexDigest() {
  std::array<uint8_t, 32> d = Digest();
  return ToHex(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

std::string Sha256Hex(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.HexDigest();
}

std::string ToHex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kHex[b >> 4];
    out[2 * i + 1] = kHex[b & 0xf];
  }
  return out;
}

bool IsSha256Hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace sematic
