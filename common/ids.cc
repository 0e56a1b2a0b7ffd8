#include "common/ids.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sematic {

std::string RandomHex64() {
  std::random_device rd;
  const uint64_t bits = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  return absl::StrFormat("%016x", bits);
}

IdGenerator::IdGenerator(std::string tag) : prefix_(absl::StrCat(tag, "-", RandomHex64(), "-")) {}

std::string IdGenerator::Next() {
  const uint64_t n = counter_.fetch_add(1, std::memory_order_relaxed) + 1;
  return absl::StrCat(prefix_, absl::Dec(n, absl::kZeroPad6));
}

}  // namespace sematic
