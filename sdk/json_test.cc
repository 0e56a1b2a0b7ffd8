#include "sematic/json.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sematic/codec.h"
#include "sematic/types.h"

namespace jt {

enum class Mode { kFast, kSlow };
SEMATIC_ENUM(Mode, kFast, kSlow);

struct Inner {
  std::optional<int> maybe;
  Mode mode = Mode::kFast;
  friend bool operator==(const Inner&, const Inner&) = default;
};
SEMATIC_STRUCT(Inner, maybe, mode);

struct Args {
  double lr = 0;
  std::vector<int> layers;
  std::map<std::string, Inner> named;
  std::map<int64_t, std::string> by_id;
  std::tuple<bool, float, uint64_t> misc;
  sematic::Bytes raw;
  friend bool operator==(const Args&, const Args&) = default;
};
SEMATIC_STRUCT(Args, lr, layers, named, by_id, misc, raw);

}  // namespace jt

namespace sematic {
namespace {

using ::sematic::testing::IsOk;
using ::sematic::testing::StatusIs;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

// ToJson then FromJson gives back exactly Encode(value): the JSON path is canonical.
template <typename T>
void ExpectJsonRoundTrip(const T& value) {
  const v1::Value encoded = Encode(value);
  ASSERT_OK_AND_ASSIGN(std::string json, ToJson(TypeOf<T>(), encoded));
  ASSERT_OK_AND_ASSIGN(v1::Value parsed, FromJson(TypeOf<T>(), json));
  EXPECT_EQ(CanonicalBytes(TypeOf<T>(), parsed), CanonicalBytes(TypeOf<T>(), encoded)) << json;
  EXPECT_EQ(ArtifactId(TypeOf<T>(), parsed), ArtifactId(TypeOf<T>(), encoded));
}

jt::Args SampleArgs() {
  return jt::Args{0.001,
                  {64, 32},
                  {{"b", {std::nullopt, jt::Mode::kSlow}}, {"a", {3, jt::Mode::kFast}}},
                  {{int64_t{1} << 60, "big"}, {-2, "neg"}},
                  {true, 0.1f, ~uint64_t{0}},
                  Bytes{std::string("\0\xfe", 2)}};
}

TEST(JsonTest, ViewOfAStruct) {
  ASSERT_OK_AND_ASSIGN(std::string json, ToJson(TypeOf<jt::Args>(), Encode(SampleArgs())));
  EXPECT_THAT(json, HasSubstr(R"("layers":[64,32])"));
  EXPECT_THAT(json, HasSubstr(R"("named":{"a":{"maybe":3,"mode":"kFast"},"b":{"maybe":null,"mode":"kSlow"}})"));
  EXPECT_THAT(json, HasSubstr(R"(["1152921504606846976","big"])"));  // 2^60: a string
  EXPECT_THAT(json, HasSubstr(R"([-2,"neg"])"));
  EXPECT_THAT(json, HasSubstr(R"("18446744073709551615")"));
  EXPECT_THAT(json, HasSubstr(R"("raw":"AP4=")"));
}

TEST(JsonTest, RoundTripsAreCanonical) {
  ExpectJsonRoundTrip(SampleArgs());
  ExpectJsonRoundTrip(jt::Args{});
  ExpectJsonRoundTrip(std::vector<double>{std::nan(""), -INFINITY, INFINITY, -0.0});
  ExpectJsonRoundTrip(1e-310);
  ExpectJsonRoundTrip(0.1 + 0.2);
  ExpectJsonRoundTrip(std::vector<float>{0.1f, std::numeric_limits<float>::max()});
  ExpectJsonRoundTrip(std::numeric_limits<int64_t>::min());
  ExpectJsonRoundTrip(std::optional<std::string>());
  ExpectJsonRoundTrip(std::map<std::string, int>{{"z", 1}, {"a", 2}, {"m", 3}});
  ExpectJsonRoundTrip(std::map<std::pair<int, int>, bool>{{{1, 2}, true}, {{0, 5}, false}});
  ExpectJsonRoundTrip(Tensor::FromVector<int64_t>({2, 2}, {1, -2, int64_t{1} << 62, 4}));
  ExpectJsonRoundTrip(Tensor::FromVector<bool>({3}, {true, false, true}));
  ExpectJsonRoundTrip(Tensor::FromVector<float>({2}, {0.5f, std::nanf("")}));
  Table t;
  ASSERT_OK(t.AddColumn<std::string>("z_name", {"a", "b"}));
  ASSERT_OK(t.AddColumn<double>("a_score", {1, 2.5}));
  ASSERT_OK(t.AddColumn<uint8_t>("m_small", {1, 255}));
  ExpectJsonRoundTrip(t);
  ExpectJsonRoundTrip(Table());
  ExpectJsonRoundTrip(Plot::Line("loss", "step", {1, 2}, "loss", {0.5, 0.25}));
  ExpectJsonRoundTrip(Blob{"hello"});
}

TEST(JsonTest, SpecialFloatsAndNegativeZero) {
  ASSERT_OK_AND_ASSIGN(std::string json,
                       ToJson(TypeOf<std::vector<double>>(),
                              Encode(std::vector<double>{NAN, INFINITY, -INFINITY, -0.0})));
  EXPECT_EQ(json, R"(["NaN","Infinity","-Infinity","-0"])");
}

TEST(JsonTest, TensorViewIsTruncated) {
  std::vector<float> values(10);
  for (int i = 0; i < 10; ++i) values[i] = static_cast<float>(i);
  const Tensor t = Tensor::FromVector<float>({2, 5}, values);
  ASSERT_OK_AND_ASSIGN(std::string json,
                       ToJson(TypeOf<Tensor>(), Encode(t), {.pretty = false, .max_elements = 3}));
  EXPECT_EQ(json, R"({"data":[0,1,2],"dtype":"float32","shape":[2,5],"truncated":true})");
  EXPECT_THAT(FromJson(TypeOf<Tensor>(), json),
              StatusIs(kInvalid, HasSubstr("truncated view cannot be read back")));
  ASSERT_OK_AND_ASSIGN(std::string pretty, ToJson(TypeOf<Tensor>(), Encode(t), {.pretty = true}));
  EXPECT_THAT(pretty, HasSubstr("\n"));
}

TEST(JsonTest, TableViewAndHandWrittenTables) {
  Table t;
  ASSERT_OK(t.AddColumn<int64_t>("id", {1, 2, 3}));
  ASSERT_OK(t.AddColumn<bool>("ok", {true, false, true}));
  ASSERT_OK_AND_ASSIGN(std::string json, ToJson(TypeOf<Table>(), Encode(t), {.max_elements = 2}));
  EXPECT_EQ(json,
            R"({"column_names":["id","ok"],"columns":{"id":[1,2],"ok":[true,false]},)"
            R"("dtypes":{"id":"int64","ok":"bool"},"num_rows":3,"truncated":true})");
  // Without dtypes and column order: inferred dtypes, columns in name order.
  ASSERT_OK_AND_ASSIGN(v1::Value v, FromJson(TypeOf<Table>(),
                                             R"({"columns":{"ok":[true,false,true],"id":[1,2,3]}})"));
  ASSERT_OK_AND_ASSIGN(Table back, Decode<Table>(v));
  EXPECT_TRUE(back == t);
  EXPECT_THAT(FromJson(TypeOf<Table>(), R"({"columns":{"a":[1,2],"b":[1]}})"),
              StatusIs(kInvalid, "args.columns.b: has 1 rows, expected 2"));
}

TEST(JsonTest, ImageViewAndInput) {
  std::vector<uint8_t> px(4, 9);
  ASSERT_OK_AND_ASSIGN(Image img, Image::FromGray8(2, 2, px.data()));
  ASSERT_OK_AND_ASSIGN(std::string json, ToJson(TypeOf<Image>(), Encode(img)));
  EXPECT_EQ(json, absl::StrCat(R"({"format":"png","height":2,"size_bytes":)", img.data.size(),
                               R"(,"width":2})"));
  EXPECT_THAT(FromJson(TypeOf<Image>(), json), StatusIs(kInvalid, HasSubstr("\"data\"")));
  ASSERT_OK_AND_ASSIGN(v1::Value v,
                       FromJson(TypeOf<Image>(),
                                absl::StrCat(R"({"format":"png","width":2,"height":2,"data":")",
                                             absl::Base64Escape(img.data), "\"}")));
  EXPECT_EQ(CanonicalBytes(TypeOf<Image>(), v), CanonicalBytes(TypeOf<Image>(), Encode(img)));
}

TEST(JsonTest, BytesAreTruncatedInTheView) {
  ASSERT_OK_AND_ASSIGN(std::string json, ToJson(TypeOf<Bytes>(), Encode(Bytes{"abcdef"}),
                                                {.max_elements = 3}));
  EXPECT_EQ(json, R"("YWJj...")");
  EXPECT_THAT(FromJson(TypeOf<Bytes>(), json), StatusIs(kInvalid, HasSubstr("invalid base64")));
}

TEST(JsonTest, FromJsonErrorsNameThePath) {
  EXPECT_THAT(FromJson(TypeOf<jt::Args>(), R"({"lr":1,"layers":[1,2,"x"]})"),
              StatusIs(kInvalid, HasSubstr("args.layers[2]: ")));
  EXPECT_THAT(FromJson(TypeOf<jt::Args>(), R"({"lr":1,"layers":[1,2,true]})", "config"),
              StatusIs(kInvalid, "config.layers[2]: expected int32, got bool"));
  EXPECT_THAT(FromJson(TypeOf<jt::Args>(), R"({"lr":"fast"})"),
              StatusIs(kInvalid, "args.lr: expected double, got string \"fast\""));
  EXPECT_THAT(FromJson(TypeOf<jt::Args>(), R"({"lr":1,"layers":[],"named":{"k":{"mode":"kMedium"}}})"),
              StatusIs(kInvalid, HasSubstr("args.named[\"k\"].mode: \"kMedium\" is not an enumerator")));
  EXPECT_THAT(FromJson(TypeOf<jt::Args>(), R"({"lr":1,"extra":2})"),
              StatusIs(kInvalid, HasSubstr("unknown field \"extra\"")));
  EXPECT_THAT(FromJson(TypeOf<jt::Args>(), R"({"lr":1})"),
              StatusIs(kInvalid, "args.layers: missing field"));
  EXPECT_THAT(FromJson(TypeOf<int8_t>(), "200"),
              StatusIs(kInvalid, "args: value 200 is out of range for int8"));
  EXPECT_THAT(FromJson(TypeOf<int>(), "1.5"), StatusIs(kInvalid, HasSubstr("not an integer")));
  EXPECT_THAT(FromJson(TypeOf<int64_t>(), "1e17"), StatusIs(kInvalid, HasSubstr("beyond 2^53")));
  EXPECT_THAT(FromJson(TypeOf<uint32_t>(), "-1"), StatusIs(kInvalid, HasSubstr("out of range")));
  EXPECT_THAT(FromJson(TypeOf<int>(), "{"), StatusIs(kInvalid, HasSubstr("args: invalid JSON")));
  EXPECT_THAT(FromJson(TypeOf<std::tuple<int, int>>(), "[1]"),
              StatusIs(kInvalid, HasSubstr("with 2 elements, got 1")));
  EXPECT_THAT(FromJson(TypeOf<std::map<int, int>>(), "[[1,2],[1,3]]"),
              StatusIs(kInvalid, HasSubstr("duplicate map key")));
  EXPECT_THAT(FromJson(TypeOf<Tensor>(), R"({"dtype":"int8","shape":[2],"data":[1]})"),
              StatusIs(kInvalid, "args.data: has 1 elements, the shape needs 2"));
  EXPECT_THAT(FromJson(TypeOf<Tensor>(), R"({"dtype":"int8","shape":[-1],"data":[]})"),
              StatusIs(kInvalid, HasSubstr("args.shape[0]")));
}

TEST(JsonTest, FromJsonAcceptsStringIntegersAndOmittedOptionals) {
  ASSERT_OK_AND_ASSIGN(v1::Value v, FromJson(TypeOf<int64_t>(), R"("9223372036854775807")"));
  EXPECT_EQ(v.int_value(), std::numeric_limits<int64_t>::max());
  ASSERT_OK_AND_ASSIGN(v1::Value inner, FromJson(TypeOf<jt::Inner>(), R"({"mode":"kSlow"})"));
  ASSERT_OK_AND_ASSIGN(jt::Inner decoded, Decode<jt::Inner>(inner));
  EXPECT_TRUE(decoded == (jt::Inner{std::nullopt, jt::Mode::kSlow}));
  // A float32 given with more precision than it has is rounded like Encode(float) would.
  ASSERT_OK_AND_ASSIGN(v1::Value f, FromJson(TypeOf<float>(), "0.1"));
  EXPECT_EQ(CanonicalBytes(TypeOf<float>(), f), CanonicalBytes(TypeOf<float>(), Encode(0.1f)));
}

TEST(JsonTest, ToJsonRejectsMismatchedValues) {
  EXPECT_THAT(ToJson(TypeOf<std::vector<int>>(), Encode(std::vector<std::string>{"x"})),
              StatusIs(kInvalid, "value[0]: expected int32, got string"));
}

}  // namespace
}  // namespace sematic
