// JSON views of typed values and typed values from JSON, built on protobuf's JSON support
// (google.protobuf.Value as the JSON tree): no hand-written parser or printer.
#include "sematic/json.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/type_resolver.h"
#include "google/protobuf/util/type_resolver_util.h"
#include "sdk/json_internal.h"
#include "sdk/types_internal.h"
#include "sematic/types.h"

namespace sematic {
namespace internal {

absl::StatusOr<std::string> PrintJson(const google::protobuf::Message& message, bool pretty) {
  using internal::AsAbsl;
  static constexpr std::string_view kUrlPrefix = "type.googleapis.com";
  // Immutable after construction and thread-safe; leaked on purpose.
  static google::protobuf::util::TypeResolver* const resolver =
      google::protobuf::util::NewTypeResolverForDescriptorPool(
          std::string(kUrlPrefix), google::protobuf::DescriptorPool::generated_pool());
  // Deterministic serialization sorts map keys (struct fields), so the JSON object keys come
  // out sorted.
  std::string binary;
  {
    google::protobuf::io::StringOutputStream stream(&binary);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.preserve_proto_field_names = true;
  std::string out;
  const auto status = google::protobuf::util::BinaryToJsonString(
      resolver, absl::StrCat(AsAbsl(kUrlPrefix), "/", message.GetDescriptor()->full_name()), binary, &out,
      options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("JSON printing failed: ", status.ToString()));
  }
  return out;
}

}  // namespace internal

namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using JValue = google::protobuf::Value;
using internal::AsAbsl;
using internal::DecodePath;
using K = v1::TypeDesc;

constexpr double kMaxExactInt = 9007199254740992.0;  // 2^53

// ---- Shared helpers ---------------------------------------------------------------------------

// Calls f.template operator()<T>() with the C++ type of a fixed-width dtype.
template <typename F>
absl::Status VisitFixedDType(DType dtype, F&& f) {
  switch (dtype) {
    case DType::kBool: return f.template operator()<bool>();
    case DType::kInt8: return f.template operator()<int8_t>();
    case DType::kInt16: return f.template operator()<int16_t>();
    case DType::kInt32: return f.template operator()<int32_t>();
    case DType::kInt64: return f.template operator()<int64_t>();
    case DType::kUInt8: return f.template operator()<uint8_t>();
    case DType::kUInt16: return f.template operator()<uint16_t>();
    case DType::kUInt32: return f.template operator()<uint32_t>();
    case DType::kUInt64: return f.template operator()<uint64_t>();
    case DType::kFloat32: return f.template operator()<float>();
    case DType::kFloat64: return f.template operator()<double>();
    case DType::kString: break;
  }
  return absl::InternalError("not a fixed-width dtype");
}

std::string_view JsonKindName(const JValue& v) {
  switch (v.kind_case()) {
    case JValue::kNullValue: return "null";
    case JValue::kNumberValue: return "number";
    case JValue::kStringValue: return "string";
    case JValue::kBoolValue: return "bool";
    case JValue::kStructValue: return "object";
    case JValue::kListValue: return "array";
    default: return "nothing";
  }
}

absl::Status JsonMismatch(const DecodePath& path, std::string_view expected, const JValue& v) {
  return path.Error(absl::StrCat("expected ", AsAbsl(expected), ", got ", AsAbsl(JsonKindName(v))));
}

// ---- ToJson -----------------------------------------------------------------------------------

JValue Null() {
  JValue v;
  v.set_null_value(google::protobuf::NULL_VALUE);
  return v;
}
JValue Bool(bool b) {
  JValue v;
  v.set_bool_value(b);
  return v;
}
JValue Text(std::string s) {
  JValue v;
  v.set_string_value(std::move(s));
  return v;
}
JValue Int(int64_t i) {
  JValue v;
  if (std::fabs(static_cast<double>(i)) > kMaxExactInt) {
    v.set_string_value(absl::StrCat(i));
  } else {
    v.set_number_value(static_cast<double>(i));
  }
  return v;
}
JValue Uint(uint64_t u) {
  JValue v;
  if (static_cast<double>(u) > kMaxExactInt) {
    v.set_string_value(absl::StrCat(u));
  } else {
    v.set_number_value(static_cast<double>(u));
  }
  return v;
}
JValue Float(double d) {
  JValue v;
  if (std::isnan(d)) {
    v.set_string_value("NaN");
  } else if (std::isinf(d)) {
    v.set_string_value(d > 0 ? "Infinity" : "-Infinity");
  } else if (d == 0 && std::signbit(d)) {
    v.set_string_value("-0");  // protobuf's JSON parser would read a -0 number as +0
  } else {
    v.set_number_value(d);
  }
  return v;
}
JValue Base64(const std::string& bytes, size_t max) {
  if (bytes.size() <= max) return Text(absl::Base64Escape(bytes));
  return Text(absl::StrCat(absl::Base64Escape(absl::string_view(bytes).substr(0, max)), "..."));
}

template <typename T>
JValue ElementView(const char* p) {
  T x;
  std::memcpy(&x, p, sizeof(T));
  if constexpr (std::is_same_v<T, bool>) {
    return Bool(x);
  } else if constexpr (std::is_floating_point_v<T>) {
    return Float(static_cast<double>(x));
  } else if constexpr (std::is_signed_v<T>) {
    return Int(static_cast<int64_t>(x));
  } else {
    return Uint(static_cast<uint64_t>(x));
  }
}

// Appends elements [0, count) of fixed-width little-endian `data` to `out`.
void FixedElementsView(DType dtype, const std::string& data, size_t count, ListValue* out) {
  const absl::Status unused = VisitFixedDType(dtype, [&]<typename T>() {
    for (size_t i = 0; i < count; ++i) *out->add_values() = ElementView<T>(data.data() + i * sizeof(T));
    return absl::OkStatus();
  });
  (void)unused;
}

// A payload kept apart (sematic/payload.h), which a view shows by its ref:
// {"payload": {"digest": "...", "size_bytes": N}}.
JValue PayloadView(const v1::PayloadRef& ref) {
  JValue out;
  auto& payload = *(*out.mutable_struct_value()->mutable_fields())["payload"]
                       .mutable_struct_value()
                       ->mutable_fields();
  payload["digest"] = Text(ref.digest());
  payload["size_bytes"] = Uint(ref.size());
  return out;
}

// `value` has been validated against `type`.
JValue View(const v1::TypeDesc& type, const v1::Value& value, const JsonOptions& options) {
  switch (type.kind()) {
    case K::BOOL: return Bool(value.bool_value());
    case K::INT: return Int(value.int_value());
    case K::UINT: return Uint(value.uint_value());
    case K::FLOAT: return Float(value.float_value());
    case K::STRING: return Text(value.string_value());
    case K::BYTES: return Base64(value.bytes_value(), options.max_elements);
    case K::BLOB:
      if (value.blob_value().has_data_ref()) return PayloadView(value.blob_value().data_ref());
      return Base64(value.blob_value().data(), options.max_elements);
    case K::ENUM: return Text(value.enum_value());
    case K::OPTIONAL:
      if (value.kind_case() == v1::Value::kNoneValue) return Null();
      return View(type.params(0), value, options);
    case K::LIST:
    case K::TUPLE: {
      JValue out;
      ListValue* list = out.mutable_list_value();
      const auto& items = value.list_value().items();
      for (int i = 0; i < items.size(); ++i) {
        *list->add_values() =
            View(type.kind() == K::LIST ? type.params(0) : type.params(i), items[i], options);
      }
      return out;
    }
    case K::STRUCT: {
      JValue out;
      auto& fields = *out.mutable_struct_value()->mutable_fields();
      for (int i = 0; i < type.fields_size(); ++i) {
        fields[type.fields(i).name()] =
            View(type.fields(i).type(), value.list_value().items(i), options);
      }
      return out;
    }
    case K::MAP: {
      JValue out;
      const bool string_keys = type.params(0).kind() == K::STRING;
      for (const v1::MapEntry& e : value.map_value().entries()) {
        if (string_keys) {
          (*out.mutable_struct_value()->mutable_fields())[e.key().string_value()] =
              View(type.params(1), e.value(), options);
        } else {
          ListValue* pair = out.mutable_list_value()->add_values()->mutable_list_value();
          *pair->add_values() = View(type.params(0), e.key(), options);
          *pair->add_values() = View(type.params(1), e.value(), options);
        }
      }
      if (out.kind_case() == JValue::KIND_NOT_SET) {
        if (string_keys) {
          out.mutable_struct_value();
        } else {
          out.mutable_list_value();
        }
      }
      return out;
    }
    case K::TENSOR: {
      const v1::TensorValue& t = value.tensor_value();
      const DType dtype = static_cast<DType>(t.dtype());
      const size_t n = t.data().size() / DTypeSize(dtype);
      const size_t shown = std::min(n, options.max_elements);
      JValue out;
      auto& fields = *out.mutable_struct_value()->mutable_fields();
      fields["dtype"] = Text(std::string(DTypeName(dtype)));
      ListValue* shape = fields["shape"].mutable_list_value();
      for (int64_t d : t.shape()) *shape->add_values() = Int(d);
      if (t.has_data_ref()) {
        fields["data"] = PayloadView(t.data_ref());
        return out;
      }
      FixedElementsView(dtype, t.data(), shown, fields["data"].mutable_list_value());
      if (shown < n) fields["truncated"] = Bool(true);
      return out;
    }
    case K::TABLE: {
      const v1::TableValue& t = value.table_value();
      const size_t rows = static_cast<size_t>(t.num_rows());
      const size_t shown = std::min(rows, options.max_elements);
      JValue out;
      auto& fields = *out.mutable_struct_value()->mutable_fields();
      fields["num_rows"] = Int(t.num_rows());
      ListValue* names = fields["column_names"].mutable_list_value();
      auto& dtypes = *fields["dtypes"].mutable_struct_value()->mutable_fields();
      auto& columns = *fields["columns"].mutable_struct_value()->mutable_fields();
      for (const v1::Column& c : t.columns()) {
        const DType dtype = static_cast<DType>(c.dtype());
        *names->add_values() = Text(c.name());
        dtypes[c.name()] = Text(std::string(DTypeName(dtype)));
        if (c.has_data_ref()) {
          columns[c.name()] = PayloadView(c.data_ref());
          continue;
        }
        ListValue* column = columns[c.name()].mutable_list_value();
        if (dtype == DType::kString) {
          for (size_t i = 0; i < shown; ++i) *column->add_values() = Text(c.strings(static_cast<int>(i)));
        } else {
          FixedElementsView(dtype, c.data(), shown, column);
        }
      }
      if (shown < rows) fields["truncated"] = Bool(true);
      return out;
    }
    case K::IMAGE: {
      const v1::ImageValue& image = value.image_value();
      JValue out;
      auto& fields = *out.mutable_struct_value()->mutable_fields();
      fields["format"] = Text(image.format() == v1::ImageValue::PNG ? "png" : "jpeg");
      fields["width"] = Uint(image.width());
      fields["height"] = Uint(image.height());
      fields["size_bytes"] =
          Uint(image.has_data_ref() ? image.data_ref().size() : image.data().size());
      if (image.has_data_ref()) fields["data"] = PayloadView(image.data_ref());
      return out;
    }
    case K::PLOT: {
      JValue spec;
      if (google::protobuf::util::JsonStringToMessage(value.plot_value().vega_lite_json(), &spec)
              .ok()) {
        return spec;
      }
      return Text(value.plot_value().vega_lite_json());  // not JSON: shown as text
    }
    default:
      return Null();  // unreachable after validation
  }
}

// ---- FromJson ---------------------------------------------------------------------------------

absl::StatusOr<int64_t> ParseInt(const JValue& v, int64_t min, int64_t max,
                                 std::string_view type_name, const DecodePath& path) {
  int64_t i = 0;
  if (v.kind_case() == JValue::kNumberValue) {
    const double d = v.number_value();
    if (!(std::fabs(d) <= kMaxExactInt)) {
      return path.Error(absl::StrCat("integer ", d, " beyond 2^53 must be given as a string"));
    }
    if (d != std::trunc(d)) return path.Error(absl::StrCat(d, " is not an integer"));
    i = static_cast<int64_t>(d);
  } else if (v.kind_case() == JValue::kStringValue) {
    if (!absl::SimpleAtoi(v.string_value(), &i)) {
      return path.Error(absl::StrCat("expected ", AsAbsl(type_name), ", got string \"",
                                     v.string_value().substr(0, 64), "\""));
    }
  } else {
    return JsonMismatch(path, type_name, v);
  }
  if (i < min || i > max) {
    return path.Error(absl::StrCat("value ", i, " is out of range for ", AsAbsl(type_name)));
  }
  return i;
}

absl::StatusOr<uint64_t> ParseUint(const JValue& v, uint64_t max, std::string_view type_name,
                                   const DecodePath& path) {
  uint64_t u = 0;
  if (v.kind_case() == JValue::kNumberValue) {
    const double d = v.number_value();
    if (d < 0) return path.Error(absl::StrCat("value ", d, " is out of range for ", AsAbsl(type_name)));
    if (!(d <= kMaxExactInt)) {
      return path.Error(absl::StrCat("integer ", d, " beyond 2^53 must be given as a string"));
    }
    if (d != std::trunc(d)) return path.Error(absl::StrCat(d, " is not an integer"));
    u = static_cast<uint64_t>(d);
  } else if (v.kind_case() == JValue::kStringValue) {
    if (!absl::SimpleAtoi(v.string_value(), &u)) {
      return path.Error(absl::StrCat("expected ", AsAbsl(type_name), ", got string \"",
                                     v.string_value().substr(0, 64), "\""));
    }
  } else {
    return JsonMismatch(path, type_name, v);
  }
  if (u > max) return path.Error(absl::StrCat("value ", u, " is out of range for ", AsAbsl(type_name)));
  return u;
}

// A double in canonical form: NaN canonical, float32 values rounded to float (overflow to
// infinity, as the float decoder does).
absl::StatusOr<double> ParseFloat(const JValue& v, bool is_float32, std::string_view type_name,
                                  const DecodePath& path) {
  double d = 0;
  if (v.kind_case() == JValue::kNumberValue) {
    d = v.number_value();
  } else if (v.kind_case() == JValue::kStringValue) {
    const std::string& s = v.string_value();
    if (s == "NaN") {
      d = std::numeric_limits<double>::quiet_NaN();
    } else if (s == "Infinity") {
      d = std::numeric_limits<double>::infinity();
    } else if (s == "-Infinity") {
      d = -std::numeric_limits<double>::infinity();
    } else if (!absl::SimpleAtod(s, &d)) {
      return path.Error(
          absl::StrCat("expected ", AsAbsl(type_name), ", got string \"", s.substr(0, 64), "\""));
    }
  } else {
    return JsonMismatch(path, type_name, v);
  }
  if (is_float32 && std::isfinite(d)) {
    d = std::fabs(d) > std::numeric_limits<float>::max()
            ? std::copysign(std::numeric_limits<double>::infinity(), d)
            : static_cast<double>(static_cast<float>(d));
  }
  return internal::CanonicalDouble(d);
}

absl::StatusOr<std::string> ParseBase64(const JValue& v, const DecodePath& path) {
  if (v.kind_case() != JValue::kStringValue) return JsonMismatch(path, "base64 string", v);
  std::string out;
  if (!absl::Base64Unescape(v.string_value(), &out)) {
    return path.Error("invalid base64 (a truncated view cannot be read back)");
  }
  return out;
}

// Appends one element of C++ type T, parsed from `v`, to `out` (little-endian).
template <typename T>
absl::Status AppendElement(const JValue& v, const DecodePath& path, std::string* out) {
  T x{};
  const std::string_view name = DTypeName(DTypeOf<T>());
  if constexpr (std::is_same_v<T, bool>) {
    if (v.kind_case() != JValue::kBoolValue) return JsonMismatch(path, "bool", v);
    x = v.bool_value();
  } else if constexpr (std::is_floating_point_v<T>) {
    ASSIGN_OR_RETURN(const double d, ParseFloat(v, sizeof(T) == 4, name, path));
    x = static_cast<T>(d);
  } else if constexpr (std::is_signed_v<T>) {
    ASSIGN_OR_RETURN(const int64_t i, ParseInt(v, std::numeric_limits<T>::min(),
                                               std::numeric_limits<T>::max(), name, path));
    x = static_cast<T>(i);
  } else {
    ASSIGN_OR_RETURN(const uint64_t u, ParseUint(v, std::numeric_limits<T>::max(), name, path));
    x = static_cast<T>(u);
  }
  out->append(reinterpret_cast<const char*>(&x), sizeof(T));
  return absl::OkStatus();
}

absl::StatusOr<DType> ParseDTypeName(const JValue& v, const DecodePath& path) {
  if (v.kind_case() != JValue::kStringValue) return JsonMismatch(path, "dtype name", v);
  for (int d = static_cast<int>(DType::kBool); d <= static_cast<int>(DType::kString); ++d) {
    if (DTypeName(static_cast<DType>(d)) == v.string_value()) return static_cast<DType>(d);
  }
  return path.Error(absl::StrCat("unknown dtype \"", v.string_value().substr(0, 64), "\""));
}

// Appends `values` (already checked to be a list) as a column or tensor data of `dtype`.
absl::Status ParseFixedElements(DType dtype, const ListValue& values, DecodePath& path,
                                std::string* out) {
  out->reserve(static_cast<size_t>(values.values_size()) * DTypeSize(dtype));
  return VisitFixedDType(dtype, [&]<typename T>() -> absl::Status {
    for (int i = 0; i < values.values_size(); ++i) {
      path.PushIndex(static_cast<size_t>(i));
      RETURN_IF_ERROR(AppendElement<T>(values.values(i), path, out));
      path.Pop();
    }
    return absl::OkStatus();
  });
}

const JValue* Member(const Struct& object, const std::string& name) {
  auto it = object.fields().find(name);
  return it == object.fields().end() ? nullptr : &it->second;
}

absl::Status CheckNotTruncated(const Struct& object, const DecodePath& path) {
  const JValue* truncated = Member(object, "truncated");
  if (truncated != nullptr && truncated->kind_case() == JValue::kBoolValue &&
      truncated->bool_value()) {
    return path.Error("a truncated view cannot be read back; give the full data");
  }
  return absl::OkStatus();
}

absl::Status Parse(const v1::TypeDesc& type, const JValue& json, DecodePath& path,
                   v1::Value* out);

absl::Status ParseTensor(const JValue& json, DecodePath& path, v1::Value* out) {
  if (json.kind_case() != JValue::kStructValue) return JsonMismatch(path, "Tensor", json);
  const Struct& object = json.struct_value();
  RETURN_IF_ERROR(CheckNotTruncated(object, path));
  const JValue* dtype_json = Member(object, "dtype");
  const JValue* shape_json = Member(object, "shape");
  const JValue* data_json = Member(object, "data");
  if (dtype_json == nullptr || shape_json == nullptr || data_json == nullptr) {
    return path.Error("a Tensor needs \"dtype\", \"shape\" and \"data\"");
  }
  v1::TensorValue* t = out->mutable_tensor_value();
  path.PushField("dtype");
  ASSIGN_OR_RETURN(const DType dtype, ParseDTypeName(*dtype_json, path));
  if (dtype == DType::kString) return path.Error("tensors cannot hold strings");
  path.Pop();
  t->set_dtype(static_cast<v1::DType>(dtype));
  path.PushField("shape");
  if (shape_json->kind_case() != JValue::kListValue) {
    return JsonMismatch(path, "array", *shape_json);
  }
  for (int i = 0; i < shape_json->list_value().values_size(); ++i) {
    path.PushIndex(static_cast<size_t>(i));
    ASSIGN_OR_RETURN(const int64_t d,
                     ParseInt(shape_json->list_value().values(i), 0,
                              std::numeric_limits<int64_t>::max(), "dimension", path));
    t->add_shape(d);
    path.Pop();
  }
  ASSIGN_OR_RETURN(const int64_t n,
                   internal::CheckedNumElements(t->shape(), DTypeSize(dtype), path));
  path.Pop();
  path.PushField("data");
  if (data_json->kind_case() != JValue::kListValue) {
    return JsonMismatch(path, "array", *data_json);
  }
  const ListValue& data = data_json->list_value();
  if (data.values_size() != n) {
    return path.Error(absl::StrCat("has ", data.values_size(), " elements, the shape needs ", n));
  }
  RETURN_IF_ERROR(ParseFixedElements(dtype, data, path, t->mutable_data()));
  path.Pop();
  return absl::OkStatus();
}

// The dtype a column's values most plausibly have when "dtypes" does not say.
DType InferDType(const ListValue& values) {
  if (values.values_size() == 0) return DType::kFloat64;
  bool all_bool = true, all_string = true, all_integral = true;
  for (const JValue& v : values.values()) {
    all_bool &= v.kind_case() == JValue::kBoolValue;
    all_string &= v.kind_case() == JValue::kStringValue;
    all_integral &= v.kind_case() == JValue::kNumberValue &&
                    std::fabs(v.number_value()) <= kMaxExactInt &&
                    v.number_value() == std::trunc(v.number_value());
  }
  if (all_bool) return DType::kBool;
  if (all_string) return DType::kString;
  if (all_integral) return DType::kInt64;
  return DType::kFloat64;
}

absl::Status ParseTable(const JValue& json, DecodePath& path, v1::Value* out) {
  if (json.kind_case() != JValue::kStructValue) return JsonMismatch(path, "Table", json);
  const Struct& object = json.struct_value();
  RETURN_IF_ERROR(CheckNotTruncated(object, path));
  const JValue* columns_json = Member(object, "columns");
  if (columns_json == nullptr || columns_json->kind_case() != JValue::kStructValue) {
    return path.Error("a Table needs \"columns\": {name: [values...]}");
  }
  const auto& columns = columns_json->struct_value().fields();
  std::vector<std::string> names;
  if (const JValue* names_json = Member(object, "column_names"); names_json != nullptr) {
    path.PushField("column_names");
    if (names_json->kind_case() != JValue::kListValue) {
      return JsonMismatch(path, "array", *names_json);
    }
    for (int i = 0; i < names_json->list_value().values_size(); ++i) {
      const JValue& name = names_json->list_value().values(i);
      path.PushIndex(static_cast<size_t>(i));
      if (name.kind_case() != JValue::kStringValue) return JsonMismatch(path, "string", name);
      if (!columns.contains(name.string_value())) {
        return path.Error(absl::StrCat("no column \"", name.string_value().substr(0, 64), "\""));
      }
      names.push_back(name.string_value());
      path.Pop();
    }
    path.Pop();
    if (names.size() != columns.size()) {
      return path.Error("\"column_names\" must list every column once");
    }
  } else {
    for (const auto& [name, unused] : columns) names.push_back(name);
    std::sort(names.begin(), names.end());
  }
  const JValue* dtypes_json = Member(object, "dtypes");
  if (dtypes_json != nullptr && dtypes_json->kind_case() != JValue::kStructValue) {
    path.PushField("dtypes");
    return JsonMismatch(path, "object", *dtypes_json);
  }
  v1::TableValue* table = out->mutable_table_value();
  int64_t rows = -1;
  if (const JValue* rows_json = Member(object, "num_rows"); rows_json != nullptr) {
    path.PushField("num_rows");
    ASSIGN_OR_RETURN(rows, ParseInt(*rows_json, 0, std::numeric_limits<int64_t>::max(),
                                    "row count", path));
    path.Pop();
  }
  path.PushField("columns");
  for (const std::string& name : names) {
    const JValue& values = columns.at(name);
    path.PushField(name);
    if (values.kind_case() != JValue::kListValue) return JsonMismatch(path, "array", values);
    const ListValue& list = values.list_value();
    DType dtype = InferDType(list);
    if (dtypes_json != nullptr) {
      const JValue* d = Member(dtypes_json->struct_value(), name);
      if (d == nullptr) return path.Error("missing from \"dtypes\"");
      ASSIGN_OR_RETURN(dtype, ParseDTypeName(*d, path));
    }
    if (rows < 0) rows = list.values_size();
    if (list.values_size() != rows) {
      return path.Error(absl::StrCat("has ", list.values_size(), " rows, expected ", rows));
    }
    v1::Column* column = table->add_columns();
    column->set_name(name);
    column->set_dtype(static_cast<v1::DType>(dtype));
    if (dtype == DType::kString) {
      for (int i = 0; i < list.values_size(); ++i) {
        path.PushIndex(static_cast<size_t>(i));
        if (list.values(i).kind_case() != JValue::kStringValue) {
          return JsonMismatch(path, "string", list.values(i));
        }
        column->add_strings(list.values(i).string_value());
        path.Pop();
      }
    } else {
      RETURN_IF_ERROR(ParseFixedElements(dtype, list, path, column->mutable_data()));
    }
    path.Pop();
  }
  path.Pop();
  table->set_num_rows(std::max<int64_t>(rows, 0));
  return internal::ValidateTable(*table, path);
}

absl::Status ParseImage(const JValue& json, DecodePath& path, v1::Value* out) {
  if (json.kind_case() != JValue::kStructValue) return JsonMismatch(path, "Image", json);
  const Struct& object = json.struct_value();
  const JValue* format = Member(object, "format");
  const JValue* width = Member(object, "width");
  const JValue* height = Member(object, "height");
  const JValue* data = Member(object, "data");
  if (format == nullptr || width == nullptr || height == nullptr || data == nullptr) {
    return path.Error("an Image needs \"format\", \"width\", \"height\" and \"data\" (base64)");
  }
  v1::ImageValue* image = out->mutable_image_value();
  if (format->kind_case() == JValue::kStringValue && format->string_value() == "png") {
    image->set_format(v1::ImageValue::PNG);
  } else if (format->kind_case() == JValue::kStringValue && format->string_value() == "jpeg") {
    image->set_format(v1::ImageValue::JPEG);
  } else {
    path.PushField("format");
    return path.Error("expected \"png\" or \"jpeg\"");
  }
  path.PushField("width");
  ASSIGN_OR_RETURN(const uint64_t w, ParseUint(*width, UINT32_MAX, "uint32", path));
  path.Pop();
  path.PushField("height");
  ASSIGN_OR_RETURN(const uint64_t h, ParseUint(*height, UINT32_MAX, "uint32", path));
  path.Pop();
  path.PushField("data");
  ASSIGN_OR_RETURN(*image->mutable_data(), ParseBase64(*data, path));
  path.Pop();
  image->set_width(static_cast<uint32_t>(w));
  image->set_height(static_cast<uint32_t>(h));
  return internal::ValidateImage(*image, path);
}

absl::Status ParseMap(const v1::TypeDesc& type, const JValue& json, DecodePath& path,
                      v1::Value* out) {
  if (type.params_size() != 2) return path.Error("malformed map type");
  std::vector<std::pair<std::string, v1::MapEntry>> entries;
  auto add = [&](v1::MapEntry entry) -> absl::Status {
    std::string key = internal::DeterministicBytes(entry.key());
    entries.emplace_back(std::move(key), std::move(entry));
    return absl::OkStatus();
  };
  if (json.kind_case() == JValue::kStructValue && type.params(0).kind() == K::STRING) {
    for (const auto& [name, value] : json.struct_value().fields()) {
      v1::MapEntry entry;
      entry.mutable_key()->set_string_value(name);
      path.PushMapValue(entry.key(), entries.size());
      RETURN_IF_ERROR(Parse(type.params(1), value, path, entry.mutable_value()));
      path.Pop();
      RETURN_IF_ERROR(add(std::move(entry)));
    }
  } else if (json.kind_case() == JValue::kListValue) {
    const ListValue& list = json.list_value();
    for (int i = 0; i < list.values_size(); ++i) {
      path.PushIndex(static_cast<size_t>(i));
      const JValue& pair = list.values(i);
      if (pair.kind_case() != JValue::kListValue || pair.list_value().values_size() != 2) {
        return path.Error(absl::StrCat("expected a [key, value] pair, got ", AsAbsl(JsonKindName(pair))));
      }
      v1::MapEntry entry;
      path.PushKey();
      RETURN_IF_ERROR(Parse(type.params(0), pair.list_value().values(0), path,
                            entry.mutable_key()));
      path.Pop();
      path.PushIndex(1);
      RETURN_IF_ERROR(Parse(type.params(1), pair.list_value().values(1), path,
                            entry.mutable_value()));
      path.Pop();
      path.Pop();
      RETURN_IF_ERROR(add(std::move(entry)));
    }
  } else {
    return JsonMismatch(path, TypeName(type), json);
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].first == entries[i - 1].first) {
      path.PushMapValue(entries[i].second.key(), i);
      return path.Error("duplicate map key");
    }
  }
  internal::StoreSortedEntries(entries, out);
  return absl::OkStatus();
}

absl::Status Parse(const v1::TypeDesc& type, const JValue& json, DecodePath& path,
                   v1::Value* out) {
  const std::string_view kind_error = "malformed type";
  switch (type.kind()) {
    case K::BOOL:
      if (json.kind_case() != JValue::kBoolValue) return JsonMismatch(path, "bool", json);
      out->set_bool_value(json.bool_value());
      return absl::OkStatus();
    case K::INT: {
      const uint32_t bits = type.bits();
      if (bits != 8 && bits != 16 && bits != 32 && bits != 64) return path.Error(kind_error);
      const int64_t max = bits == 64 ? std::numeric_limits<int64_t>::max()
                                     : (int64_t{1} << (bits - 1)) - 1;
      ASSIGN_OR_RETURN(const int64_t i, ParseInt(json, -max - 1, max, TypeName(type), path));
      out->set_int_value(i);
      return absl::OkStatus();
    }
    case K::UINT: {
      const uint32_t bits = type.bits();
      if (bits != 8 && bits != 16 && bits != 32 && bits != 64) return path.Error(kind_error);
      const uint64_t max = bits == 64 ? std::numeric_limits<uint64_t>::max()
                                      : (uint64_t{1} << bits) - 1;
      ASSIGN_OR_RETURN(const uint64_t u, ParseUint(json, max, TypeName(type), path));
      out->set_uint_value(u);
      return absl::OkStatus();
    }
    case K::FLOAT: {
      if (type.bits() != 32 && type.bits() != 64) return path.Error(kind_error);
      ASSIGN_OR_RETURN(const double d, ParseFloat(json, type.bits() == 32, TypeName(type), path));
      out->set_float_value(d);
      return absl::OkStatus();
    }
    case K::STRING:
      if (json.kind_case() != JValue::kStringValue) return JsonMismatch(path, "string", json);
      out->set_string_value(json.string_value());
      return absl::OkStatus();
    case K::BYTES: {
      ASSIGN_OR_RETURN(*out->mutable_bytes_value(), ParseBase64(json, path));
      return absl::OkStatus();
    }
    case K::BLOB: {
      ASSIGN_OR_RETURN(*out->mutable_blob_value()->mutable_data(), ParseBase64(json, path));
      return absl::OkStatus();
    }
    case K::ENUM: {
      if (json.kind_case() != JValue::kStringValue) return JsonMismatch(path, type.name(), json);
      for (const std::string& e : type.enumerators()) {
        if (e == json.string_value()) {
          out->set_enum_value(e);
          return absl::OkStatus();
        }
      }
      return path.Error(absl::StrCat("\"", json.string_value().substr(0, 64),
                                     "\" is not an enumerator of ", type.name()));
    }
    case K::OPTIONAL:
      if (type.params_size() != 1) return path.Error(kind_error);
      if (json.kind_case() == JValue::kNullValue) {
        out->mutable_none_value();
        return absl::OkStatus();
      }
      return Parse(type.params(0), json, path, out);
    case K::LIST:
    case K::TUPLE: {
      if (type.kind() == K::LIST && type.params_size() != 1) return path.Error(kind_error);
      if (json.kind_case() != JValue::kListValue) return JsonMismatch(path, TypeName(type), json);
      const ListValue& list = json.list_value();
      if (type.kind() == K::TUPLE && list.values_size() != type.params_size()) {
        return path.Error(absl::StrCat("expected ", TypeName(type), " with ", type.params_size(),
                                       " elements, got ", list.values_size()));
      }
      auto* items = out->mutable_list_value()->mutable_items();
      items->Reserve(list.values_size());
      for (int i = 0; i < list.values_size(); ++i) {
        path.PushIndex(static_cast<size_t>(i));
        RETURN_IF_ERROR(Parse(type.kind() == K::LIST ? type.params(0) : type.params(i),
                              list.values(i), path, items->Add()));
        path.Pop();
      }
      return absl::OkStatus();
    }
    case K::STRUCT: {
      if (json.kind_case() != JValue::kStructValue) return JsonMismatch(path, type.name(), json);
      const auto& members = json.struct_value().fields();
      for (const auto& member : members) {
        const std::string& name = member.first;
        const bool known = std::any_of(type.fields().begin(), type.fields().end(),
                                       [&](const v1::Field& f) { return f.name() == name; });
        if (!known) {
          return path.Error(absl::StrCat("unknown field \"", name.substr(0, 64), "\" for ",
                                         type.name()));
        }
      }
      auto* items = out->mutable_list_value()->mutable_items();
      for (const v1::Field& field : type.fields()) {
        path.PushField(field.name());
        v1::Value* item = items->Add();
        auto it = members.find(field.name());
        if (it != members.end()) {
          RETURN_IF_ERROR(Parse(field.type(), it->second, path, item));
        } else if (field.type().kind() == K::OPTIONAL) {
          item->mutable_none_value();
        } else {
          return path.Error("missing field");
        }
        path.Pop();
      }
      return absl::OkStatus();
    }
    case K::MAP:
      return ParseMap(type, json, path, out);
    case K::TENSOR:
      return ParseTensor(json, path, out);
    case K::TABLE:
      return ParseTable(json, path, out);
    case K::IMAGE:
      return ParseImage(json, path, out);
    case K::PLOT: {
      if (json.kind_case() != JValue::kStructValue) return JsonMismatch(path, "Plot", json);
      ASSIGN_OR_RETURN(*out->mutable_plot_value()->mutable_vega_lite_json(),
                       internal::PrintJson(json, /*pretty=*/false));
      return absl::OkStatus();
    }
    default:
      return path.Error(absl::StrCat("unsupported type kind ", static_cast<int>(type.kind())));
  }
}

}  // namespace

absl::StatusOr<std::string> ToJson(const v1::TypeDesc& type, const v1::Value& value,
                                   const JsonOptions& options) {
  RETURN_IF_ERROR(ValidateValue(type, value));
  return internal::PrintJson(View(type, value, options), options.pretty);
}

absl::StatusOr<v1::Value> FromJson(const v1::TypeDesc& type, std::string_view json,
                                   std::string_view root) {
  JValue tree;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &tree);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(root), ": invalid JSON: ", status.ToString()));
  }
  DecodePath path(root);
  v1::Value out;
  RETURN_IF_ERROR(Parse(type, tree, path, &out));
  return out;
}

}  // namespace sematic
