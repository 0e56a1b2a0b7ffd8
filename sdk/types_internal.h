// Validation of the domain-type messages (TensorValue, TableValue, ImageValue, PlotValue), shared
// by the typed decoders (types.cc) and ValidateValue (codec.cc). Private to the SDK.
#ifndef SEMATIC_SDK_TYPES_INTERNAL_H_
#define SEMATIC_SDK_TYPES_INTERNAL_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "sematic/codec.h"
#include "sematic/v1/value.pb.h"

namespace sematic::internal {

// Byte width of a fixed-width wire dtype; 0 for DTYPE_STRING; error for unknown dtypes.
absl::StatusOr<size_t> WireDTypeSize(int dtype, const DecodePath& path);

// Number of elements of `shape`: no negative dimension, no int64 overflow, and the byte size
// (elements * element_size) fits in size_t. INVALID_ARGUMENT at `path` otherwise.
absl::StatusOr<int64_t> CheckedNumElements(const google::protobuf::RepeatedField<int64_t>& shape,
                                           size_t element_size, const DecodePath& path);

// Whether a validator accepts PayloadRefs (sematic/payload.h) in place of inline data. Wire
// validation (ValidateValue) does; decoding into C++ types needs the bytes, so it does not.
enum class Refs { kAllowed, kRefused };

// OK when `ref` is well formed: a SHA-256 hex digest, a size of at least the payload threshold,
// and no inline data beside it (`inline_bytes` is the holder's data size). INVALID_ARGUMENT at
// `path` otherwise.
absl::Status CheckPayloadRef(const v1::PayloadRef& ref, size_t inline_bytes,
                             const DecodePath& path);

// The size of a holder's payload (inline data, or the ref's size when refs are allowed).
// INVALID_ARGUMENT for a malformed ref, or for any ref when refused (saying that its payload
// was not fetched).
template <typename Holder>
absl::StatusOr<uint64_t> PayloadSize(const Holder& holder, Refs refs, const DecodePath& path) {
  if (!holder.has_data_ref()) return holder.data().size();
  const v1::PayloadRef& ref = holder.data_ref();
  if (refs == Refs::kRefused) {
    return path.Error(absl::StrCat("the data is payload ", ref.digest().substr(0, 80), " (",
                                   ref.size(),
                                   " bytes), not fetched: InternalizePayloads "
                                   "(sematic/payload.h) before decoding"));
  }
  if (absl::Status s = CheckPayloadRef(ref, holder.data().size(), path); !s.ok()) return s;
  return ref.size();
}

// OK when `tensor` is well formed: known non-string dtype, valid shape, data size equal to
// product(shape) * dtype size, bool elements 0 or 1 (unchecked behind a ref).
absl::Status ValidateTensor(const v1::TensorValue& tensor, const DecodePath& path,
                            Refs refs = Refs::kRefused);

// OK when `table` is well formed: num_rows >= 0, unique names, known dtypes, every column
// num_rows long (strings for DTYPE_STRING, data otherwise), bool elements 0 or 1 (unchecked
// behind a ref).
absl::Status ValidateTable(const v1::TableValue& table, const DecodePath& path,
                           Refs refs = Refs::kRefused);

// OK when `image` has a known format, matching file signature (unchecked behind a ref),
// non-zero width and height.
absl::Status ValidateImage(const v1::ImageValue& image, const DecodePath& path,
                           Refs refs = Refs::kRefused);

// OK when `blob` holds inline data, or a well-formed ref when refs are allowed.
absl::Status ValidateBlob(const v1::BlobValue& blob, const DecodePath& path,
                          Refs refs = Refs::kRefused);

}  // namespace sematic::internal

#endif  // SEMATIC_SDK_TYPES_INTERNAL_H_
