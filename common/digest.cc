#include "common/digest.h"

#include <openssl/evp.h>

#include "common/check.h"

namespace sematic {

namespace {

// Fetching the algorithm once saves OpenSSL 3's provider lookup on every hash.
const EVP_MD* Sha256Md() {
  static const EVP_MD* md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched != nullptr ? fetched : EVP_sha256();
  }();
  return md;
}

}  // namespace

struct Sha256::State {
  EVP_MD_CTX* ctx = nullptr;
  ~State() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
  state_->ctx = EVP_MD_CTX_new();
  SEMATIC_CHECK(state_->ctx != nullptr, "out of memory creating a SHA-256 context");
  SEMATIC_CHECK(EVP_DigestInit_ex(state_->ctx, Sha256Md(), nullptr) == 1, "SHA-256 init");
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

BackgroundSha256::BackgroundSha256() : thread_([this] { Loop(); }) {}

BackgroundSha256::~BackgroundSha256() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  // After the chunk in hand: the caller may free it once we return.
  if (thread_.joinable()) thread_.join();
}

void BackgroundSha256::Update(std::string_view data) {
  Wait();
  absl::MutexLock lock(&mu_);
  SEMATIC_CHECK(!stopping_, "BackgroundSha256::Update after HexDigest");
  chunk_ = data;
}

void BackgroundSha256::Wait() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](std::optional<std::string_view>* chunk) { return !chunk->has_value(); }, &chunk_));
}

std::string BackgroundSha256::HexDigest() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();  // hashes the chunk in hand first
  return hash_.HexDigest();
}

void BackgroundSha256::Loop() {
  while (true) {
    std::string_view data;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](BackgroundSha256* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->stopping_ || self->chunk_.has_value();
          },
          this));
      if (!chunk_.has_value()) return;  // stopping, nothing in hand
      data = *chunk_;
    }
    hash_.Update(data);
    absl::MutexLock lock(&mu_);
    chunk_.reset();
  }
}

std::string Sha256Hex(std::string_view data) {
  // One context per thread, reused: hashing small values is on the runner's per-step path.
  struct CtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  thread_local std::unique_ptr<EVP_MD_CTX, CtxFree> owned(EVP_MD_CTX_new());
  EVP_MD_CTX* ctx = owned.get();
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  SEMATIC_CHECK(ctx != nullptr && EVP_DigestInit_ex(ctx, Sha256Md(), nullptr) == 1 &&
                    EVP_DigestUpdate(ctx, data.data(), data.size()) == 1 &&
                    EVP_DigestFinal_ex(ctx, out.data(), &len) == 1 && len == out.size(),
                "SHA-256");
  return ToHex(std::string_view(reinterpret_cast<const char*>(out.data()), out.size()));
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
