#include "common/ids.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sematic {

std::string RandomHex64() {
  // Seeded once per thread from the OS: opening a random_device per call costs microseconds.
  thread_local std::mt19937_64 engine([] {
    std::random_device rd;
    std::seed_seq seed{rd(), rd(), rd(), rd()};
    return std::mt19937_64(seed);
  }());
  return absl::StrFormat("%016x", engine());
}

IdGenerator::IdGenerator(std::string tag) : prefix_(absl::StrCat(tag, "-", RandomHex64(), "-")) {}

std::string IdGenerator::Next() {
  const uint64_t n = counter_.fetch_add(1, std::memory_order_relaxed) + 1;
  return absl::StrCat(prefix_, absl::Dec(n, absl::kZeroPad6));
}

}  // namespace sematic
