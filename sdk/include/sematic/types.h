// Domain types that steps pass around: Tensor, Table, Image, Plot and Blob, all codable.
//
//   sematic::Tensor t = sematic::Tensor::FromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
//   float* p = t.data<float>();                       // row-major, 6 elements
//   sematic::Table table;
//   absl::Status s = table.AddColumn<double>("loss", {0.9, 0.5});
//   absl::StatusOr<sematic::Image> png = sematic::Image::FromGray8(28, 28, pixels);
//
// Tensors and tables hold their elements little-endian in a std::string, so encoding and
// decoding is one memcpy into or out of the protobuf bytes field.
#ifndef SEMATIC_TYPES_H_
#define SEMATIC_TYPES_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/check.h"
#include "common/status_macros.h"
#include "sematic/codec.h"

namespace sematic {

// Element types of tensors and table columns; mirrors v1::DType (same numeric values).
enum class DType : int {
  kBool = 1,
  kInt8 = 2,
  kInt16 = 3,
  kInt32 = 4,
  kInt64 = 5,
  kUInt8 = 6,
  kUInt16 = 7,
  kUInt32 = 8,
  kUInt64 = 9,
  kFloat32 = 10,
  kFloat64 = 11,
  kString = 12,  // table columns only
};

// Bytes per element; 0 for kString.
size_t DTypeSize(DType dtype);
// "bool", "int8", ..., "float32", "float64", "string".
std::string_view DTypeName(DType dtype);

namespace internal {
template <typename T>
inline constexpr bool kDependentFalse = false;
}  // namespace internal

// The DType of a C++ element type; a compile error for other types.
template <typename T>
constexpr DType DTypeOf() {
  if constexpr (std::is_same_v<T, bool>) return DType::kBool;
  else if constexpr (std::is_same_v<T, int8_t>) return DType::kInt8;
  else if constexpr (std::is_same_v<T, int16_t>) return DType::kInt16;
  else if constexpr (std::is_same_v<T, int32_t>) return DType::kInt32;
  else if constexpr (std::is_same_v<T, int64_t>) return DType::kInt64;
  else if constexpr (std::is_same_v<T, uint8_t>) return DType::kUInt8;
  else if constexpr (std::is_same_v<T, uint16_t>) return DType::kUInt16;
  else if constexpr (std::is_same_v<T, uint32_t>) return DType::kUInt32;
  else if constexpr (std::is_same_v<T, uint64_t>) return DType::kUInt64;
  else if constexpr (std::is_same_v<T, float>) return DType::kFloat32;
  else if constexpr (std::is_same_v<T, double>) return DType::kFloat64;
  else if constexpr (std::is_same_v<T, std::string>) return DType::kString;
  else static_assert(internal::kDependentFalse<T>, "sematic::DTypeOf: unsupported element type");
}

// A dense n-dimensional array of one fixed-width dtype, row-major. A value type: copies copy the
// data. Not thread-safe for concurrent mutation.
class Tensor {
 public:
  // An empty float32 tensor of shape {0}.
  Tensor();
  // Zero-filled. SEMATIC_CHECKs that dtype is fixed-width and the shape is valid (no negative
  // dimension, size fits in memory): a bad shape here is a programmer error.
  Tensor(DType dtype, std::vector<int64_t> shape);

  // A tensor of `shape` holding `values` (row-major); SEMATIC_CHECKs that the sizes agree.
  template <typename T>
  static Tensor FromVector(std::vector<int64_t> shape, const std::vector<T>& values) {
    Tensor t(DTypeOf<T>(), std::move(shape));
    SEMATIC_CHECK(static_cast<int64_t>(values.size()) == t.num_elements(),
                  "Tensor::FromVector: values.size() != product(shape)");
    if constexpr (std::is_same_v<T, bool>) {
      for (size_t i = 0; i < values.size(); ++i) t.bytes_[i] = values[i] ? 1 : 0;
    } else if (!values.empty()) {
      std::memcpy(t.bytes_.data(), values.data(), values.size() * sizeof(T));
    }
    return t;
  }

  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t num_elements() const { return num_elements_; }

  // The elements; SEMATIC_CHECKs that T matches dtype().
  template <typename T>
  T* data() {
    SEMATIC_CHECK(DTypeOf<T>() == dtype_, "Tensor::data<T>: T does not match the dtype");
    return reinterpret_cast<T*>(bytes_.data());
  }
  template <typename T>
  const T* data() const {
    SEMATIC_CHECK(DTypeOf<T>() == dtype_, "Tensor::data<T>: T does not match the dtype");
    return reinterpret_cast<const T*>(bytes_.data());
  }

  // The raw little-endian elements (num_elements() * DTypeSize(dtype()) bytes). Changing the
  // size breaks the tensor; the accessor exists for cheap moves in and out of protobuf bytes.
  std::string& bytes() { return bytes_; }
  const std::string& bytes() const { return bytes_; }

  friend bool operator==(const Tensor& a, const Tensor& b) {
    return a.dtype_ == b.dtype_ && a.shape_ == b.shape_ && a.bytes_ == b.bytes_;
  }

 private:
  friend struct Codec<Tensor>;
  DType dtype_ = DType::kFloat32;
  std::vector<int64_t> shape_ = {0};
  int64_t num_elements_ = 0;
  std::string bytes_;
};

// Named, typed columns of equal length (num_rows). Column order is significant (equality and
// encoding follow it).
class Table {
 public:
  // Appends a column. T is bool, a fixed-width integer, float, double or std::string.
  // INVALID_ARGUMENT when `name` is already a column or values.size() != num_rows() (the first
  // column sets num_rows).
  template <typename T>
  absl::Status AddColumn(std::string name, std::vector<T> values) {
    constexpr DType dtype = DTypeOf<T>();
    RETURN_IF_ERROR(CheckNewColumn(name, values.size()));
    const int64_t rows = static_cast<int64_t>(values.size());
    ColumnData column{std::move(name), dtype, {}, {}};
    if constexpr (std::is_same_v<T, std::string>) {
      column.strings = std::move(values);
    } else if constexpr (std::is_same_v<T, bool>) {
      column.data.resize(values.size());
      for (size_t i = 0; i < values.size(); ++i) column.data[i] = values[i] ? 1 : 0;
    } else {
      column.data.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
    }
    num_rows_ = rows;
    columns_.push_back(std::move(column));
    return absl::OkStatus();
  }

  // A copy of column `name`. NOT_FOUND when there is no such column, INVALID_ARGUMENT when T
  // does not match its dtype.
  template <typename T>
  absl::StatusOr<std::vector<T>> Column(std::string_view name) const {
    ASSIGN_OR_RETURN(const ColumnData* column, Find(name, DTypeOf<T>()));
    std::vector<T> out;
    if constexpr (std::is_same_v<T, std::string>) {
      out = column->strings;
    } else if constexpr (std::is_same_v<T, bool>) {
      out.resize(column->data.size());
      for (size_t i = 0; i < column->data.size(); ++i) out[i] = column->data[i] != 0;
    } else {
      out.resize(column->data.size() / sizeof(T));
      if (!out.empty()) std::memcpy(out.data(), column->data.data(), column->data.size());
    }
    return out;
  }

  int64_t num_rows() const { return num_rows_; }
  size_t num_columns() const { return columns_.size(); }
  // Column names and dtypes, in column order.
  std::vector<std::string> column_names() const;
  std::vector<DType> column_dtypes() const;

  friend bool operator==(const Table& a, const Table& b) {
    return a.num_rows_ == b.num_rows_ && a.columns_ == b.columns_;
  }

 private:
  friend struct Codec<Table>;
  struct ColumnData {
    std::string name;
    DType dtype;
    std::string data;                  // fixed-width dtypes: little-endian elements
    std::vector<std::string> strings;  // kString
    friend bool operator==(const ColumnData&, const ColumnData&) = default;
  };
  absl::Status CheckNewColumn(std::string_view name, size_t size) const;
  absl::StatusOr<const ColumnData*> Find(std::string_view name, DType dtype) const;

  std::vector<ColumnData> columns_;
  int64_t num_rows_ = 0;
};

// An encoded image file (PNG or JPEG) with its dimensions.
struct Image {
  enum class Format { kPng, kJpeg };
  Format format = Format::kPng;
  uint32_t width = 0;
  uint32_t height = 0;
  std::string data;  // the encoded file

  // PNG-encodes 8-bit grayscale (w*h bytes) or RGB (w*h*3 bytes) pixels, row-major.
  // INVALID_ARGUMENT for a zero or too large dimension or null pixels; INTERNAL if libpng fails.
  static absl::StatusOr<Image> FromGray8(uint32_t width, uint32_t height, const uint8_t* pixels);
  static absl::StatusOr<Image> FromRgb8(uint32_t width, uint32_t height, const uint8_t* pixels);

  friend bool operator==(const Image&, const Image&) = default;
};

// A chart as a Vega-Lite specification with its data inlined.
struct Plot {
  std::string vega_lite_json;

  // A line chart of y against x. SEMATIC_CHECKs that x and y have the same length and that the
  // labels differ (they name the data fields). Non-finite values become nulls (gaps).
  static Plot Line(std::string title, std::string x_label, std::vector<double> x,
                   std::string y_label, std::vector<double> y);

  friend bool operator==(const Plot&, const Plot&) = default;
};

// Opaque binary data (a model checkpoint, an archive).
struct Blob {
  std::string data;
  friend bool operator==(const Blob&, const Blob&) = default;
};

// Codecs (TypeDesc TENSOR, TABLE, IMAGE, PLOT, BLOB); decoding validates the structure.
template <>
struct Codec<Tensor> {
  static void Describe(v1::TypeDesc* out);
  static void Encode(const Tensor& value, v1::Value* out);
  static absl::Status Decode(const v1::Value& in, Tensor* out, internal::DecodePath& path);
};
template <>
struct Codec<Table> {
  static void Describe(v1::TypeDesc* out);
  static void Encode(const Table& value, v1::Value* out);
  static absl::Status Decode(const v1::Value& in, Table* out, internal::DecodePath& path);
};
template <>
struct Codec<Image> {
  static void Describe(v1::TypeDesc* out);
  static void Encode(const Image& value, v1::Value* out);
  static absl::Status Decode(const v1::Value& in, Image* out, internal::DecodePath& path);
};
template <>
struct Codec<Plot> {
  static void Describe(v1::TypeDesc* out);
  static void Encode(const Plot& value, v1::Value* out);
  static absl::Status Decode(const v1::Value& in, Plot* out, internal::DecodePath& path);
};
template <>
struct Codec<Blob> {
  static void Describe(v1::TypeDesc* out);
  static void Encode(const Blob& value, v1::Value* out);
  static absl::Status Decode(const v1::Value& in, Blob* out, internal::DecodePath& path);
};

}  // namespace sematic

#endif  // SEMATIC_TYPES_H_
