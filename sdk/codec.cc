// Non-template parts of the codecs: paths, type names, runtime validation, canonical bytes.
#include "sematic/codec.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/digest.h"
#include "common/status_macros.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "sdk/types_internal.h"
#include "sematic/payload.h"

namespace sematic {
namespace internal {

DecodePath::DecodePath(std::string_view root) : root_(root) {}

void DecodePath::PushField(std::string_view name) {
  segments_.push_back({Segment::Kind::kField, name, 0, nullptr});
}

void DecodePath::PushIndex(size_t index) {
  segments_.push_back({Segment::Kind::kIndex, {}, index, nullptr});
}

void DecodePath::PushKey() { segments_.push_back({Segment::Kind::kKey, {}, 0, nullptr}); }

void DecodePath::PushMapValue(const v1::Value& key, size_t index) {
  segments_.push_back({Segment::Kind::kMapValue, {}, index, &key});
}

void DecodePath::Pop() {
  if (!segments_.empty()) segments_.pop_back();
}

std::string DecodePath::ToString() const {
  std::string out = root_;
  for (const Segment& s : segments_) {
    switch (s.kind) {
      case Segment::Kind::kField:
        absl::StrAppend(&out, ".", AsAbsl(s.name));
        break;
      case Segment::Kind::kIndex:
        absl::StrAppend(&out, "[", s.index, "]");
        break;
      case Segment::Kind::kKey:
        absl::StrAppend(&out, "{key}");
        break;
      case Segment::Kind::kMapValue:
        if (s.key->kind_case() == v1::Value::kStringValue && s.key->string_value().size() <= 64) {
          absl::StrAppend(&out, "[\"", s.key->string_value(), "\"]");
        } else if (s.key->kind_case() == v1::Value::kIntValue) {
          absl::StrAppend(&out, "[", s.key->int_value(), "]");
        } else if (s.key->kind_case() == v1::Value::kUintValue) {
          absl::StrAppend(&out, "[", s.key->uint_value(), "]");
        } else {
          absl::StrAppend(&out, "[#", s.index, "]");
        }
        break;
    }
  }
  return out;
}

absl::Status DecodePath::Mismatch(std::string_view expected, const v1::Value& actual) const {
  return absl::InvalidArgumentError(
      absl::StrCat(ToString(), ": expected ", AsAbsl(expected), ", got ",
                   AsAbsl(ValueKindName(actual))));
}

absl::Status DecodePath::Error(std::string_view message) const {
  return absl::InvalidArgumentError(absl::StrCat(ToString(), ": ", AsAbsl(message)));
}

std::string_view ValueKindName(const v1::Value& value) {
  switch (value.kind_case()) {
    case v1::Value::kBoolValue: return "bool";
    case v1::Value::kIntValue: return "int";
    case v1::Value::kUintValue: return "uint";
    case v1::Value::kFloatValue: return "float";
    case v1::Value::kStringValue: return "string";
    case v1::Value::kBytesValue: return "bytes";
    case v1::Value::kNoneValue: return "none";
    case v1::Value::kListValue: return "list";
    case v1::Value::kMapValue: return "map";
    case v1::Value::kEnumValue: return "enum";
    case v1::Value::kTensorValue: return "tensor";
    case v1::Value::kTableValue: return "table";
    case v1::Value::kImageValue: return "image";
    case v1::Value::kPlotValue: return "plot";
    case v1::Value::kBlobValue: return "blob";
    case v1::Value::KIND_NOT_SET: return "unset";
  }
  return "unknown";
}

std::string DeterministicBytes(const v1::Value& value) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    value.SerializeToCodedStream(&coded);
  }
  return out;
}

void StoreSortedEntries(std::vector<std::pair<std::string, v1::MapEntry>>& entries,
                        v1::Value* out) {
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  auto* map_entries = out->mutable_map_value()->mutable_entries();
  map_entries->Reserve(static_cast<int>(entries.size()));
  for (auto& [key, entry] : entries) *map_entries->Add() = std::move(entry);
}

}  // namespace internal

namespace {

using internal::DecodePath;

std::string ParamName(const v1::TypeDesc& type, int i) {
  return i < type.params_size() ? TypeName(type.params(i)) : "?";
}

// A TypeDesc that does not have the shape its kind requires (e.g. LIST without params).
absl::Status Malformed(const DecodePath& path, const v1::TypeDesc& type) {
  return path.Error(absl::StrCat("malformed type ", TypeName(type)));
}

// The canonical NaN; the only NaN bit pattern a canonical value holds.
constexpr uint64_t kCanonicalNaN = 0x7ff8000000000000;

absl::Status Validate(const v1::TypeDesc& type, const v1::Value& value, DecodePath& path) {
  using K = v1::TypeDesc;
  auto expect = [&](v1::Value::KindCase kind) -> absl::Status {
    if (value.kind_case() != kind) return path.Mismatch(TypeName(type), value);
    return absl::OkStatus();
  };
  switch (type.kind()) {
    case K::BOOL:
      return expect(v1::Value::kBoolValue);
    case K::INT: {
      const uint32_t bits = type.bits();
      if (bits != 8 && bits != 16 && bits != 32 && bits != 64) return Malformed(path, type);
      RETURN_IF_ERROR(expect(v1::Value::kIntValue));
      const int64_t v = value.int_value();
      if (bits < 64) {
        const int64_t max = (int64_t{1} << (bits - 1)) - 1;
        if (v > max || v < -max - 1) {
          return path.Error(absl::StrCat("value ", v, " is out of range for ", TypeName(type)));
        }
      }
      return absl::OkStatus();
    }
    case K::UINT: {
      const uint32_t bits = type.bits();
      if (bits != 8 && bits != 16 && bits != 32 && bits != 64) return Malformed(path, type);
      RETURN_IF_ERROR(expect(v1::Value::kUintValue));
      const uint64_t v = value.uint_value();
      if (bits < 64 && v > (uint64_t{1} << bits) - 1) {
        return path.Error(absl::StrCat("value ", v, " is out of range for ", TypeName(type)));
      }
      return absl::OkStatus();
    }
    case K::FLOAT: {
      if (type.bits() != 32 && type.bits() != 64) return Malformed(path, type);
      RETURN_IF_ERROR(expect(v1::Value::kFloatValue));
      const double d = value.float_value();
      if (std::isnan(d) && std::bit_cast<uint64_t>(d) != kCanonicalNaN) {
        return path.Error("non-canonical NaN (expected 0x7ff8000000000000)");
      }
      if (type.bits() == 32 && std::isfinite(d) &&
          (std::fabs(d) > std::numeric_limits<float>::max() ||
           static_cast<double>(static_cast<float>(d)) != d)) {
        return path.Error(absl::StrCat("value ", d, " is not representable as float"));
      }
      return absl::OkStatus();
    }
    case K::STRING:
      return expect(v1::Value::kStringValue);
    case K::BYTES:
      return expect(v1::Value::kBytesValue);
    case K::OPTIONAL:
      if (type.params_size() != 1) return Malformed(path, type);
      if (value.kind_case() == v1::Value::kNoneValue) return absl::OkStatus();
      return Validate(type.params(0), value, path);
    case K::LIST: {
      if (type.params_size() != 1) return Malformed(path, type);
      RETURN_IF_ERROR(expect(v1::Value::kListValue));
      const auto& items = value.list_value().items();
      for (int i = 0; i < items.size(); ++i) {
        path.PushIndex(static_cast<size_t>(i));
        RETURN_IF_ERROR(Validate(type.params(0), items[i], path));
        path.Pop();
      }
      return absl::OkStatus();
    }
    case K::MAP: {
      if (type.params_size() != 2) return Malformed(path, type);
      RETURN_IF_ERROR(expect(v1::Value::kMapValue));
      const auto& entries = value.map_value().entries();
      std::string previous;
      for (int i = 0; i < entries.size(); ++i) {
        const v1::MapEntry& entry = entries[i];
        path.PushKey();
        RETURN_IF_ERROR(Validate(type.params(0), entry.key(), path));
        path.Pop();
        std::string key = internal::DeterministicBytes(entry.key());
        if (i > 0 && !(previous < key)) {
          path.PushMapValue(entry.key(), static_cast<size_t>(i));
          return path.Error(previous == key ? "duplicate map key"
                                            : "map entries are not in canonical key order");
        }
        previous = std::move(key);
        path.PushMapValue(entry.key(), static_cast<size_t>(i));
        RETURN_IF_ERROR(Validate(type.params(1), entry.value(), path));
        path.Pop();
      }
      return absl::OkStatus();
    }
    case K::TUPLE: {
      RETURN_IF_ERROR(expect(v1::Value::kListValue));
      const auto& items = value.list_value().items();
      if (items.size() != type.params_size()) {
        return path.Error(absl::StrCat("expected ", TypeName(type), " with ", type.params_size(),
                                       " elements, got ", items.size()));
      }
      for (int i = 0; i < items.size(); ++i) {
        path.PushIndex(static_cast<size_t>(i));
        RETURN_IF_ERROR(Validate(type.params(i), items[i], path));
        path.Pop();
      }
      return absl::OkStatus();
    }
    case K::STRUCT: {
      RETURN_IF_ERROR(expect(v1::Value::kListValue));
      const auto& items = value.list_value().items();
      if (items.size() != type.fields_size()) {
        return path.Error(absl::StrCat("expected ", TypeName(type), " with ", type.fields_size(),
                                       " fields, got ", items.size()));
      }
      for (int i = 0; i < items.size(); ++i) {
        path.PushField(type.fields(i).name());
        RETURN_IF_ERROR(Validate(type.fields(i).type(), items[i], path));
        path.Pop();
      }
      return absl::OkStatus();
    }
    case K::ENUM: {
      RETURN_IF_ERROR(expect(v1::Value::kEnumValue));
      for (const std::string& e : type.enumerators()) {
        if (e == value.enum_value()) return absl::OkStatus();
      }
      return path.Error(absl::StrCat("\"", value.enum_value().substr(0, 64),
                                     "\" is not an enumerator of ", TypeName(type)));
    }
    case K::TENSOR:
      RETURN_IF_ERROR(expect(v1::Value::kTensorValue));
      return internal::ValidateTensor(value.tensor_value(), path, internal::Refs::kAllowed);
    case K::TABLE:
      RETURN_IF_ERROR(expect(v1::Value::kTableValue));
      return internal::ValidateTable(value.table_value(), path, internal::Refs::kAllowed);
    case K::IMAGE:
      RETURN_IF_ERROR(expect(v1::Value::kImageValue));
      return internal::ValidateImage(value.image_value(), path, internal::Refs::kAllowed);
    case K::PLOT:
      return expect(v1::Value::kPlotValue);
    case K::BLOB:
      RETURN_IF_ERROR(expect(v1::Value::kBlobValue));
      return internal::ValidateBlob(value.blob_value(), path, internal::Refs::kAllowed);
    default:
      return path.Error(absl::StrCat("unsupported type kind ", static_cast<int>(type.kind())));
  }
}

// Feeds serialized bytes straight into a SHA-256 without materializing them; large bytes fields
// are hashed in place through aliasing.
class HashingOutputStream : public google::protobuf::io::ZeroCopyOutputStream {
 public:
  explicit HashingOutputStream(Sha256* hash) : hash_(hash), buffer_(kBufferSize) {}
  ~HashingOutputStream() override { Flush(); }

  bool Next(void** data, int* size) override {
    Flush();
    *data = buffer_.data();
    *size = static_cast<int>(buffer_.size());
    pending_ = buffer_.size();
    return true;
  }
  void BackUp(int count) override { pending_ -= static_cast<size_t>(count); }
  int64_t ByteCount() const override { return static_cast<int64_t>(flushed_ + pending_); }
  bool AllowsAliasing() const override { return true; }
  bool WriteAliasedRaw(const void* data, int size) override {
    Flush();
    hash_->Update(std::string_view(static_cast<const char*>(data), static_cast<size_t>(size)));
    flushed_ += static_cast<size_t>(size);
    return true;
  }

  void Flush() {
    if (pending_ == 0) return;
    hash_->Update(std::string_view(buffer_.data(), pending_));
    flushed_ += pending_;
    pending_ = 0;
  }

 private:
  static constexpr size_t kBufferSize = 64 * 1024;
  Sha256* hash_;
  std::vector<char> buffer_;
  size_t pending_ = 0;
  size_t flushed_ = 0;
};

// Writes the serialization of TypedValue{type, value} (fields 1 and 2, both length-delimited)
// without copying either message into a TypedValue.
// Values up to this size are hashed from one contiguous buffer; larger ones are streamed.
constexpr size_t kSmallValueBytes = 16 * 1024;

void WriteTypedValue(const v1::TypeDesc& type, const v1::Value& value,
                     google::protobuf::io::CodedOutputStream* out) {
  using google::protobuf::internal::WireFormatLite;
  out->SetSerializationDeterministic(true);
  out->WriteTag(WireFormatLite::MakeTag(v1::TypedValue::kTypeFieldNumber,
                                        WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
  out->WriteVarint32(static_cast<uint32_t>(type.ByteSizeLong()));
  type.SerializeWithCachedSizes(out);
  out->WriteTag(WireFormatLite::MakeTag(v1::TypedValue::kValueFieldNumber,
                                        WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
  out->WriteVarint32(static_cast<uint32_t>(value.ByteSizeLong()));
  value.SerializeWithCachedSizes(out);
}

}  // namespace

std::string TypeName(const v1::TypeDesc& type) {
  using K = v1::TypeDesc;
  switch (type.kind()) {
    case K::BOOL: return "bool";
    case K::INT: return absl::StrCat("int", type.bits());
    case K::UINT: return absl::StrCat("uint", type.bits());
    case K::FLOAT:
      return type.bits() == 32 ? "float" : type.bits() == 64 ? "double"
                                                             : absl::StrCat("float", type.bits());
    case K::STRING: return "string";
    case K::BYTES: return "bytes";
    case K::OPTIONAL: return absl::StrCat("optional<", ParamName(type, 0), ">");
    case K::LIST: return absl::StrCat("vector<", ParamName(type, 0), ">");
    case K::MAP: return absl::StrCat("map<", ParamName(type, 0), ", ", ParamName(type, 1), ">");
    case K::TUPLE: {
      std::vector<std::string> names;
      for (const v1::TypeDesc& p : type.params()) names.push_back(TypeName(p));
      return absl::StrCat("tuple<", absl::StrJoin(names, ", "), ">");
    }
    case K::STRUCT:
    case K::ENUM: return type.name();
    case K::TENSOR: return "Tensor";
    case K::TABLE: return "Table";
    case K::IMAGE: return "Image";
    case K::PLOT: return "Plot";
    case K::BLOB: return "Blob";
    default: return absl::StrCat("kind", static_cast<int>(type.kind()));
  }
}

absl::Status ValidateValue(const v1::TypeDesc& type, const v1::Value& value,
                           std::string_view root) {
  DecodePath path(root);
  return Validate(type, value, path);
}

namespace {

// The TypedValue serialization into a string of exactly `total` bytes (total <= INT_MAX).
std::string SerializeTypedValue(const v1::TypeDesc& type, const v1::Value& value, size_t total) {
  std::string out;
  out.resize(total);
  {
    // The stream writes its last bytes when destroyed: that must happen before `out` is returned.
    google::protobuf::io::ArrayOutputStream array(out.data(), static_cast<int>(total));
    google::protobuf::io::CodedOutputStream coded(&array);
    WriteTypedValue(type, value, &coded);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> CanonicalBytes(const v1::TypeDesc& type, const v1::Value& value) {
  using google::protobuf::io::CodedOutputStream;
  const size_t type_size = type.ByteSizeLong();
  const size_t value_size = value.ByteSizeLong();
  if (value_size >= kPayloadThresholdBytes) RETURN_IF_ERROR(CheckPayloadsExternal(value));
  const size_t total = 2 + CodedOutputStream::VarintSize64(type_size) + type_size +
                       CodedOutputStream::VarintSize64(value_size) + value_size;
  if (total > static_cast<size_t>(std::numeric_limits<int>::max())) {
    // Protobuf serializes at most 2 GiB - 1 into one buffer (its sizes are ints).
    return absl::ResourceExhaustedError(absl::StrCat(
        "value: ", total, " bytes serialized; one value can be at most ",
        std::numeric_limits<int>::max(), " bytes (protobuf's limit)"));
  }
  return SerializeTypedValue(type, value, total);
}

namespace {

// SHA-256 hex of the TypedValue serialization of (type, value), as it is.
std::string HashTypedValue(const v1::TypeDesc& type, const v1::Value& value) {
  using google::protobuf::io::CodedOutputStream;
  const size_t type_size = type.ByteSizeLong();
  const size_t value_size = value.ByteSizeLong();
  const size_t total = 2 + CodedOutputStream::VarintSize64(type_size) + type_size +
                       CodedOutputStream::VarintSize64(value_size) + value_size;
  if (total <= kSmallValueBytes) {
    // Small values (most step outputs) are serialized into a reused per-thread buffer and
    // hashed in one call: no 64 KiB stream buffer, no allocation.
    thread_local std::string buffer;
    buffer.resize(total);
    {
      google::protobuf::io::ArrayOutputStream array(buffer.data(), static_cast<int>(total));
      CodedOutputStream coded(&array);
      WriteTypedValue(type, value, &coded);
    }
    return Sha256Hex(buffer);
  }
  Sha256 hash;
  {
    HashingOutputStream stream(&hash);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.EnableAliasing(true);
    WriteTypedValue(type, value, &coded);
    coded.Trim();
  }
  return hash.HexDigest();
}

}  // namespace

std::string ArtifactId(const v1::TypeDesc& type, const v1::Value& value) {
  // A value under the threshold cannot hold a payload at or above it.
  if (value.ByteSizeLong() >= kPayloadThresholdBytes && !CheckPayloadsExternal(value).ok()) {
    return HashTypedValue(type, internal::WithPayloadRefs(value));
  }
  return HashTypedValue(type, value);
}

}  // namespace sematic
