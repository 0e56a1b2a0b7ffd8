// JSON views of typed values, and typed values from JSON (e.g. arguments submitted by hand).
//
//   absl::StatusOr<std::string> view = sematic::ToJson(type, value, {.pretty = true});
//   absl::StatusOr<v1::Value> args = sematic::FromJson(sematic::TypeOf<Config>(),
//                                                      R"({"lr": 0.1, "hidden": 64})");
//
// The view (ToJson): struct -> object keyed by field name; list/tuple -> array; map with string
// keys -> object, other maps -> array of [key, value]; optional -> null or the inner value;
// enum -> its name; bytes/blob -> base64 (cut to max_elements bytes, then "..." is appended);
// tensor -> {"dtype", "shape", "data": [...]}; table -> {"num_rows", "column_names", "dtypes",
// "columns": {name: [...]}}; image -> {"format", "width", "height", "size_bytes"}; plot -> the
// Vega-Lite spec as an object. Tensor data and table columns are cut to max_elements elements,
// with "truncated": true. Integers beyond +-2^53 are strings; NaN, infinities and -0.0 are the
// strings "NaN", "Infinity", "-Infinity", "-0" (protobuf's JSON would lose -0). Object keys are
// sorted.
//
// FromJson accepts the view's forms (untruncated), integers also as decimal strings, bytes and
// blobs as base64, images as {"format", "width", "height", "data": base64}, tables whose
// "dtypes" and "column_names" are optional (dtypes then inferred: bool, string, int64 when every
// value is integral, else float64; columns then in name order), and a struct object that omits
// optional fields (null). The result is canonical: equal to Encode() of the equivalent C++ value.
#ifndef SEMATIC_JSON_H_
#define SEMATIC_JSON_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "sematic/codec.h"

namespace sematic {

struct JsonOptions {
  bool pretty = false;         // indented, multi-line output
  size_t max_elements = 1000;  // per tensor / table column / bytes value
};

// The JSON view of `value`. INVALID_ARGUMENT (with a path) when `value` does not match `type`
// (see ValidateValue).
absl::StatusOr<std::string> ToJson(const v1::TypeDesc& type, const v1::Value& value,
                                   const JsonOptions& options = {});

// Parses `json` as a value of `type`. INVALID_ARGUMENT naming the path under `root` on a syntax
// error or a mismatch, e.g. "args.layers[2]: expected int32, got string".
absl::StatusOr<v1::Value> FromJson(const v1::TypeDesc& type, std::string_view json,
                                   std::string_view root = "args");

}  // namespace sematic

#endif  // SEMATIC_JSON_H_
