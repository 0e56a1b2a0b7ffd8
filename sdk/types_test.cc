#include "sematic/types.h"

#include <cstdint>
#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "sematic/codec.h"

namespace sematic {
namespace {

using ::sematic::testing::IsOk;
using ::sematic::testing::StatusIs;
using ::testing::HasSubstr;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

template <typename T>
T RoundTrip(const T& value) {
  const v1::Value v = Encode(value);
  EXPECT_OK(ValidateValue(TypeOf<T>(), v));
  absl::StatusOr<T> out = Decode<T>(v);
  EXPECT_OK(out);
  return out.ok() ? *out : T{};
}

TEST(DTypeTest, SizesNamesAndMapping) {
  EXPECT_EQ(DTypeSize(DType::kFloat64), 8u);
  EXPECT_EQ(DTypeSize(DType::kBool), 1u);
  EXPECT_EQ(DTypeSize(DType::kString), 0u);
  EXPECT_EQ(DTypeName(DType::kUInt16), "uint16");
  static_assert(DTypeOf<float>() == DType::kFloat32);
  static_assert(DTypeOf<std::string>() == DType::kString);
  EXPECT_EQ(static_cast<int>(DType::kFloat32), v1::DTYPE_FLOAT32);
  EXPECT_EQ(static_cast<int>(DType::kString), v1::DTYPE_STRING);
}

TEST(TensorTest, ConstructAndAccess) {
  Tensor zeros(DType::kInt32, {2, 3});
  EXPECT_EQ(zeros.num_elements(), 6);
  EXPECT_EQ(zeros.bytes().size(), 24u);
  EXPECT_EQ(zeros.data<int32_t>()[5], 0);
  zeros.data<int32_t>()[5] = 7;
  Tensor t = Tensor::FromVector<float>({2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(t.dtype(), DType::kFloat32);
  EXPECT_THAT(t.shape(), ::testing::ElementsAre(2, 2));
  EXPECT_EQ(t.data<float>()[3], 4.0f);
  Tensor scalar(DType::kFloat64, {});
  EXPECT_EQ(scalar.num_elements(), 1);
  EXPECT_EQ(Tensor().num_elements(), 0);
  EXPECT_FALSE(t == Tensor::FromVector<float>({4}, {1, 2, 3, 4}));
  EXPECT_TRUE(t == Tensor::FromVector<float>({2, 2}, {1, 2, 3, 4}));
}

TEST(TensorTest, DataWithWrongTypeIsAProgrammerError) {
  Tensor t(DType::kFloat32, {1});
  EXPECT_DEATH(t.data<double>(), "does not match the dtype");
}

TEST(TensorTest, RoundTrip) {
  for (const Tensor& t : {Tensor::FromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6}),
                          Tensor::FromVector<bool>({3}, {true, false, true}),
                          Tensor::FromVector<uint64_t>({1, 1}, {~uint64_t{0}}),
                          Tensor::FromVector<int8_t>({0, 5}, {}), Tensor(DType::kFloat64, {}),
                          Tensor()}) {
    EXPECT_TRUE(RoundTrip(t) == t);
  }
  Tensor t = RoundTrip(Tensor::FromVector<double>({2}, {0.5, -1}));
  EXPECT_EQ(t.data<double>()[1], -1.0);
  EXPECT_EQ(t.num_elements(), 2);
}

v1::Value TensorValue(v1::DType dtype, std::vector<int64_t> shape, size_t bytes) {
  v1::Value v;
  v.mutable_tensor_value()->set_dtype(dtype);
  for (int64_t d : shape) v.mutable_tensor_value()->add_shape(d);
  v.mutable_tensor_value()->set_data(std::string(bytes, '\0'));
  return v;
}

TEST(TensorTest, DecodeValidates) {
  EXPECT_OK(Decode<Tensor>(TensorValue(v1::DTYPE_INT16, {2, 3}, 12)));
  EXPECT_THAT(Decode<Tensor>(TensorValue(v1::DTYPE_INT16, {2, 3}, 11), "t"),
              StatusIs(kInvalid, "t: tensor data is 11 bytes, expected 12 for its shape and dtype"));
  EXPECT_THAT(Decode<Tensor>(TensorValue(v1::DTYPE_INT16, {2, -3}, 0)),
              StatusIs(kInvalid, HasSubstr("negative dimension -3")));
  EXPECT_THAT(Decode<Tensor>(TensorValue(v1::DTYPE_FLOAT64, {1 << 30, 1 << 30, 1 << 30}, 0)),
              StatusIs(kInvalid, HasSubstr("overflows")));
  EXPECT_THAT(Decode<Tensor>(TensorValue(v1::DTYPE_FLOAT64, {int64_t{1} << 61}, 0)),
              StatusIs(kInvalid, HasSubstr("overflows")));
  EXPECT_THAT(Decode<Tensor>(TensorValue(v1::DTYPE_STRING, {1}, 0)),
              StatusIs(kInvalid, HasSubstr("cannot hold strings")));
  EXPECT_THAT(Decode<Tensor>(TensorValue(static_cast<v1::DType>(99), {1}, 1)),
              StatusIs(kInvalid, HasSubstr("unknown dtype 99")));
  v1::Value bools = TensorValue(v1::DTYPE_BOOL, {2}, 2);
  (*bools.mutable_tensor_value()->mutable_data())[1] = 2;
  EXPECT_THAT(Decode<Tensor>(bools), StatusIs(kInvalid, HasSubstr("neither 0 nor 1")));
  EXPECT_THAT(ValidateValue(TypeOf<Tensor>(), bools), StatusIs(kInvalid, HasSubstr("neither")));
  EXPECT_THAT(Decode<Tensor>(Encode(1)), StatusIs(kInvalid, "value: expected Tensor, got int"));
}

TEST(TableTest, BuildAndRead) {
  Table t;
  ASSERT_OK(t.AddColumn<int64_t>("id", {1, 2, 3}));
  ASSERT_OK(t.AddColumn<std::string>("name", {"a", "b", "c"}));
  ASSERT_OK(t.AddColumn<bool>("ok", {true, false, true}));
  ASSERT_OK(t.AddColumn<double>("score", {0.5, 1.5, 2.5}));
  EXPECT_EQ(t.num_rows(), 3);
  EXPECT_EQ(t.num_columns(), 4u);
  EXPECT_THAT(t.column_names(), ::testing::ElementsAre("id", "name", "ok", "score"));
  EXPECT_THAT(t.column_dtypes(), ::testing::ElementsAre(DType::kInt64, DType::kString,
                                                        DType::kBool, DType::kFloat64));
  EXPECT_THAT(t.AddColumn<int32_t>("short", {1, 2}),
              StatusIs(kInvalid, HasSubstr("has 2 rows, the table has 3")));
  EXPECT_THAT(t.AddColumn<int32_t>("id", {1, 2, 3}), StatusIs(kInvalid, HasSubstr("duplicate")));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> names, t.Column<std::string>("name"));
  EXPECT_THAT(names, ::testing::ElementsAre("a", "b", "c"));
  ASSERT_OK_AND_ASSIGN(std::vector<bool> ok, t.Column<bool>("ok"));
  EXPECT_THAT(ok, ::testing::ElementsAre(true, false, true));
  EXPECT_THAT(t.Column<double>("missing"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing")));
  EXPECT_THAT(t.Column<float>("score"), StatusIs(kInvalid, HasSubstr("float64, not float32")));

  Table back = RoundTrip(t);
  EXPECT_TRUE(back == t);
  ASSERT_OK_AND_ASSIGN(std::vector<double> score, back.Column<double>("score"));
  EXPECT_THAT(score, ::testing::ElementsAre(0.5, 1.5, 2.5));
  EXPECT_TRUE(RoundTrip(Table()) == Table());
}

TEST(TableTest, DecodeValidates) {
  Table t;
  ASSERT_OK(t.AddColumn<int32_t>("a", {1, 2}));
  ASSERT_OK(t.AddColumn<std::string>("s", {"x", "y"}));
  const v1::Value good = Encode(t);

  v1::Value v = good;
  v.mutable_table_value()->mutable_columns(0)->mutable_data()->pop_back();
  EXPECT_THAT(Decode<Table>(v, "t"), StatusIs(kInvalid, HasSubstr("t: column \"a\" holds 7 bytes")));
  v = good;
  v.mutable_table_value()->mutable_columns(1)->add_strings("z");
  EXPECT_THAT(Decode<Table>(v), StatusIs(kInvalid, HasSubstr("has 3 strings, expected 2")));
  v = good;
  v.mutable_table_value()->mutable_columns(1)->set_name("a");
  EXPECT_THAT(Decode<Table>(v), StatusIs(kInvalid, HasSubstr("duplicate column \"a\"")));
  v = good;
  v.mutable_table_value()->mutable_columns(0)->set_dtype(static_cast<v1::DType>(0));
  EXPECT_THAT(Decode<Table>(v), StatusIs(kInvalid, HasSubstr("unknown dtype 0")));
  v = good;
  v.mutable_table_value()->set_num_rows(-1);
  EXPECT_THAT(Decode<Table>(v), StatusIs(kInvalid, HasSubstr("negative num_rows")));
  v = good;
  v.mutable_table_value()->set_num_rows(int64_t{1} << 62);
  EXPECT_THAT(Decode<Table>(v), StatusIs(kInvalid, HasSubstr("column \"a\"")));
  EXPECT_THAT(ValidateValue(TypeOf<Table>(), v), StatusIs(kInvalid, HasSubstr("column \"a\"")));
}

TEST(ImageTest, PngEncodingAndValidation) {
  std::vector<uint8_t> gray(4 * 3, 128);
  ASSERT_OK_AND_ASSIGN(Image img, Image::FromGray8(4, 3, gray.data()));
  EXPECT_EQ(img.format, Image::Format::kPng);
  EXPECT_EQ(img.width, 4u);
  EXPECT_EQ(img.height, 3u);
  EXPECT_EQ(img.data.substr(1, 3), "PNG");
  EXPECT_TRUE(RoundTrip(img) == img);
  std::vector<uint8_t> rgb(2 * 2 * 3, 7);
  ASSERT_OK_AND_ASSIGN(Image color, Image::FromRgb8(2, 2, rgb.data()));
  EXPECT_GT(color.data.size(), 8u);
  EXPECT_THAT(Image::FromGray8(0, 3, gray.data()), StatusIs(kInvalid, HasSubstr("zero")));
  EXPECT_THAT(Image::FromGray8(1, 1, nullptr), StatusIs(kInvalid, HasSubstr("null")));

  Image not_png = img;
  not_png.data = "GIF89a...";
  EXPECT_THAT(Decode<Image>(Encode(not_png)), StatusIs(kInvalid, HasSubstr("not a PNG file")));
  Image zero = img;
  zero.height = 0;
  EXPECT_THAT(Decode<Image>(Encode(zero)), StatusIs(kInvalid, HasSubstr("zero size")));
  Image jpeg{Image::Format::kJpeg, 1, 1, std::string("\xff\xd8\xff\xe0rest", 8)};
  EXPECT_TRUE(RoundTrip(jpeg) == jpeg);
}

TEST(PlotTest, LineIsAVegaLiteSpec) {
  Plot p = Plot::Line("Loss", "epoch", {1, 2, 3}, "loss", {0.9, 0.5, 0.25});
  google::protobuf::Value spec;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(p.vega_lite_json, &spec).ok());
  const auto& fields = spec.struct_value().fields();
  EXPECT_EQ(fields.at("mark").string_value(), "line");
  EXPECT_EQ(fields.at("title").string_value(), "Loss");
  const auto& rows = fields.at("data").struct_value().fields().at("values").list_value();
  ASSERT_EQ(rows.values_size(), 3);
  EXPECT_EQ(rows.values(2).struct_value().fields().at("loss").number_value(), 0.25);
  EXPECT_EQ(fields.at("encoding").struct_value().fields().at("x").struct_value().fields().at(
                "field").string_value(),
            "epoch");
  // Deterministic: the same plot is the same artifact.
  EXPECT_EQ(p.vega_lite_json, Plot::Line("Loss", "epoch", {1, 2, 3}, "loss", {0.9, 0.5, 0.25})
                                  .vega_lite_json);
  EXPECT_TRUE(RoundTrip(p) == p);
  Plot gaps = Plot::Line("t", "x", {1, 2}, "y", {std::nan(""), 1});
  EXPECT_THAT(gaps.vega_lite_json, HasSubstr("null"));
}

TEST(BlobTest, RoundTrip) {
  Blob b{std::string("\0\1\2", 3)};
  EXPECT_TRUE(RoundTrip(b) == b);
  EXPECT_THAT(Decode<Blob>(Encode(Bytes{"x"})), StatusIs(kInvalid, "value: expected Blob, got bytes"));
}

}  // namespace
}  // namespace sematic
