#include "sematic/codec.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/digest.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sematic/types.h"

namespace demo {

enum class Activation { kRelu, kTanh, kSigmoid };
SEMATIC_ENUM(Activation, kRelu, kTanh, kSigmoid);

enum Plain { kA = 3, kB = 7 };
SEMATIC_ENUM(Plain, kA, kB);

struct Layer {
  int32_t units = 0;
  Activation activation = Activation::kRelu;
  friend bool operator==(const Layer&, const Layer&) = default;
};
SEMATIC_STRUCT(Layer, units, activation);

struct Config {
  double lr = 0;
  int hidden = 0;
  std::vector<int> layers;
  std::optional<std::string> name;
  std::map<std::string, double> weights;
  std::vector<Layer> stack;
  std::tuple<int, std::string> tag;
  friend bool operator==(const Config&, const Config&) = default;
};
SEMATIC_STRUCT(Config, lr, hidden, layers, name, weights, stack, tag);

struct NotListed {
  int a = 0;
  int b = 0;
  int c = 0;
};
SEMATIC_STRUCT(NotListed, a, c);

struct NoCodec {};

}  // namespace demo

namespace sematic {
namespace {

using ::sematic::testing::IsOk;
using ::sematic::testing::StatusIs;
using ::testing::HasSubstr;

template <typename T>
void ExpectRoundTrip(const T& value) {
  const v1::Value encoded = Encode(value);
  EXPECT_OK(ValidateValue(TypeOf<T>(), encoded));
  absl::StatusOr<T> decoded = Decode<T>(encoded);
  ASSERT_OK(decoded);
  EXPECT_TRUE(*decoded == value);
  // Encoding is canonical: re-encoding the decoded value gives the same bytes.
  EXPECT_EQ(CanonicalBytes(TypeOf<T>(), Encode(*decoded)), CanonicalBytes(TypeOf<T>(), encoded));
}

static_assert(kIsCodable<int>);
static_assert(kIsCodable<std::vector<std::map<std::string, std::optional<double>>>>);
static_assert(kIsCodable<demo::Config>);
static_assert(kIsCodable<demo::Activation>);
static_assert(kIsCodable<Tensor>);
static_assert(!kIsCodable<demo::NoCodec>);
static_assert(!kIsCodable<std::vector<demo::NoCodec>>);
static_assert(!kIsCodable<std::map<std::string, demo::NoCodec>>);
static_assert(!kIsCodable<char>);
static_assert(!kIsCodable<std::tuple<int, demo::NoCodec>>);

using IntMap = std::map<int, int>;
using IntPair = std::tuple<int, int>;
using StringMap = std::map<std::string, int>;
using StringHashMap = std::unordered_map<std::string, int>;

TEST(CodecTest, ScalarsRoundTrip) {
  ExpectRoundTrip(true);
  ExpectRoundTrip(false);
  ExpectRoundTrip(int8_t{-128});
  ExpectRoundTrip(int16_t{32767});
  ExpectRoundTrip(int32_t{-5});
  ExpectRoundTrip(std::numeric_limits<int64_t>::min());
  ExpectRoundTrip(uint8_t{255});
  ExpectRoundTrip(uint16_t{65535});
  ExpectRoundTrip(uint32_t{4000000000u});
  ExpectRoundTrip(std::numeric_limits<uint64_t>::max());
  ExpectRoundTrip(0.1f);
  ExpectRoundTrip(-1e300);
  ExpectRoundTrip(std::numeric_limits<double>::infinity());
  ExpectRoundTrip(std::string("héllo"));
  ExpectRoundTrip(Bytes{std::string("\0\xff\x01", 3)});
}

TEST(CodecTest, TypeDescriptions) {
  EXPECT_EQ(TypeName(TypeOf<int>()), "int32");
  EXPECT_EQ(TypeName(TypeOf<uint8_t>()), "uint8");
  EXPECT_EQ(TypeName(TypeOf<float>()), "float");
  EXPECT_EQ(TypeName(TypeOf<std::vector<std::string>>()), "vector<string>");
  EXPECT_EQ(TypeName(TypeOf<std::map<std::string, double>>()), "map<string, double>");
  EXPECT_EQ(TypeName(TypeOf<std::pair<int, bool>>()), "tuple<int32, bool>");
  EXPECT_EQ(TypeName(TypeOf<std::optional<int64_t>>()), "optional<int64>");
  EXPECT_EQ(TypeName(TypeOf<demo::Config>()), "Config");
  const v1::TypeDesc& config = TypeOf<demo::Config>();
  ASSERT_EQ(config.kind(), v1::TypeDesc::STRUCT);
  ASSERT_EQ(config.fields_size(), 7);
  EXPECT_EQ(config.fields(2).name(), "layers");
  EXPECT_EQ(TypeName(config.fields(2).type()), "vector<int32>");
  EXPECT_EQ(config.fields(5).type().params(0).fields(1).type().kind(), v1::TypeDesc::ENUM);
  const v1::TypeDesc& act = TypeOf<demo::Activation>();
  EXPECT_EQ(act.name(), "Activation");
  EXPECT_THAT(act.enumerators(), ::testing::ElementsAre("kRelu", "kTanh", "kSigmoid"));
  // The same object every time.
  EXPECT_EQ(&TypeOf<demo::Config>(), &config);
}

TEST(CodecTest, ContainersRoundTrip) {
  ExpectRoundTrip(std::vector<bool>{true, false, true});
  ExpectRoundTrip(std::vector<int>{});
  ExpectRoundTrip(std::optional<int>());
  ExpectRoundTrip(std::optional<int>(0));
  ExpectRoundTrip(std::vector<std::optional<std::string>>{"a", std::nullopt, ""});
  ExpectRoundTrip(std::map<int, std::vector<double>>{{3, {1.5}}, {-1, {}}});
  ExpectRoundTrip(std::unordered_map<std::string, int>{{"x", 1}, {"y", 2}, {"", 0}});
  ExpectRoundTrip(std::map<std::pair<int, std::string>, bool>{{{1, "a"}, true}, {{0, "b"}, false}});
  ExpectRoundTrip(std::pair<int, std::string>{4, "four"});
  ExpectRoundTrip(std::tuple<>{});
  ExpectRoundTrip(std::tuple<int8_t, double, std::vector<bool>, Bytes>{-3, 2.5, {false}, {"b"}});
  ExpectRoundTrip(demo::Plain::kB);
}

TEST(CodecTest, NestedStructRoundTrip) {
  demo::Config c{0.1, 64, {1, 2, 3}, "net", {{"a", 1.0}, {"b", -2.0}},
                 {{16, demo::Activation::kTanh}, {8, demo::Activation::kSigmoid}}, {7, "x"}};
  ExpectRoundTrip(c);
  ExpectRoundTrip(demo::Config{});
  const v1::Value v = Encode(c);
  ASSERT_EQ(v.list_value().items_size(), 7);
  EXPECT_EQ(v.list_value().items(5).list_value().items(0).list_value().items(1).enum_value(),
            "kTanh");
  EXPECT_EQ(v.list_value().items(3).string_value(), "net");
}

TEST(CodecTest, FieldIndexAndName) {
  EXPECT_EQ(internal::FieldIndex(&demo::Config::lr), 0);
  EXPECT_EQ(internal::FieldIndex(&demo::Config::layers), 2);
  EXPECT_EQ(internal::FieldIndex(&demo::Config::tag), 6);
  EXPECT_EQ(internal::FieldIndex(&demo::NotListed::c), 1);
  EXPECT_EQ(internal::FieldIndex(&demo::NotListed::b), -1);
  EXPECT_EQ(internal::FieldName<demo::Config>(4), "weights");
  EXPECT_EQ(internal::FieldName<demo::Config>(7), "");
  EXPECT_EQ(internal::FieldName<demo::Config>(-1), "");
}

TEST(CodecTest, UnorderedMapIsCanonicalWhateverTheInsertionOrder) {
  std::unordered_map<std::string, int> a, b;
  for (int i = 0; i < 200; ++i) a[std::to_string(i)] = i;
  for (int i = 199; i >= 0; --i) b[std::to_string(i)] = i;
  b.rehash(1024);
  const v1::TypeDesc& t = TypeOf<std::unordered_map<std::string, int>>();
  EXPECT_EQ(CanonicalBytes(t, Encode(a)), CanonicalBytes(t, Encode(b)));
  EXPECT_EQ(ArtifactId(t, Encode(a)), ArtifactId(t, Encode(b)));

  // std::map and std::unordered_map with the same contents are the same artifact.
  std::map<std::string, int> ordered(a.begin(), a.end());
  EXPECT_EQ(ArtifactId(TypeOf<std::map<std::string, int>>(), Encode(ordered)),
            ArtifactId(t, Encode(a)));
  // Entries are sorted by serialized key, so a canonical map passes validation.
  EXPECT_OK(ValidateValue(t, Encode(a)));
}

TEST(CodecTest, NaNPayloadsAreCanonicalButNegativeZeroIsNot) {
  const double nan1 = std::numeric_limits<double>::quiet_NaN();
  const double nan2 = std::bit_cast<double>(uint64_t{0xfff8000000000123});
  const double nan3 = -std::numeric_limits<double>::signaling_NaN();
  ASSERT_TRUE(std::isnan(nan2) && std::isnan(nan3));
  const v1::TypeDesc& t = TypeOf<double>();
  EXPECT_EQ(ArtifactId(t, Encode(nan1)), ArtifactId(t, Encode(nan2)));
  EXPECT_EQ(ArtifactId(t, Encode(nan1)), ArtifactId(t, Encode(nan3)));
  EXPECT_EQ(std::bit_cast<uint64_t>(Encode(nan2).float_value()), 0x7ff8000000000000u);
  EXPECT_EQ(ArtifactId(TypeOf<float>(), Encode(std::numeric_limits<float>::quiet_NaN())),
            ArtifactId(TypeOf<float>(), Encode(-std::numeric_limits<float>::quiet_NaN())));
  // -0.0 is a different value (1/x differs), so a different artifact.
  EXPECT_NE(ArtifactId(t, Encode(0.0)), ArtifactId(t, Encode(-0.0)));
  ASSERT_OK_AND_ASSIGN(double z, Decode<double>(Encode(-0.0)));
  EXPECT_TRUE(std::signbit(z));
  // A hand-made non-canonical NaN fails validation.
  v1::Value raw;
  raw.set_float_value(nan2);
  EXPECT_THAT(ValidateValue(t, raw), StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("non-canonical NaN")));
}

TEST(CodecTest, CanonicalBytesIsTheDeterministicTypedValueSerialization) {
  demo::Config c{0.5, 3, {1}, std::nullopt, {{"w", 2}}, {}, {1, "t"}};
  const v1::TypeDesc& t = TypeOf<demo::Config>();
  const v1::Value v = Encode(c);
  v1::TypedValue tv;
  *tv.mutable_type() = t;
  *tv.mutable_value() = v;
  std::string expected;
  ASSERT_TRUE(tv.SerializeToString(&expected));
  EXPECT_EQ(*CanonicalBytes(t, v), expected);
  EXPECT_EQ(ArtifactId(t, v), Sha256Hex(expected));
  EXPECT_TRUE(IsSha256Hex(ArtifactId(t, v)));
  // Same value, different type: different artifact.
  EXPECT_NE(ArtifactId(TypeOf<int32_t>(), Encode(int32_t{1})),
            ArtifactId(TypeOf<int64_t>(), Encode(int64_t{1})));
}

TEST(CodecTest, ArtifactIdOfLargeBytesMatchesCanonicalBytes) {
  Bytes big{std::string(3 << 20, 'x')};
  big.data[12345] = 'y';
  const v1::Value v = Encode(big);
  EXPECT_EQ(ArtifactId(TypeOf<Bytes>(), v), Sha256Hex(*CanonicalBytes(TypeOf<Bytes>(), v)));
}

TEST(CodecTest, CanonicalBytesRefusesValuesBeyondProtobufsTwoGiBLimit) {
  // 2 GiB - 1 bytes of payload: with its framing the serialization exceeds INT_MAX (it used to
  // write past the buffer).
  const v1::Value v = Encode(Bytes{std::string(std::numeric_limits<int>::max(), 'x')});
  EXPECT_THAT(CanonicalBytes(TypeOf<Bytes>(), v).status(),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("protobuf's limit")));
}

TEST(CodecTest, DecodeErrorsNameThePath) {
  demo::Config c{0.1, 64, {1, 2, 3}, "n", {{"a", 1.0}}, {{1, demo::Activation::kRelu}}, {1, "x"}};
  v1::Value v = Encode(c);
  v.mutable_list_value()->mutable_items(2)->mutable_list_value()->mutable_items(2)->set_string_value(
      "three");
  EXPECT_THAT(Decode<demo::Config>(v, "config"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "config.layers[2]: expected int32, got string"));
  EXPECT_THAT(ValidateValue(TypeOf<demo::Config>(), v, "config"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "config.layers[2]: expected int32, got string"));

  v = Encode(c);  // map value
  v.mutable_list_value()->mutable_items(4)->mutable_map_value()->mutable_entries(0)
      ->mutable_value()->set_bool_value(true);
  EXPECT_THAT(Decode<demo::Config>(v, "config"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "config.weights[\"a\"]: expected double, got bool"));

  v = Encode(c);  // tuple element
  v.mutable_list_value()->mutable_items(6)->mutable_list_value()->mutable_items(1)
      ->mutable_none_value();
  EXPECT_THAT(Decode<demo::Config>(v, "config"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "config.tag[1]: expected string, got none"));

  v = Encode(c);  // optional's inner value
  v.mutable_list_value()->mutable_items(3)->set_int_value(4);
  EXPECT_THAT(Decode<demo::Config>(v, "config"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "config.name: expected string, got int"));

  v = Encode(c);  // enum inside a nested struct inside a list
  v.mutable_list_value()->mutable_items(5)->mutable_list_value()->mutable_items(0)
      ->mutable_list_value()->mutable_items(1)->set_enum_value("kGelu");
  EXPECT_THAT(Decode<demo::Config>(v, "config"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "config.stack[0].activation: \"kGelu\" is not an enumerator of Activation"));

  v = Encode(c);  // missing field
  v.mutable_list_value()->mutable_items()->RemoveLast();
  EXPECT_THAT(Decode<demo::Config>(v, "config"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "config: expected Config with 7 fields, got 6"));

  std::map<int, int> m{{1, 2}};
  v = Encode(m);  // map key
  v.mutable_map_value()->mutable_entries(0)->mutable_key()->set_uint_value(1);
  EXPECT_THAT(Decode<IntMap>(v, "m"),
              StatusIs(absl::StatusCode::kInvalidArgument, "m{key}: expected int32, got uint"));

  EXPECT_THAT(Decode<int>(v1::Value(), "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, "x: expected int32, got unset"));
  EXPECT_THAT(Decode<IntPair>(Encode(std::tuple<int>(1))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("with 2 elements, got 1")));
}

TEST(CodecTest, DuplicateMapKeysAreRejected) {
  v1::Value v = Encode(std::map<std::string, int>{{"a", 1}});
  *v.mutable_map_value()->add_entries() = v.map_value().entries(0);
  EXPECT_THAT(Decode<StringMap>(v),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate map key")));
  EXPECT_THAT(Decode<StringHashMap>(v),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate map key")));
  EXPECT_THAT(ValidateValue(TypeOf<std::map<std::string, int>>(), v),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate map key")));
}

TEST(CodecTest, UnsortedMapFailsValidationButDecodes) {
  v1::Value v = Encode(std::map<int, int>{{1, 1}, {2, 2}});
  v.mutable_map_value()->mutable_entries()->SwapElements(0, 1);
  EXPECT_THAT(ValidateValue(TypeOf<std::map<int, int>>(), v),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("canonical key order")));
  EXPECT_OK(Decode<IntMap>(v));
}

TEST(CodecTest, OutOfRangeIntegers) {
  v1::Value v;
  v.set_int_value(128);
  EXPECT_THAT(Decode<int8_t>(v, "b"),
              StatusIs(absl::StatusCode::kInvalidArgument, "b: value 128 is out of range for int8"));
  v.set_int_value(-129);
  EXPECT_THAT(Decode<int8_t>(v), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  v.set_int_value(int64_t{1} << 31);
  EXPECT_THAT(Decode<int32_t>(v), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(ValidateValue(TypeOf<int32_t>(), v), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_OK(Decode<int64_t>(v));
  v.set_uint_value(65536);
  EXPECT_THAT(Decode<uint16_t>(v), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("out of range for uint16")));
  EXPECT_THAT(ValidateValue(TypeOf<uint16_t>(), v), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  // Signed and unsigned are distinct on the wire.
  EXPECT_THAT(Decode<int64_t>(v), StatusIs(absl::StatusCode::kInvalidArgument,
                                           "value: expected int64, got uint"));
}

TEST(CodecTest, FloatsRejectIntsAndNarrowSafely) {
  v1::Value v;
  v.set_int_value(1);
  EXPECT_THAT(Decode<double>(v), StatusIs(absl::StatusCode::kInvalidArgument,
                                          "value: expected double, got int"));
  v.set_float_value(1e300);
  ASSERT_OK_AND_ASSIGN(float f, Decode<float>(v));
  EXPECT_TRUE(std::isinf(f));
  EXPECT_THAT(ValidateValue(TypeOf<float>(), v), StatusIs(absl::StatusCode::kInvalidArgument,
                                                          HasSubstr("not representable")));
  v.set_float_value(0.1);  // not a float32 value
  EXPECT_THAT(ValidateValue(TypeOf<float>(), v), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_OK(ValidateValue(TypeOf<float>(), Encode(0.1f)));
}

TEST(CodecTest, ValidateValueChecksMalformedTypes) {
  v1::TypeDesc list;
  list.set_kind(v1::TypeDesc::LIST);  // no element type
  EXPECT_THAT(ValidateValue(list, Encode(std::vector<int>{1})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("malformed type")));
  v1::TypeDesc bad_int;
  bad_int.set_kind(v1::TypeDesc::INT);
  bad_int.set_bits(12);
  EXPECT_THAT(ValidateValue(bad_int, Encode(1)), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(ValidateValue(v1::TypeDesc(), Encode(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unsupported type kind")));
}

TEST(CodecTest, DecodePathRendering) {
  internal::DecodePath path("root");
  path.PushField("a");
  path.PushIndex(3);
  path.PushKey();
  EXPECT_EQ(path.ToString(), "root.a[3]{key}");
  path.Pop();
  v1::Value key;
  key.set_int_value(-4);
  path.PushMapValue(key, 9);
  EXPECT_EQ(path.ToString(), "root.a[3][-4]");
  path.Pop();
  key.set_bool_value(true);
  path.PushMapValue(key, 9);
  EXPECT_EQ(path.ToString(), "root.a[3][#9]");
  EXPECT_THAT(path.Error("boom"), StatusIs(absl::StatusCode::kInvalidArgument, "root.a[3][#9]: boom"));
}

}  // namespace
}  // namespace sematic
