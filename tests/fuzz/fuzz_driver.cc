// A standalone driver for decode_fuzz.cc when not building with libFuzzer: runs the target on
// (a) a built-in seed corpus of valid encodings, (b) N random byte strings and (c) N random
// mutations of the seeds (bit flips, truncations, byte insertions). Deterministic (fixed seed).
//
//   decode_fuzz_test [N]     # N defaults to 20000
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "sematic/codec.h"
#include "sematic/types.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

template <typename T>
std::string Typed(const T& value) {
  sematic::v1::TypedValue typed;
  *typed.mutable_type() = sematic::TypeOf<T>();
  *typed.mutable_value() = sematic::Encode(value);
  return typed.SerializeAsString();
}

template <typename T>
std::string Bare(const T& value) {
  return sematic::Encode(value).SerializeAsString();
}

std::vector<std::string> Seeds() {
  std::vector<std::string> seeds;
  auto add = [&](std::string typed, std::string bare) {
    seeds.push_back(std::move(typed));
    seeds.push_back(std::move(bare));
  };
  using Struct = std::tuple<std::string, std::vector<std::tuple<int8_t, std::optional<double>>>,
                            std::map<std::string, std::vector<uint16_t>>>;
  const Struct s{"root", {{1, 2.5}, {-3, std::nullopt}}, {{"a", {1, 2}}, {"b", {}}}};
  add(Typed(s), Bare(s));
  const std::tuple<int32_t, std::string, std::vector<bool>> t{7, "x", {true, false}};
  add(Typed(t), Bare(t));
  const std::map<int64_t, std::optional<std::string>> m{{1, "one"}, {-5, std::nullopt}};
  add(Typed(m), Bare(m));
  const sematic::Tensor tensor = sematic::Tensor::FromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  add(Typed(tensor), Bare(tensor));
  add(Typed(sematic::Tensor::FromVector<bool>({2}, {true, false})),
      Bare(sematic::Tensor::FromVector<int64_t>({1}, {9})));
  sematic::Table table;
  (void)table.AddColumn<double>("x", {1, 2});
  (void)table.AddColumn<std::string>("s", {"a", "b"});
  (void)table.AddColumn<bool>("b", {true, false});
  add(Typed(table), Bare(table));
  const uint8_t pixels[4] = {0, 64, 128, 255};
  if (absl::StatusOr<sematic::Image> image = sematic::Image::FromGray8(2, 2, pixels); image.ok()) {
    add(Typed(*image), Bare(*image));
  }
  add(Typed(sematic::Plot::Line("t", "x", {1, 2}, "y", {3, 4})), Bare(sematic::Blob{"blob"}));
  add(Typed(std::vector<double>{1.5, -0.0}), Bare(std::vector<std::string>{"a", ""}));
  add(Typed(sematic::Bytes{"\x01\x02"}), Bare(uint64_t{1} << 40));
  return seeds;
}

std::string Mutate(std::string s, std::mt19937_64& rng) {
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    switch (rng() % 4) {
      case 0:  // flip a bit
        if (!s.empty()) s[rng() % s.size()] ^= static_cast<char>(1u << (rng() % 8));
        break;
      case 1:  // truncate
        if (!s.empty()) s.resize(rng() % s.size());
        break;
      case 2:  // insert a byte
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(rng() % (s.size() + 1)),
                 static_cast<char>(rng()));
        break;
      case 3:  // overwrite a byte with an "interesting" one
        if (!s.empty()) {
          static constexpr char kInteresting[] = {0, 1, 0x7f, static_cast<char>(0x80),
                                                  static_cast<char>(0xff)};
          s[rng() % s.size()] = kInteresting[rng() % sizeof(kInteresting)];
        }
        break;
    }
  }
  return s;
}

void Run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

}  // namespace

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 20000;
  std::mt19937_64 rng(0x5e3a71c);
  const std::vector<std::string> seeds = Seeds();
  for (const std::string& seed : seeds) Run(seed);
  for (long i = 0; i < n; ++i) {
    std::string random(rng() % 256, '\0');
    for (char& c : random) c = static_cast<char>(rng());
    Run(random);
  }
  for (long i = 0; i < n; ++i) Run(Mutate(seeds[rng() % seeds.size()], rng));
  std::printf("decode_fuzz: %zu seeds, %ld random inputs, %ld mutations: no crash\n", seeds.size(),
              n, n);
  return 0;
}
