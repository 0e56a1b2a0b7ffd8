// Domain types: construction, PNG encoding, Vega-Lite plots, codecs and their validation.
#include "sematic/types.h"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "sdk/json_internal.h"
#include "sdk/types_internal.h"

namespace sematic {
namespace {

using internal::DecodePath;

constexpr std::string_view kPngSignature("\x89PNG\r\n\x1a\n", 8);
constexpr std::string_view kJpegSignature("\xff\xd8\xff", 3);

bool IsKnownDType(int dtype) {
  return dtype >= static_cast<int>(DType::kBool) && dtype <= static_cast<int>(DType::kString);
}

// Every byte is 0 or 1 (the only valid representations of bool).
bool ValidBools(std::string_view data) {
  return std::all_of(data.begin(), data.end(), [](char c) { return c == 0 || c == 1; });
}

}  // namespace

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kBool:
    case DType::kInt8:
    case DType::kUInt8: return 1;
    case DType::kInt16:
    case DType::kUInt16: return 2;
    case DType::kInt32:
    case DType::kUInt32:
    case DType::kFloat32: return 4;
    case DType::kInt64:
    case DType::kUInt64:
    case DType::kFloat64: return 8;
    case DType::kString: return 0;
  }
  return 0;
}

std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kBool: return "bool";
    case DType::kInt8: return "int8";
    case DType::kInt16: return "int16";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kUInt8: return "uint8";
    case DType::kUInt16: return "uint16";
    case DType::kUInt32: return "uint32";
    case DType::kUInt64: return "uint64";
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
    case DType::kString: return "string";
  }
  return "unknown";
}

namespace internal {

absl::StatusOr<size_t> WireDTypeSize(int dtype, const DecodePath& path) {
  if (!IsKnownDType(dtype)) return path.Error(absl::StrCat("unknown dtype ", dtype));
  return DTypeSize(static_cast<DType>(dtype));
}

absl::StatusOr<int64_t> CheckedNumElements(const google::protobuf::RepeatedField<int64_t>& shape,
                                           size_t element_size, const DecodePath& path) {
  int64_t n = 1;
  for (int i = 0; i < shape.size(); ++i) {
    const int64_t d = shape[i];
    if (d < 0) return path.Error(absl::StrCat("negative dimension ", d, " in shape"));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) {
      return path.Error("shape overflows");
    }
    n *= d;
  }
  if (element_size != 0 &&
      static_cast<uint64_t>(n) > std::numeric_limits<size_t>::max() / element_size) {
    return path.Error("shape overflows");
  }
  return n;
}

absl::Status ValidateTensor(const v1::TensorValue& tensor, const DecodePath& path, Refs refs) {
  ASSIGN_OR_RETURN(const size_t element_size, WireDTypeSize(tensor.dtype(), path));
  if (element_size == 0) return path.Error("tensors cannot hold strings");
  ASSIGN_OR_RETURN(const int64_t n, CheckedNumElements(tensor.shape(), element_size, path));
  const uint64_t want = static_cast<uint64_t>(n) * element_size;
  ASSIGN_OR_RETURN(const uint64_t size, PayloadSize(tensor, refs, path));
  if (size != want) {
    return path.Error(absl::StrCat("tensor data is ", size, " bytes, expected ", want,
                                   " for its shape and dtype"));
  }
  if (tensor.dtype() == v1::DTYPE_BOOL && !ValidBools(tensor.data())) {
    return path.Error("bool tensor element is neither 0 nor 1");
  }
  return absl::OkStatus();
}

absl::Status ValidateTable(const v1::TableValue& table, const DecodePath& path, Refs refs) {
  const int64_t rows = table.num_rows();
  if (rows < 0) return path.Error(absl::StrCat("negative num_rows ", rows));
  absl::flat_hash_set<std::string_view> names;
  for (int i = 0; i < table.columns_size(); ++i) {
    const v1::Column& column = table.columns(i);
    const std::string where = absl::StrCat("column \"", column.name().substr(0, 64), "\"");
    if (!names.insert(column.name()).second) return path.Error(absl::StrCat("duplicate ", where));
    ASSIGN_OR_RETURN(const size_t element_size, WireDTypeSize(column.dtype(), path));
    if (element_size == 0) {
      if (!column.data().empty() || column.has_data_ref() ||
          static_cast<int64_t>(column.strings_size()) != rows) {
        return path.Error(absl::StrCat(where, " has ", column.strings_size(),
                                       " strings, expected ", rows));
      }
      continue;
    }
    if (!column.strings().empty()) {
      return path.Error(absl::StrCat(where, " of a fixed-width dtype holds strings"));
    }
    ASSIGN_OR_RETURN(const uint64_t size, PayloadSize(column, refs, path));
    if (static_cast<uint64_t>(rows) > std::numeric_limits<size_t>::max() / element_size ||
        size != static_cast<uint64_t>(rows) * element_size) {
      return path.Error(absl::StrCat(where, " holds ", size, " bytes, expected ", rows, " rows of ",
                                     element_size));
    }
    if (column.dtype() == v1::DTYPE_BOOL && !ValidBools(column.data())) {
      return path.Error(absl::StrCat(where, ": bool element is neither 0 nor 1"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateImage(const v1::ImageValue& image, const DecodePath& path, Refs refs) {
  std::string_view signature;
  switch (image.format()) {
    case v1::ImageValue::PNG: signature = kPngSignature; break;
    case v1::ImageValue::JPEG: signature = kJpegSignature; break;
    default: return path.Error(absl::StrCat("unknown image format ", image.format()));
  }
  RETURN_IF_ERROR(PayloadSize(image, refs, path).status());
  if (!image.has_data_ref() && !std::string_view(image.data()).starts_with(signature)) {
    return path.Error(absl::StrCat("image data is not a ",
                                   image.format() == v1::ImageValue::PNG ? "PNG" : "JPEG",
                                   " file"));
  }
  if (image.width() == 0 || image.height() == 0) {
    return path.Error(absl::StrCat("image has zero size ", image.width(), "x", image.height()));
  }
  return absl::OkStatus();
}

absl::Status ValidateBlob(const v1::BlobValue& blob, const DecodePath& path, Refs refs) {
  return PayloadSize(blob, refs, path).status();
}

}  // namespace internal

// ---- Tensor -----------------------------------------------------------------------------------

Tensor::Tensor() = default;

Tensor::Tensor(DType dtype, std::vector<int64_t> shape) : dtype_(dtype), shape_(std::move(shape)) {
  const size_t element_size = DTypeSize(dtype);
  SEMATIC_CHECK(element_size != 0, "Tensor: dtype must be fixed-width (not kString)");
  google::protobuf::RepeatedField<int64_t> dims(shape_.begin(), shape_.end());
  absl::StatusOr<int64_t> n =
      internal::CheckedNumElements(dims, element_size, DecodePath("Tensor"));
  SEMATIC_CHECK(n.ok(), "Tensor: negative or overflowing shape");
  num_elements_ = *n;
  bytes_.assign(static_cast<size_t>(num_elements_) * element_size, '\0');
}

void Codec<Tensor>::Describe(v1::TypeDesc* out) { out->set_kind(v1::TypeDesc::TENSOR); }

void Codec<Tensor>::Encode(const Tensor& value, v1::Value* out) {
  v1::TensorValue* t = out->mutable_tensor_value();
  t->set_dtype(static_cast<v1::DType>(value.dtype_));
  t->mutable_shape()->Add(value.shape_.begin(), value.shape_.end());
  t->set_data(value.bytes_);
}

absl::Status Codec<Tensor>::Decode(const v1::Value& in, Tensor* out, DecodePath& path) {
  if (in.kind_case() != v1::Value::kTensorValue) return path.Mismatch("Tensor", in);
  const v1::TensorValue& t = in.tensor_value();
  RETURN_IF_ERROR(internal::ValidateTensor(t, path));
  out->dtype_ = static_cast<DType>(t.dtype());
  out->shape_.assign(t.shape().begin(), t.shape().end());
  out->num_elements_ = static_cast<int64_t>(t.data().size() / DTypeSize(out->dtype_));
  out->bytes_ = t.data();
  return absl::OkStatus();
}

// ---- Table ------------------------------------------------------------------------------------

absl::Status Table::CheckNewColumn(std::string_view name, size_t size) const {
  for (const ColumnData& c : columns_) {
    if (c.name == name) {
      return absl::InvalidArgumentError(absl::StrCat("Table: duplicate column \"", internal::AsAbsl(name), "\""));
    }
  }
  if (!columns_.empty() && static_cast<int64_t>(size) != num_rows_) {
    return absl::InvalidArgumentError(absl::StrCat("Table: column \"", internal::AsAbsl(name), "\" has ", size,
                                                   " rows, the table has ", num_rows_));
  }
  return absl::OkStatus();
}

absl::StatusOr<const Table::ColumnData*> Table::Find(std::string_view name, DType dtype) const {
  for (const ColumnData& c : columns_) {
    if (c.name != name) continue;
    if (c.dtype != dtype) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Table: column \"", internal::AsAbsl(name), "\" is ", internal::AsAbsl(DTypeName(c.dtype)),
          ", not ", internal::AsAbsl(DTypeName(dtype))));
    }
    return &c;
  }
  return absl::NotFoundError(absl::StrCat("Table: no column \"", internal::AsAbsl(name), "\""));
}

std::vector<std::string> Table::column_names() const {
  std::vector<std::string> names;
  for (const ColumnData& c : columns_) names.push_back(c.name);
  return names;
}

std::vector<DType> Table::column_dtypes() const {
  std::vector<DType> dtypes;
  for (const ColumnData& c : columns_) dtypes.push_back(c.dtype);
  return dtypes;
}

void Codec<Table>::Describe(v1::TypeDesc* out) { out->set_kind(v1::TypeDesc::TABLE); }

void Codec<Table>::Encode(const Table& value, v1::Value* out) {
  v1::TableValue* t = out->mutable_table_value();
  t->set_num_rows(value.num_rows_);
  t->mutable_columns()->Reserve(static_cast<int>(value.columns_.size()));
  for (const Table::ColumnData& c : value.columns_) {
    v1::Column* column = t->add_columns();
    column->set_name(c.name);
    column->set_dtype(static_cast<v1::DType>(c.dtype));
    if (c.dtype == DType::kString) {
      column->mutable_strings()->Reserve(static_cast<int>(c.strings.size()));
      for (const std::string& s : c.strings) column->add_strings(s);
    } else {
      column->set_data(c.data);
    }
  }
}

absl::Status Codec<Table>::Decode(const v1::Value& in, Table* out, DecodePath& path) {
  if (in.kind_case() != v1::Value::kTableValue) return path.Mismatch("Table", in);
  const v1::TableValue& t = in.table_value();
  RETURN_IF_ERROR(internal::ValidateTable(t, path));
  out->columns_.clear();
  out->columns_.reserve(static_cast<size_t>(t.columns_size()));
  for (const v1::Column& c : t.columns()) {
    Table::ColumnData column{c.name(), static_cast<DType>(c.dtype()), c.data(),
                             std::vector<std::string>(c.strings().begin(), c.strings().end())};
    out->columns_.push_back(std::move(column));
  }
  out->num_rows_ = t.num_rows();
  return absl::OkStatus();
}

// ---- Image ------------------------------------------------------------------------------------

namespace {

absl::StatusOr<Image> EncodePng(uint32_t width, uint32_t height, const uint8_t* pixels,
                                bool rgb) {
  if (width == 0 || height == 0) return absl::InvalidArgumentError("Image: zero width or height");
  if (pixels == nullptr) return absl::InvalidArgumentError("Image: null pixels");
  // libpng's own default user limits; larger images are rejected rather than risked.
  if (width > 1000000 || height > 1000000) {
    return absl::InvalidArgumentError("Image: width or height above 1000000");
  }
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = width;
  image.height = height;
  image.format = rgb ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  const png_int_32 row_stride = static_cast<png_int_32>(width * (rgb ? 3 : 1));
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&image, nullptr, &size, 0, pixels, row_stride, nullptr)) {
    std::string message = image.message;
    png_image_free(&image);
    return absl::InternalError(absl::StrCat("Image: libpng: ", message));
  }
  Image out;
  out.format = Image::Format::kPng;
  out.width = width;
  out.height = height;
  out.data.resize(size);
  if (!png_image_write_to_memory(&image, out.data.data(), &size, 0, pixels, row_stride,
                                 nullptr)) {
    std::string message = image.message;
    png_image_free(&image);
    return absl::InternalError(absl::StrCat("Image: libpng: ", message));
  }
  out.data.resize(size);
  png_image_free(&image);
  return out;
}

}  // namespace

absl::StatusOr<Image> Image::FromGray8(uint32_t width, uint32_t height, const uint8_t* pixels) {
  return EncodePng(width, height, pixels, /*rgb=*/false);
}

absl::StatusOr<Image> Image::FromRgb8(uint32_t width, uint32_t height, const uint8_t* pixels) {
  return EncodePng(width, height, pixels, /*rgb=*/true);
}

void Codec<Image>::Describe(v1::TypeDesc* out) { out->set_kind(v1::TypeDesc::IMAGE); }

void Codec<Image>::Encode(const Image& value, v1::Value* out) {
  v1::ImageValue* i = out->mutable_image_value();
  i->set_format(value.format == Image::Format::kPng ? v1::ImageValue::PNG : v1::ImageValue::JPEG);
  i->set_width(value.width);
  i->set_height(value.height);
  i->set_data(value.data);
}

absl::Status Codec<Image>::Decode(const v1::Value& in, Image* out, DecodePath& path) {
  if (in.kind_case() != v1::Value::kImageValue) return path.Mismatch("Image", in);
  const v1::ImageValue& i = in.image_value();
  RETURN_IF_ERROR(internal::ValidateImage(i, path));
  out->format = i.format() == v1::ImageValue::PNG ? Image::Format::kPng : Image::Format::kJpeg;
  out->width = i.width();
  out->height = i.height();
  out->data = i.data();
  return absl::OkStatus();
}

// ---- Plot -------------------------------------------------------------------------------------

Plot Plot::Line(std::string title, std::string x_label, std::vector<double> x,
                std::string y_label, std::vector<double> y) {
  SEMATIC_CHECK(x.size() == y.size(), "Plot::Line: x and y differ in length");
  SEMATIC_CHECK(x_label != y_label, "Plot::Line: x_label and y_label must differ");
  using google::protobuf::Struct;
  using google::protobuf::Value;
  auto number = [](double d) {
    Value v;
    if (std::isfinite(d)) {
      v.set_number_value(d);
    } else {
      v.set_null_value(google::protobuf::NULL_VALUE);
    }
    return v;
  };
  auto text = [](std::string s) {
    Value v;
    v.set_string_value(std::move(s));
    return v;
  };
  Struct spec;
  auto& fields = *spec.mutable_fields();
  fields["$schema"] = text("https://vega.github.io/schema/vega-lite/v5.json");
  fields["title"] = text(title);
  fields["mark"] = text("line");
  auto* values = fields["data"].mutable_struct_value()->mutable_fields();
  auto* rows = (*values)["values"].mutable_list_value();
  for (size_t i = 0; i < x.size(); ++i) {
    auto& row = *rows->add_values()->mutable_struct_value()->mutable_fields();
    row[x_label] = number(x[i]);
    row[y_label] = number(y[i]);
  }
  auto& encoding = *fields["encoding"].mutable_struct_value()->mutable_fields();
  for (const auto& [axis, label] : {std::pair{"x", &x_label}, std::pair{"y", &y_label}}) {
    auto& channel = *encoding[axis].mutable_struct_value()->mutable_fields();
    channel["field"] = text(*label);
    channel["type"] = text("quantitative");
  }
  Value root;
  *root.mutable_struct_value() = std::move(spec);
  absl::StatusOr<std::string> json = internal::PrintJson(root, /*pretty=*/false);
  SEMATIC_CHECK(json.ok(), "Plot::Line: printing the spec failed");
  return Plot{*std::move(json)};
}

void Codec<Plot>::Describe(v1::TypeDesc* out) { out->set_kind(v1::TypeDesc::PLOT); }

void Codec<Plot>::Encode(const Plot& value, v1::Value* out) {
  out->mutable_plot_value()->set_vega_lite_json(value.vega_lite_json);
}

absl::Status Codec<Plot>::Decode(const v1::Value& in, Plot* out, DecodePath& path) {
  if (in.kind_case() != v1::Value::kPlotValue) return path.Mismatch("Plot", in);
  out->vega_lite_json = in.plot_value().vega_lite_json();
  return absl::OkStatus();
}

// ---- Blob -------------------------------------------------------------------------------------

void Codec<Blob>::Describe(v1::TypeDesc* out) { out->set_kind(v1::TypeDesc::BLOB); }

void Codec<Blob>::Encode(const Blob& value, v1::Value* out) {
  out->mutable_blob_value()->set_data(value.data);
}

absl::Status Codec<Blob>::Decode(const v1::Value& in, Blob* out, DecodePath& path) {
  if (in.kind_case() != v1::Value::kBlobValue) return path.Mismatch("Blob", in);
  RETURN_IF_ERROR(internal::ValidateBlob(in.blob_value(), path));
  out->data = in.blob_value().data();
  return absl::OkStatus();
}

}  // namespace sematic
