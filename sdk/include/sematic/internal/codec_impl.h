// Template implementations behind sematic/codec.h. Not a public interface: include codec.h.
//
// Layout: (1) SEMATIC_STRUCT / SEMATIC_ENUM machinery (ADL-found info functions, FieldIndex,
// FieldName); (2) the primary Codec (a readable compile error) and the specializations for the
// built-in types; (3) TypeOf / Encode / Decode.
#ifndef SEMATIC_INTERNAL_CODEC_IMPL_H_
#define SEMATIC_INTERNAL_CODEC_IMPL_H_

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "sematic/v1/value.pb.h"

static_assert(std::endian::native == std::endian::little,
              "sematic: tensors and tables are stored little-endian; big-endian hosts are not "
              "supported");

namespace sematic {
namespace internal {

// ---- SEMATIC_STRUCT / SEMATIC_ENUM machinery -------------------------------------------------

template <typename S, typename M>
struct FieldInfo {
  std::string_view name;
  M S::*member;
};

template <typename S, typename... M>
struct StructInfo {
  std::string_view name;
  std::tuple<FieldInfo<S, M>...> fields;
};

template <typename S, typename M>
constexpr FieldInfo<S, M> MakeField(std::string_view name, M S::*member) {
  return {name, member};
}

template <typename S, typename... M>
constexpr StructInfo<S, M...> MakeStructInfo(std::string_view name, FieldInfo<S, M>... fields) {
  return {name, {fields...}};
}

template <typename E>
struct Enumerator {
  std::string_view name;
  E value;
};

template <typename E, size_t N>
struct EnumInfo {
  std::string_view name;
  std::array<Enumerator<E>, N> enumerators;
};

template <typename E, typename... X>
constexpr EnumInfo<E, sizeof...(X)> MakeEnumInfo(std::string_view name, X... enumerators) {
  return {name, {Enumerator<E>(enumerators)...}};
}

// True when SEMATIC_STRUCT(S, ...) is visible (found by argument-dependent lookup).
template <typename S>
inline constexpr bool kIsSematicStruct =
    std::is_class_v<S> && requires { SematicStructInfo(static_cast<const S*>(nullptr)); };

// True when SEMATIC_ENUM(E, ...) is visible.
template <typename E>
inline constexpr bool kIsSematicEnum =
    std::is_enum_v<E> && requires { SematicEnumInfo(static_cast<const E*>(nullptr)); };

template <typename S>
constexpr auto GetStructInfo() {
  return SematicStructInfo(static_cast<const S*>(nullptr));
}

template <typename E>
constexpr auto GetEnumInfo() {
  return SematicEnumInfo(static_cast<const E*>(nullptr));
}

template <typename S>
constexpr size_t NumFields() {
  return std::tuple_size_v<decltype(GetStructInfo<S>().fields)>;
}

// The 0-based index of `member` among the fields listed in SEMATIC_STRUCT(S, ...), or -1 when
// the member is not listed.
template <typename S, typename M>
int FieldIndex(M S::*member) {
  static_assert(kIsSematicStruct<S>,
                "sematic::internal::FieldIndex: S is not declared with SEMATIC_STRUCT(S, ...)");
  constexpr auto info = GetStructInfo<S>();
  int index = -1;
  int i = 0;
  std::apply(
      [&](const auto&... field) {
        auto visit = [&](const auto& f) {
          if constexpr (std::is_same_v<std::remove_cvref_t<decltype(f.member)>, M S::*>) {
            if (index < 0 && f.member == member) index = i;
          }
          ++i;
        };
        (visit(field), ...);
      },
      info.fields);
  return index;
}

// The name of field `index` of SEMATIC_STRUCT S, or "" when out of range.
template <typename S>
std::string_view FieldName(int index) {
  static_assert(kIsSematicStruct<S>,
                "sematic::internal::FieldName: S is not declared with SEMATIC_STRUCT(S, ...)");
  constexpr auto info = GetStructInfo<S>();
  std::string_view name;
  int i = 0;
  std::apply([&](const auto&... field) { ((name = (i++ == index ? field.name : name)), ...); },
             info.fields);
  return name;
}

// ---- Non-template helpers (codec.cc) ----------------------------------------------------------

// The name of the Value oneof case that is set: "int", "string", "list", "none", ... ("unset").
std::string_view ValueKindName(const v1::Value& value);

// Deterministic serialization of a Value (the map-entry sort key).
std::string DeterministicBytes(const v1::Value& value);

// Our abseil's absl::string_view is not std::string_view (see common/strings.h).
using ::sematic::AsAbsl;

// Replaces every NaN by the canonical quiet NaN 0x7ff8000000000000.
inline double CanonicalDouble(double d) {
  return std::isnan(d) ? std::bit_cast<double>(uint64_t{0x7ff8000000000000}) : d;
}

template <typename T>
inline constexpr bool kAlwaysFalse = false;

// Standard integer types other than bool and the character types.
template <typename T>
inline constexpr bool kIsPlainInteger =
    std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char> &&
    !std::is_same_v<T, wchar_t> && !std::is_same_v<T, char8_t> &&
    !std::is_same_v<T, char16_t> && !std::is_same_v<T, char32_t>;

template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};

// Sorts encoded map entries by the deterministic bytes of their key and stores them in `out`.
void StoreSortedEntries(std::vector<std::pair<std::string, v1::MapEntry>>& entries,
                        v1::Value* out);

}  // namespace internal

// ---- Codecs -----------------------------------------------------------------------------------

// The primary template: T has no codec. Using it is a compile error naming T.
template <typename T, typename Enable>
struct Codec {
  using NotCodable = void;
  static void Describe(v1::TypeDesc*) {
    static_assert(internal::kAlwaysFalse<T>,
                  "sematic: T has no codec; declare it with SEMATIC_STRUCT(T, fields...) or "
                  "SEMATIC_ENUM(T, ...)");
  }
  static void Encode(const T&, v1::Value*) {
    static_assert(internal::kAlwaysFalse<T>,
                  "sematic: T has no codec; declare it with SEMATIC_STRUCT(T, fields...) or "
                  "SEMATIC_ENUM(T, ...)");
  }
  static absl::Status Decode(const v1::Value&, T*, internal::DecodePath&) {
    static_assert(internal::kAlwaysFalse<T>,
                  "sematic: T has no codec; declare it with SEMATIC_STRUCT(T, fields...) or "
                  "SEMATIC_ENUM(T, ...)");
    return absl::OkStatus();
  }
};

template <typename T>
const v1::TypeDesc& TypeOf() {
  static_assert(kIsCodable<T>,
                "sematic: T has no codec; declare it with SEMATIC_STRUCT(T, fields...) or "
                "SEMATIC_ENUM(T, ...)");
  // Leaked on purpose: usable from static destructors and other threads at exit.
  static const v1::TypeDesc* const desc = [] {
    auto* d = new v1::TypeDesc;
    Codec<T>::Describe(d);
    return d;
  }();
  return *desc;
}

template <typename T>
v1::Value Encode(const T& value) {
  static_assert(kIsCodable<T>,
                "sematic: T has no codec; declare it with SEMATIC_STRUCT(T, fields...) or "
                "SEMATIC_ENUM(T, ...)");
  v1::Value out;
  Codec<T>::Encode(value, &out);
  return out;
}

template <typename T>
absl::StatusOr<T> Decode(const v1::Value& value, std::string_view root) {
  static_assert(kIsCodable<T>,
                "sematic: T has no codec; declare it with SEMATIC_STRUCT(T, fields...) or "
                "SEMATIC_ENUM(T, ...)");
  static_assert(std::is_default_constructible_v<T>,
                "sematic::Decode: T must be default-constructible");
  internal::DecodePath path(root);
  T out{};
  RETURN_IF_ERROR(Codec<T>::Decode(value, &out, path));
  return out;
}

template <>
struct Codec<bool> {
  static void Describe(v1::TypeDesc* out) { out->set_kind(v1::TypeDesc::BOOL); }
  static void Encode(bool value, v1::Value* out) { out->set_bool_value(value); }
  static absl::Status Decode(const v1::Value& in, bool* out, internal::DecodePath& path) {
    if (in.kind_case() != v1::Value::kBoolValue) return path.Mismatch("bool", in);
    *out = in.bool_value();
    return absl::OkStatus();
  }
};

template <typename T>
  requires internal::kIsPlainInteger<T>
struct Codec<T> {
  static constexpr bool kSigned = std::is_signed_v<T>;
  static void Describe(v1::TypeDesc* out) {
    out->set_kind(kSigned ? v1::TypeDesc::INT : v1::TypeDesc::UINT);
    out->set_bits(sizeof(T) * 8);
  }
  static void Encode(T value, v1::Value* out) {
    if constexpr (kSigned) {
      out->set_int_value(static_cast<int64_t>(value));
    } else {
      out->set_uint_value(static_cast<uint64_t>(value));
    }
  }
  static absl::Status Decode(const v1::Value& in, T* out, internal::DecodePath& path) {
    if constexpr (kSigned) {
      if (in.kind_case() != v1::Value::kIntValue) return path.Mismatch(Name(), in);
      const int64_t v = in.int_value();
      if (v < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
          v > static_cast<int64_t>(std::numeric_limits<T>::max())) {
        return path.Error(absl::StrCat("value ", v, " is out of range for ", Name()));
      }
      *out = static_cast<T>(v);
    } else {
      if (in.kind_case() != v1::Value::kUintValue) return path.Mismatch(Name(), in);
      const uint64_t v = in.uint_value();
      if (v > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
        return path.Error(absl::StrCat("value ", v, " is out of range for ", Name()));
      }
      *out = static_cast<T>(v);
    }
    return absl::OkStatus();
  }
  static std::string Name() { return absl::StrCat(kSigned ? "int" : "uint", sizeof(T) * 8); }
};

template <typename T>
  requires std::is_same_v<T, float> || std::is_same_v<T, double>
struct Codec<T> {
  static constexpr const char* kName = sizeof(T) == 4 ? "float" : "double";
  static void Describe(v1::TypeDesc* out) {
    out->set_kind(v1::TypeDesc::FLOAT);
    out->set_bits(sizeof(T) * 8);
  }
  static void Encode(T value, v1::Value* out) {
    out->set_float_value(internal::CanonicalDouble(static_cast<double>(value)));
  }
  static absl::Status Decode(const v1::Value& in, T* out, internal::DecodePath& path) {
    if (in.kind_case() != v1::Value::kFloatValue) return path.Mismatch(kName, in);
    const double d = in.float_value();
    if constexpr (std::is_same_v<T, float>) {
      // Out-of-range finite doubles become +-infinity (IEEE rounding) without the undefined
      // behaviour of a plain cast.
      if (std::isfinite(d) && std::fabs(d) > std::numeric_limits<float>::max()) {
        *out = d > 0 ? std::numeric_limits<float>::infinity()
                     : -std::numeric_limits<float>::infinity();
        return absl::OkStatus();
      }
    }
    *out = static_cast<T>(d);
    return absl::OkStatus();
  }
};

template <>
struct Codec<std::string> {
  static void Describe(v1::TypeDesc* out) { out->set_kind(v1::TypeDesc::STRING); }
  static void Encode(const std::string& value, v1::Value* out) { out->set_string_value(value); }
  static absl::Status Decode(const v1::Value& in, std::string* out, internal::DecodePath& path) {
    if (in.kind_case() != v1::Value::kStringValue) return path.Mismatch("string", in);
    *out = in.string_value();
    return absl::OkStatus();
  }
};

template <>
struct Codec<Bytes> {
  static void Describe(v1::TypeDesc* out) { out->set_kind(v1::TypeDesc::BYTES); }
  static void Encode(const Bytes& value, v1::Value* out) { out->set_bytes_value(value.data); }
  static absl::Status Decode(const v1::Value& in, Bytes* out, internal::DecodePath& path) {
    if (in.kind_case() != v1::Value::kBytesValue) return path.Mismatch("bytes", in);
    out->data = in.bytes_value();
    return absl::OkStatus();
  }
};

// std::optional<T>: NoneValue when empty, otherwise T's own encoding. Nested optionals would be
// ambiguous (an engaged empty inner optional looks like an empty outer one) and are rejected.
template <typename T>
  requires kIsCodable<T>
struct Codec<std::optional<T>> {
  static_assert(!internal::IsOptional<T>::value,
                "sematic: std::optional<std::optional<T>> is ambiguous on the wire; not supported");
  static void Describe(v1::TypeDesc* out) {
    out->set_kind(v1::TypeDesc::OPTIONAL);
    *out->add_params() = TypeOf<T>();
  }
  static void Encode(const std::optional<T>& value, v1::Value* out) {
    if (value.has_value()) {
      Codec<T>::Encode(*value, out);
    } else {
      out->mutable_none_value();
    }
  }
  static absl::Status Decode(const v1::Value& in, std::optional<T>* out,
                             internal::DecodePath& path) {
    if (in.kind_case() == v1::Value::kNoneValue) {
      out->reset();
      return absl::OkStatus();
    }
    T inner{};
    RETURN_IF_ERROR(Codec<T>::Decode(in, &inner, path));
    *out = std::move(inner);
    return absl::OkStatus();
  }
};

template <typename T, typename A>
  requires kIsCodable<T>
struct Codec<std::vector<T, A>> {
  static void Describe(v1::TypeDesc* out) {
    out->set_kind(v1::TypeDesc::LIST);
    *out->add_params() = TypeOf<T>();
  }
  static void Encode(const std::vector<T, A>& value, v1::Value* out) {
    auto* items = out->mutable_list_value()->mutable_items();
    items->Reserve(static_cast<int>(value.size()));
    for (const auto& element : value) Codec<T>::Encode(element, items->Add());
  }
  static absl::Status Decode(const v1::Value& in, std::vector<T, A>* out,
                             internal::DecodePath& path) {
    if (in.kind_case() != v1::Value::kListValue) {
      return path.Mismatch(TypeName(TypeOf<std::vector<T, A>>()), in);
    }
    const auto& items = in.list_value().items();
    out->clear();
    out->reserve(items.size());
    for (int i = 0; i < items.size(); ++i) {
      path.PushIndex(static_cast<size_t>(i));
      T element{};
      RETURN_IF_ERROR(Codec<T>::Decode(items[i], &element, path));
      out->push_back(std::move(element));
      path.Pop();
    }
    return absl::OkStatus();
  }
};

namespace internal {

// Shared by std::map and std::unordered_map: both have TypeDesc MAP and the same canonical
// encoding, so equal contents give equal artifact ids whichever container held them.
template <typename M, typename K, typename V>
struct MapCodec {
  static void Describe(v1::TypeDesc* out) {
    out->set_kind(v1::TypeDesc::MAP);
    *out->add_params() = TypeOf<K>();
    *out->add_params() = TypeOf<V>();
  }
  static void Encode(const M& value, v1::Value* out) {
    std::vector<std::pair<std::string, v1::MapEntry>> entries;
    entries.reserve(value.size());
    for (const auto& [k, v] : value) {
      v1::MapEntry entry;
      Codec<K>::Encode(k, entry.mutable_key());
      Codec<V>::Encode(v, entry.mutable_value());
      std::string sort_key = DeterministicBytes(entry.key());
      entries.emplace_back(std::move(sort_key), std::move(entry));
    }
    StoreSortedEntries(entries, out);
  }
  static absl::Status Decode(const v1::Value& in, M* out, DecodePath& path) {
    if (in.kind_case() != v1::Value::kMapValue) return path.Mismatch(TypeName(TypeOf<M>()), in);
    out->clear();
    const auto& entries = in.map_value().entries();
    for (int i = 0; i < entries.size(); ++i) {
      const v1::MapEntry& entry = entries[i];
      K key{};
      path.PushKey();
      RETURN_IF_ERROR(Codec<K>::Decode(entry.key(), &key, path));
      path.Pop();
      path.PushMapValue(entry.key(), static_cast<size_t>(i));
      V val{};
      RETURN_IF_ERROR(Codec<V>::Decode(entry.value(), &val, path));
      if (!out->emplace(std::move(key), std::move(val)).second) {
        return path.Error("duplicate map key");
      }
      path.Pop();
    }
    return absl::OkStatus();
  }
};

}  // namespace internal

template <typename K, typename V, typename C, typename A>
  requires kIsCodable<K> && kIsCodable<V>
struct Codec<std::map<K, V, C, A>> : internal::MapCodec<std::map<K, V, C, A>, K, V> {};

template <typename K, typename V, typename H, typename E, typename A>
  requires kIsCodable<K> && kIsCodable<V>
struct Codec<std::unordered_map<K, V, H, E, A>>
    : internal::MapCodec<std::unordered_map<K, V, H, E, A>, K, V> {};

namespace internal {

// Shared by std::pair and std::tuple: TUPLE of the element types, a ListValue of the elements.
template <typename T, typename... E>
struct TupleCodec {
  static void Describe(v1::TypeDesc* out) {
    out->set_kind(v1::TypeDesc::TUPLE);
    ((*out->add_params() = TypeOf<E>()), ...);
  }
  static void Encode(const T& value, v1::Value* out) {
    auto* items = out->mutable_list_value()->mutable_items();
    items->Reserve(static_cast<int>(sizeof...(E)));
    std::apply([&](const auto&... element) { (EncodeOne(element, items->Add()), ...); }, value);
  }
  static absl::Status Decode(const v1::Value& in, T* out, DecodePath& path) {
    if (in.kind_case() != v1::Value::kListValue) {
      return path.Mismatch(TypeName(TypeOf<T>()), in);
    }
    const auto& items = in.list_value().items();
    if (static_cast<size_t>(items.size()) != sizeof...(E)) {
      return path.Error(absl::StrCat("expected ", TypeName(TypeOf<T>()), " with ", sizeof...(E),
                                     " elements, got ", items.size()));
    }
    return DecodeElements(items, out, path, std::index_sequence_for<E...>{});
  }

 private:
  template <typename X>
  static void EncodeOne(const X& x, v1::Value* out) {
    Codec<X>::Encode(x, out);
  }
  template <size_t... I>
  static absl::Status DecodeElements(const google::protobuf::RepeatedPtrField<v1::Value>& items,
                                     T* out, DecodePath& path, std::index_sequence<I...>) {
    absl::Status status;
    [[maybe_unused]] auto one = [&](auto index_constant) {
      constexpr size_t kI = decltype(index_constant)::value;
      if (!status.ok()) return;
      path.PushIndex(kI);
      status = Codec<std::tuple_element_t<kI, std::tuple<E...>>>::Decode(
          items[static_cast<int>(kI)], &std::get<kI>(*out), path);
      if (status.ok()) path.Pop();
    };
    (one(std::integral_constant<size_t, I>{}), ...);
    return status;
  }
};

}  // namespace internal

template <typename A, typename B>
  requires kIsCodable<A> && kIsCodable<B>
struct Codec<std::pair<A, B>> : internal::TupleCodec<std::pair<A, B>, A, B> {};

template <typename... E>
  requires(kIsCodable<E> && ...)
struct Codec<std::tuple<E...>> : internal::TupleCodec<std::tuple<E...>, E...> {};

// Enums declared with SEMATIC_ENUM: ENUM with the enumerator names; the value is the name.
template <typename T>
  requires internal::kIsSematicEnum<T>
struct Codec<T> {
  static void Describe(v1::TypeDesc* out) {
    constexpr auto info = internal::GetEnumInfo<T>();
    out->set_kind(v1::TypeDesc::ENUM);
    out->set_name(std::string(info.name));
    for (const auto& e : info.enumerators) out->add_enumerators(std::string(e.name));
  }
  // An enumerator missing from SEMATIC_ENUM is a programmer error.
  static void Encode(T value, v1::Value* out) {
    constexpr auto info = internal::GetEnumInfo<T>();
    for (const auto& e : info.enumerators) {
      if (e.value == value) {
        out->set_enum_value(e.name.data(), e.name.size());
        return;
      }
    }
    SEMATIC_CHECK(false, "sematic::Encode: enum value is not listed in its SEMATIC_ENUM");
  }
  static absl::Status Decode(const v1::Value& in, T* out, internal::DecodePath& path) {
    constexpr auto info = internal::GetEnumInfo<T>();
    if (in.kind_case() != v1::Value::kEnumValue) return path.Mismatch(info.name, in);
    for (const auto& e : info.enumerators) {
      if (e.name == in.enum_value()) {
        *out = e.value;
        return absl::OkStatus();
      }
    }
    return path.Error(absl::StrCat("\"", in.enum_value().substr(0, 64),
                                   "\" is not an enumerator of ", internal::AsAbsl(info.name)));
  }
};

// Structs declared with SEMATIC_STRUCT: STRUCT named after the type; the value is a ListValue of
// the fields in declaration order.
template <typename T>
  requires internal::kIsSematicStruct<T>
struct Codec<T> {
  static void Describe(v1::TypeDesc* out) {
    constexpr auto info = internal::GetStructInfo<T>();
    out->set_kind(v1::TypeDesc::STRUCT);
    out->set_name(std::string(info.name));
    std::apply(
        [&](const auto&... field) {
          auto describe = [&](const auto& f) {
            using M = std::remove_cvref_t<decltype(std::declval<T&>().*(f.member))>;
            static_assert(kIsCodable<M>, "sematic: a SEMATIC_STRUCT field has no codec");
            v1::Field* fd = out->add_fields();
            fd->set_name(std::string(f.name));
            *fd->mutable_type() = TypeOf<M>();
          };
          (describe(field), ...);
        },
        info.fields);
  }
  static void Encode(const T& value, v1::Value* out) {
    constexpr auto info = internal::GetStructInfo<T>();
    auto* items = out->mutable_list_value()->mutable_items();
    items->Reserve(static_cast<int>(internal::NumFields<T>()));
    std::apply(
        [&](const auto&... field) {
          auto encode = [&](const auto& f) {
            using M = std::remove_cvref_t<decltype(value.*(f.member))>;
            Codec<M>::Encode(value.*(f.member), items->Add());
          };
          (encode(field), ...);
        },
        info.fields);
  }
  static absl::Status Decode(const v1::Value& in, T* out, internal::DecodePath& path) {
    constexpr auto info = internal::GetStructInfo<T>();
    constexpr size_t kNumFields = internal::NumFields<T>();
    if (in.kind_case() != v1::Value::kListValue) return path.Mismatch(info.name, in);
    const auto& items = in.list_value().items();
    if (static_cast<size_t>(items.size()) != kNumFields) {
      return path.Error(absl::StrCat("expected ", internal::AsAbsl(info.name), " with ", kNumFields,
                                     " fields, got ", items.size()));
    }
    absl::Status status;
    int i = 0;
    std::apply(
        [&](const auto&... field) {
          auto decode = [&](const auto& f) {
            using M = std::remove_cvref_t<decltype(out->*(f.member))>;
            if (status.ok()) {
              path.PushField(f.name);
              status = Codec<M>::Decode(items[i], &(out->*(f.member)), path);
              if (status.ok()) path.Pop();
            }
            ++i;
          };
          (decode(field), ...);
        },
        info.fields);
    return status;
  }
};

}  // namespace sematic

// ---- Macros -----------------------------------------------------------------------------------

#define SEMATIC_INTERNAL_CAT_(a, b) a##b
#define SEMATIC_INTERNAL_CAT(a, b) SEMATIC_INTERNAL_CAT_(a, b)
#define SEMATIC_INTERNAL_FOR_EACH(m, t, ...) \
  SEMATIC_INTERNAL_CAT(SEMATIC_INTERNAL_FE_, SEMATIC_INTERNAL_NARG(__VA_ARGS__))(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_STRUCT_FIELD(Type, f) ::sematic::internal::MakeField(#f, &Type::f)
#define SEMATIC_INTERNAL_ENUMERATOR(Type, e) \
  ::sematic::internal::Enumerator<Type> { #e, Type::e }

// See codec.h. Expands to an inline function found by argument-dependent lookup, so it works from
// the type's own namespace; the trailing static_assert swallows the caller's semicolon.
#define SEMATIC_STRUCT(Type, ...)                                                     \
  [[maybe_unused]] constexpr auto SematicStructInfo(const Type*) {                    \
    return ::sematic::internal::MakeStructInfo<Type>(                                 \
        #Type, SEMATIC_INTERNAL_FOR_EACH(SEMATIC_INTERNAL_STRUCT_FIELD, Type, __VA_ARGS__)); \
  }                                                                                   \
  static_assert(true, "")

#define SEMATIC_ENUM(Type, ...)                                                    \
  [[maybe_unused]] constexpr auto SematicEnumInfo(const Type*) {                   \
    return ::sematic::internal::MakeEnumInfo<Type>(                                \
        #Type, SEMATIC_INTERNAL_FOR_EACH(SEMATIC_INTERNAL_ENUMERATOR, Type, __VA_ARGS__)); \
  }                                                                                \
  static_assert(true, "")

// FOR_EACH over up to 64 arguments: m(t, x1), m(t, x2), ...
#define SEMATIC_INTERNAL_NARG(...) SEMATIC_INTERNAL_NARG_(__VA_ARGS__, 64, 63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
#define SEMATIC_INTERNAL_NARG_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, _17, _18, _19, _20, _21, _22, _23, _24, _25, _26, _27, _28, _29, _30, _31, _32, _33, _34, _35, _36, _37, _38, _39, _40, _41, _42, _43, _44, _45, _46, _47, _48, _49, _50, _51, _52, _53, _54, _55, _56, _57, _58, _59, _60, _61, _62, _63, _64, N, ...) N
#define SEMATIC_INTERNAL_FE_1(m, t, x) m(t, x)
#define SEMATIC_INTERNAL_FE_2(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_1(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_3(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_2(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_4(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_3(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_5(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_4(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_6(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_5(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_7(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_6(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_8(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_7(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_9(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_8(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_10(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_9(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_11(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_10(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_12(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_11(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_13(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_12(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_14(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_13(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_15(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_14(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_16(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_15(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_17(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_16(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_18(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_17(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_19(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_18(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_20(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_19(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_21(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_20(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_22(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_21(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_23(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_22(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_24(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_23(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_25(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_24(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_26(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_25(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_27(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_26(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_28(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_27(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_29(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_28(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_30(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_29(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_31(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_30(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_32(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_31(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_33(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_32(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_34(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_33(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_35(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_34(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_36(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_35(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_37(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_36(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_38(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_37(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_39(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_38(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_40(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_39(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_41(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_40(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_42(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_41(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_43(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_42(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_44(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_43(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_45(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_44(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_46(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_45(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_47(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_46(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_48(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_47(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_49(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_48(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_50(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_49(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_51(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_50(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_52(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_51(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_53(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_52(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_54(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_53(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_55(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_54(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_56(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_55(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_57(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_56(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_58(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_57(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_59(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_58(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_60(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_59(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_61(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_60(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_62(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_61(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_63(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_62(m, t, __VA_ARGS__)
#define SEMATIC_INTERNAL_FE_64(m, t, x, ...) m(t, x), SEMATIC_INTERNAL_FE_63(m, t, __VA_ARGS__)

#endif  // SEMATIC_INTERNAL_CODEC_IMPL_H_
