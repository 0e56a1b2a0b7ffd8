// Validation of the domain-type messages (TensorValue, TableValue, ImageValue, PlotValue), shared
// by the typed decoders (types.cc) and ValidateValue (codec.cc). Private to the SDK.
#ifndef SEMATIC_SDK_TYPES_INTERNAL_H_
#define SEMATIC_SDK_TYPES_INTERNAL_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sematic/codec.h"
#include "sematic/v1/value.pb.h"

namespace sematic::internal {

// Byte width of a fixed-width wire dtype; 0 for DTYPE_STRING; error for unknown dtypes.
absl::StatusOr<size_t> WireDTypeSize(int dtype, const DecodePath& path);

// Number of elements of `shape`: no negative dimension, no int64 overflow, and the byte size
// (elements * element_size) fits in size_t. INVALID_ARGUMENT at `path` otherwise.
absl::StatusOr<int64_t> CheckedNumElements(const google::protobuf::RepeatedField<int64_t>& shape,
                                           size_t element_size, const DecodePath& path);

// OK when `tensor` is well formed: known non-string dtype, valid shape, data size equal to
// product(shape) * dtype size, bool elements 0 or 1.
absl::Status ValidateTensor(const v1::TensorValue& tensor, const DecodePath& path);

// OK when `table` is well formed: num_rows >= 0, unique names, known dtypes, every column
// num_rows long (strings for DTYPE_STRING, data otherwise), bool elements 0 or 1.
absl::Status ValidateTable(const v1::TableValue& table, const DecodePath& path);

// OK when `image` has a known format, matching file signature, non-zero width and height.
absl::Status ValidateImage(const v1::ImageValue& image, const DecodePath& path);

}  // namespace sematic::internal

#endif  // SEMATIC_SDK_TYPES_INTERNAL_H_
