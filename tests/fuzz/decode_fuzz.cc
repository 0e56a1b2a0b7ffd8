// Fuzz target for the value decoders: arbitrary bytes, read as a TypedValue and as a bare Value,
// go through ValidateValue, ToJson, and Decode<T> for representative C++ types. Nothing may crash,
// hang or trip a sanitizer; errors are expected and ignored.
//
// Built with libFuzzer (clang, -fsanitize=fuzzer) as `decode_fuzz`, or with fuzz_driver.cc as the
// ctest `decode_fuzz_test`.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "google/protobuf/stubs/logging.h"
#include "sematic/codec.h"
#include "sematic/json.h"
#include "sematic/types.h"

namespace fuzz {

enum class Color { kRed, kGreen, kBlue };
SEMATIC_ENUM(Color, kRed, kGreen, kBlue);

struct Leaf {
  int8_t small = 0;
  std::optional<double> maybe;
};
SEMATIC_STRUCT(Leaf, small, maybe);

struct Root {
  std::string name;
  std::vector<Leaf> leaves;
  std::map<std::string, std::vector<uint16_t>> table;
  std::optional<Color> color;
  std::tuple<bool, float, sematic::Bytes> misc;
};
SEMATIC_STRUCT(Root, name, leaves, table, color, misc);

}  // namespace fuzz

namespace {

template <typename T>
void Exercise(const sematic::v1::Value& value) {
  absl::StatusOr<T> decoded = sematic::Decode<T>(value, "fuzz");
  const absl::Status valid = sematic::ValidateValue(sematic::TypeOf<T>(), value);
  if (decoded.ok()) {
    // A decodable value re-encodes to something valid.
    (void)sematic::ValidateValue(sematic::TypeOf<T>(), sematic::Encode(*decoded));
  }
  if (valid.ok()) (void)sematic::ToJson(sematic::TypeOf<T>(), value, {.max_elements = 16});
}

void ExerciseAll(const sematic::v1::Value& value) {
  Exercise<fuzz::Root>(value);
  Exercise<sematic::Tensor>(value);
  Exercise<sematic::Table>(value);
  Exercise<sematic::Image>(value);
  Exercise<std::tuple<int32_t, std::string, std::vector<bool>>>(value);
  Exercise<std::map<int64_t, std::optional<fuzz::Color>>>(value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Invalid UTF-8 in string fields makes protobuf log on every parse; the noise helps no one.
  [[maybe_unused]] static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  sematic::v1::TypedValue typed;
  if (typed.ParseFromArray(data, static_cast<int>(size))) {
    const absl::Status valid = sematic::ValidateValue(typed.type(), typed.value(), "fuzz");
    absl::StatusOr<std::string> json =
        sematic::ToJson(typed.type(), typed.value(), {.max_elements = 16});
    if (valid.ok() != json.ok()) __builtin_trap();  // ToJson accepts exactly the valid values
    (void)sematic::ArtifactId(typed.type(), typed.value());
    if (valid.ok()) {
      // The full view of a valid value reads back (images excepted: the view omits their data).
      absl::StatusOr<std::string> full = sematic::ToJson(
          typed.type(), typed.value(), {.max_elements = static_cast<size_t>(-1)});
      if (full.ok()) (void)sematic::FromJson(typed.type(), *full);
    }
    ExerciseAll(typed.value());
  }
  sematic::v1::Value value;
  if (value.ParseFromArray(data, static_cast<int>(size))) ExerciseAll(value);
  return 0;
}
