// Moving large payloads out of value trees and back (see sematic/payload.h).
#include "sematic/payload.h"

#include <type_traits>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/digest.h"
#include "common/strings.h"
#include "common/status_macros.h"
#include "sdk/types_internal.h"
#include "sematic/codec.h"

namespace sematic {
namespace {

using internal::DecodePath;

// Const and mutable access to the containers of a value tree, so one walker serves both.
const auto& Items(const v1::Value& v) { return v.list_value().items(); }
auto& Items(v1::Value& v) { return *v.mutable_list_value()->mutable_items(); }
const auto& Entries(const v1::Value& v) { return v.map_value().entries(); }
auto& Entries(v1::Value& v) { return *v.mutable_map_value()->mutable_entries(); }
const v1::Value& EntryValue(const v1::MapEntry& e) { return e.value(); }
v1::Value& EntryValue(v1::MapEntry& e) { return *e.mutable_value(); }
const auto& Columns(const v1::Value& v) { return v.table_value().columns(); }
auto& Columns(v1::Value& v) { return *v.mutable_table_value()->mutable_columns(); }
const v1::TensorValue& TensorOf(const v1::Value& v) { return v.tensor_value(); }
v1::TensorValue& TensorOf(v1::Value& v) { return *v.mutable_tensor_value(); }
const v1::ImageValue& ImageOf(const v1::Value& v) { return v.image_value(); }
v1::ImageValue& ImageOf(v1::Value& v) { return *v.mutable_image_value(); }
const v1::BlobValue& BlobOf(const v1::Value& v) { return v.blob_value(); }
v1::BlobValue& BlobOf(v1::Value& v) { return *v.mutable_blob_value(); }

// Calls `f(holder, path)` for every message with a payload slot (`data` + `data_ref`: a
// TensorValue, Column, ImageValue or BlobValue) in `value`, in tree order, skipping map keys.
// V is v1::Value or const v1::Value. Stops at, and returns, the first error of `f`.
template <typename V, typename F>
absl::Status ForEachHolder(V& value, DecodePath& path, F& f) {
  switch (value.kind_case()) {
    case v1::Value::kListValue: {
      auto& items = Items(value);
      for (int i = 0; i < items.size(); ++i) {
        path.PushIndex(static_cast<size_t>(i));
        RETURN_IF_ERROR(ForEachHolder(items[i], path, f));
        path.Pop();
      }
      return absl::OkStatus();
    }
    case v1::Value::kMapValue: {
      auto& entries = Entries(value);
      for (int i = 0; i < entries.size(); ++i) {
        path.PushMapValue(entries[i].key(), static_cast<size_t>(i));
        RETURN_IF_ERROR(ForEachHolder(EntryValue(entries[i]), path, f));
        path.Pop();
      }
      return absl::OkStatus();
    }
    case v1::Value::kTensorValue:
      return f(TensorOf(value), path);
    case v1::Value::kTableValue: {
      auto& columns = Columns(value);
      for (int i = 0; i < columns.size(); ++i) {
        path.PushField(columns[i].name());
        RETURN_IF_ERROR(f(columns[i], path));
        path.Pop();
      }
      return absl::OkStatus();
    }
    case v1::Value::kImageValue:
      return f(ImageOf(value), path);
    case v1::Value::kBlobValue:
      return f(BlobOf(value), path);
    default:
      return absl::OkStatus();
  }
}

template <typename H>
bool IsLargeInline(const H& holder) {
  return !holder.has_data_ref() && holder.data().size() >= kPayloadThresholdBytes;
}

// How errors name a holder's kind.
std::string_view HolderName(const v1::TensorValue&) { return "a TENSOR"; }
std::string_view HolderName(const v1::Column&) { return "a TABLE column"; }
std::string_view HolderName(const v1::ImageValue&) { return "an IMAGE"; }
std::string_view HolderName(const v1::BlobValue&) { return "a BLOB"; }

// "1 MiB" for the threshold.
std::string ThresholdText() {
  if (kPayloadThresholdBytes % (uint64_t{1} << 20) == 0) {
    return absl::StrCat(kPayloadThresholdBytes >> 20, " MiB");
  }
  return absl::StrCat(kPayloadThresholdBytes, " bytes");
}

}  // namespace

std::vector<Payload> ExternalizePayloads(v1::Value* value) {
  std::vector<Payload> payloads;
  absl::flat_hash_set<std::string> seen;
  DecodePath path("value");
  auto move_out = [&](auto& holder, DecodePath&) {
    if (!IsLargeInline(holder)) return absl::OkStatus();
    Payload payload;
    payload.bytes = std::move(*holder.mutable_data());
    holder.clear_data();
    payload.digest = Sha256Hex(payload.bytes);
    v1::PayloadRef* ref = holder.mutable_data_ref();
    ref->set_digest(payload.digest);
    ref->set_size(payload.bytes.size());
    if (seen.insert(payload.digest).second) payloads.push_back(std::move(payload));
    return absl::OkStatus();
  };
  ForEachHolder(*value, path, move_out).IgnoreError();  // move_out never fails
  return payloads;
}

std::vector<v1::PayloadRef> PayloadRefs(const v1::Value& value) {
  std::vector<v1::PayloadRef> refs;
  absl::flat_hash_set<std::string> seen;
  DecodePath path("value");
  auto collect = [&](const auto& holder, DecodePath&) {
    if (holder.has_data_ref() && seen.insert(holder.data_ref().digest()).second) {
      refs.push_back(holder.data_ref());
    }
    return absl::OkStatus();
  };
  ForEachHolder(value, path, collect).IgnoreError();
  return refs;
}

absl::Status InternalizePayloads(v1::Value* value, const PayloadFetcher& fetch,
                                 std::string_view root) {
  DecodePath path(root);
  auto fetch_in = [&](auto& holder, DecodePath& where) -> absl::Status {
    if (!holder.has_data_ref()) return absl::OkStatus();
    RETURN_IF_ERROR(internal::CheckPayloadRef(holder.data_ref(), holder.data().size(), where));
    const v1::PayloadRef& ref = holder.data_ref();
    absl::StatusOr<std::string> bytes = fetch(ref);
    if (!bytes.ok()) {
      return absl::Status(bytes.status().code(),
                          absl::StrCat(where.ToString(), ": payload ", ref.digest(), " (",
                                       ref.size(), " bytes): ", bytes.status().message()));
    }
    if (bytes->size() != ref.size()) {
      return absl::DataLossError(absl::StrCat(where.ToString(), ": payload ", ref.digest(), " is ",
                                              bytes->size(), " bytes, the ref says ", ref.size()));
    }
    *holder.mutable_data() = *std::move(bytes);
    holder.clear_data_ref();
    return absl::OkStatus();
  };
  return ForEachHolder(*value, path, fetch_in);
}

absl::Status CheckPayloadsExternal(const v1::Value& value, std::string_view root) {
  DecodePath path(root);
  auto check = [](const auto& holder, DecodePath& where) -> absl::Status {
    if (!IsLargeInline(holder)) return absl::OkStatus();
    return where.Error(internal::InlinePayloadProblem(HolderName(holder), holder.data().size()));
  };
  return ForEachHolder(value, path, check);
}

absl::Status CheckPayloadsStored(const v1::Value& value, const PayloadSizeLookup& stored_size,
                                 std::string_view root) {
  absl::flat_hash_set<std::string> checked;
  DecodePath path(root);
  auto check = [&](const auto& holder, DecodePath& where) -> absl::Status {
    if (!holder.has_data_ref()) return absl::OkStatus();
    RETURN_IF_ERROR(internal::CheckPayloadRef(holder.data_ref(), holder.data().size(), where));
    if (checked.contains(holder.data_ref().digest())) return absl::OkStatus();
    RETURN_IF_ERROR(internal::CheckPayloadStored(holder.data_ref(), stored_size, where.ToString()));
    checked.insert(holder.data_ref().digest());
    return absl::OkStatus();
  };
  return ForEachHolder(value, path, check);
}

namespace internal {

std::string InlinePayloadProblem(std::string_view holder, uint64_t bytes) {
  const std::string threshold = ThresholdText();
  return absl::StrCat(AsAbsl(holder), " of ", bytes, " bytes inline; payloads of ", threshold,
                      " and more must be uploaded and referenced (PayloadRef)");
}

absl::Status CheckPayloadStored(const v1::PayloadRef& ref, const PayloadSizeLookup& stored_size,
                                std::string_view place) {
  RETURN_IF_ERROR(CheckPayloadRef(ref, /*inline_bytes=*/0, DecodePath(place)));
  absl::StatusOr<uint64_t> size = stored_size(ref.digest());
  if (absl::IsNotFound(size.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        AsAbsl(place), ": payload ", ref.digest(), " (", ref.size(),
        " bytes) was never uploaded; upload it (UploadChunk.payload) before the value that "
        "references it"));
  }
  if (!size.ok()) {
    return absl::Status(size.status().code(),
                        absl::StrCat(AsAbsl(place), ": payload ", ref.digest(), ": ",
                                     size.status().message()));
  }
  if (*size != ref.size()) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(place), ": payload ", ref.digest(),
                                                   " is ", *size, " bytes, the ref says ",
                                                   ref.size()));
  }
  return absl::OkStatus();
}

absl::Status CheckPayloadRef(const v1::PayloadRef& ref, size_t inline_bytes,
                             const DecodePath& path) {
  if (!IsSha256Hex(ref.digest())) {
    return path.Error(absl::StrCat("payload ref digest \"", ref.digest().substr(0, 80),
                                   "\" is not 64 lowercase hex characters"));
  }
  if (ref.size() < kPayloadThresholdBytes) {
    return path.Error(absl::StrCat("payload ref of ", ref.size(), " bytes: payloads under ",
                                   kPayloadThresholdBytes, " bytes are stored inline"));
  }
  if (inline_bytes != 0) return path.Error("holds both inline data and a payload ref");
  return absl::OkStatus();
}

namespace {

// The ref `holder`'s large inline payload would get.
template <typename H>
void SetRefOf(const H& holder, H* out) {
  v1::PayloadRef* ref = out->mutable_data_ref();
  ref->set_digest(Sha256Hex(holder.data()));
  ref->set_size(holder.data().size());
}

}  // namespace

// Copies the holder messages field by field, leaving out `data` when it moves to a ref. A new
// field in TensorValue, Column, ImageValue or BlobValue must be copied here too
// (PayloadTest.WithPayloadRefsKnowsEveryHolderField counts them).
v1::Value WithPayloadRefs(const v1::Value& value) {
  v1::Value out;
  switch (value.kind_case()) {
    case v1::Value::kListValue: {
      auto* items = out.mutable_list_value()->mutable_items();
      items->Reserve(value.list_value().items_size());
      for (const v1::Value& item : value.list_value().items()) {
        *items->Add() = WithPayloadRefs(item);
      }
      return out;
    }
    case v1::Value::kMapValue: {
      auto* entries = out.mutable_map_value()->mutable_entries();
      entries->Reserve(value.map_value().entries_size());
      for (const v1::MapEntry& entry : value.map_value().entries()) {
        v1::MapEntry* copy = entries->Add();
        *copy->mutable_key() = entry.key();  // keys keep their payloads inline
        *copy->mutable_value() = WithPayloadRefs(entry.value());
      }
      return out;
    }
    case v1::Value::kTensorValue: {
      const v1::TensorValue& t = value.tensor_value();
      if (!IsLargeInline(t)) break;
      v1::TensorValue* copy = out.mutable_tensor_value();
      copy->set_dtype(t.dtype());
      *copy->mutable_shape() = t.shape();
      SetRefOf(t, copy);
      return out;
    }
    case v1::Value::kTableValue: {
      const v1::TableValue& t = value.table_value();
      v1::TableValue* copy = out.mutable_table_value();
      copy->set_num_rows(t.num_rows());
      for (const v1::Column& c : t.columns()) {
        if (!IsLargeInline(c)) {
          *copy->add_columns() = c;
          continue;
        }
        v1::Column* column = copy->add_columns();
        column->set_name(c.name());
        column->set_dtype(c.dtype());
        *column->mutable_strings() = c.strings();
        SetRefOf(c, column);
      }
      return out;
    }
    case v1::Value::kImageValue: {
      const v1::ImageValue& i = value.image_value();
      if (!IsLargeInline(i)) break;
      v1::ImageValue* copy = out.mutable_image_value();
      copy->set_format(i.format());
      copy->set_width(i.width());
      copy->set_height(i.height());
      SetRefOf(i, copy);
      return out;
    }
    case v1::Value::kBlobValue: {
      const v1::BlobValue& b = value.blob_value();
      if (!IsLargeInline(b)) break;
      SetRefOf(b, out.mutable_blob_value());
      return out;
    }
    default:
      break;
  }
  out = value;
  return out;
}

}  // namespace internal
}  // namespace sematic
