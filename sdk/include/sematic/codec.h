// Codecs between C++ types and the wire's typed values (sematic.v1.Value + TypeDesc).
//
//   struct Config { double lr; int hidden; std::vector<int> layers; };
//   SEMATIC_STRUCT(Config, lr, hidden, layers);          // at namespace scope, beside Config
//
//   v1::Value v = sematic::Encode(Config{0.1, 64, {1, 2}});
//   absl::StatusOr<Config> c = sematic::Decode<Config>(v, "config");
//   const v1::TypeDesc& t = sematic::TypeOf<Config>();
//   std::string id = sematic::ArtifactId(t, v);          // SHA-256 hex of the canonical bytes
//
// Supported: bool; all integer widths (int8..int64, uint8..uint64); float, double; std::string;
// sematic::Bytes; std::optional<T>; std::vector<T>; std::map/std::unordered_map<K, V> (any codable
// K); std::pair and std::tuple; enums declared with SEMATIC_ENUM; structs declared with
// SEMATIC_STRUCT (nested structs work); the domain types of sematic/types.h (Tensor, Table, Image,
// Plot, Blob). Anything else is a compile error naming the type.
//
// Canonical form (what makes equal values hash equal):
//   * map entries are sorted by the deterministic serialization of their encoded key;
//   * every NaN is stored as the one quiet NaN 0x7ff8000000000000; -0.0 stays -0.0 (it is a
//     different value: 1/x differs), so 0.0 and -0.0 are different artifacts;
//   * float32 values are widened exactly to double.
// Decoding checks the type and never crashes: a mismatch is INVALID_ARGUMENT naming the path
// inside the value, the expected and the actual kind, e.g.
//   "config.layers[2]: expected int32, got string".
// Integers out of the target's range are INVALID_ARGUMENT too.
#ifndef SEMATIC_CODEC_H_
#define SEMATIC_CODEC_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sematic/v1/value.pb.h"

namespace sematic {

// The wire types live in sematic::v1 (value.proto's package), so `v1::Value` names them here.

// Opaque bytes (TypeDesc BYTES), as distinct from UTF-8 text in std::string.
struct Bytes {
  std::string data;
  friend bool operator==(const Bytes&, const Bytes&) = default;
};

namespace internal {

// Where a decoder is inside a value, for error messages. Cheap to push/pop; renders to
// "root.field[3].other" only when an error is reported.
class DecodePath {
 public:
  explicit DecodePath(std::string_view root);
  void PushField(std::string_view name);
  void PushIndex(size_t index);
  void PushKey();  // inside a map key: renders as "{key}"
  // Inside the value of map entry `index` whose key is `key` (which must outlive the push):
  // renders as ["name"] for string keys, [42] for integer keys, otherwise [#index].
  void PushMapValue(const v1::Value& key, size_t index);
  void Pop();
  std::string ToString() const;
  // INVALID_ARGUMENT "<path>: expected <expected>, got <actual>".
  absl::Status Mismatch(std::string_view expected, const v1::Value& actual) const;
  // INVALID_ARGUMENT "<path>: <message>".
  absl::Status Error(std::string_view message) const;

 private:
  // One step below the root. `name` is not owned: field names live in static storage or in the
  // TypeDesc being walked, both of which outlive the path.
  struct Segment {
    enum class Kind { kField, kIndex, kKey, kMapValue } kind;
    std::string_view name;
    size_t index;
    const v1::Value* key;
  };
  std::string root_;
  std::vector<Segment> segments_;
};

}  // namespace internal

// Codec<T> is specialized for every supported type. A specialization provides:
//   static void Describe(v1::TypeDesc* out);
//   static void Encode(const T& value, v1::Value* out);
//   static absl::Status Decode(const v1::Value& in, T* out, internal::DecodePath& path);
// The primary template is a readable compile error.
template <typename T, typename Enable = void>
struct Codec;

// True when T has a codec.
template <typename T>
inline constexpr bool kIsCodable = !requires { typename Codec<T>::NotCodable; };

// The TypeDesc of T, built once and cached. Thread-safe.
template <typename T>
const v1::TypeDesc& TypeOf();

// Encodes `value` in canonical form.
template <typename T>
v1::Value Encode(const T& value);

// Decodes `value` as T. `root` names the value in error messages ("config", "value").
template <typename T>
absl::StatusOr<T> Decode(const v1::Value& value, std::string_view root = "value");

// Human-readable name of a type ("int32", "vector<string>", "Config", "map<string, double>").
std::string TypeName(const v1::TypeDesc& type);

// Checks that `value` is well-formed for `type` (the runtime counterpart of Decode, for values
// whose C++ type is not known here, e.g. JSON-submitted args). INVALID_ARGUMENT with a path.
absl::Status ValidateValue(const v1::TypeDesc& type, const v1::Value& value,
                           std::string_view root = "value");

// Deterministic serialization of TypedValue{type, value}: equal values give equal bytes.
// INVALID_ARGUMENT when `value` holds a payload of kPayloadThresholdBytes or more inline
// (sematic/payload.h: canonical form stores it apart; call ExternalizePayloads first);
// RESOURCE_EXHAUSTED beyond protobuf's 2 GiB limit on one serialized message.
absl::StatusOr<std::string> CanonicalBytes(const v1::TypeDesc& type, const v1::Value& value);

// The artifact id: SHA-256 hex of the canonical bytes of (type, value) with every payload of
// kPayloadThresholdBytes or more as a PayloadRef. Equal for a value and its externalized form,
// so runners that keep payloads inline (the silent runner) and those that move them out (the
// worker) agree. Hashes each large inline payload once per call.
std::string ArtifactId(const v1::TypeDesc& type, const v1::Value& value);

}  // namespace sematic

// SEMATIC_STRUCT(Type, field1, field2, ...): makes a plain struct codable (STRUCT named "Type"
// with the listed fields in order). Place it at namespace scope in Type's namespace. Up to 64
// fields. Also enables Future<Type>::Field(&Type::field).
//
// SEMATIC_ENUM(Type, enumerator1, enumerator2, ...): makes an enum (class) codable by name.
// Place it at namespace scope in Type's namespace.

// ---- Implementation below this line (helper-owned; see codec_impl.h) -------------------------
#include "sematic/internal/codec_impl.h"  // IWYU pragma: export

#endif  // SEMATIC_CODEC_H_
