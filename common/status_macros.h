// RETURN_IF_ERROR and ASSIGN_OR_RETURN, with Abseil's names (our abseil, 20220623, lacks them).
//
//   absl::StatusOr<Config> Load(std::string_view path) {
//     RETURN_IF_ERROR(CheckReadable(path));
//     ASSIGN_OR_RETURN(std::string text, ReadFile(path));
//     return ParseConfig(text);
//   }
#ifndef SEMATIC_COMMON_STATUS_MACROS_H_
#define SEMATIC_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SEMATIC_STATUS_CONCAT_INNER_(a, b) a##b
#define SEMATIC_STATUS_CONCAT_(a, b) SEMATIC_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status); returns it from the enclosing function when not OK.
#define RETURN_IF_ERROR(expr)                                           \
  do {                                                                  \
    ::absl::Status sematic_status_ = (expr);                            \
    if (ABSL_PREDICT_FALSE(!sematic_status_.ok())) return sematic_status_; \
  } while (0)

// Evaluates `rexpr` (an absl::StatusOr<T>); returns its status when not OK, otherwise moves the
// value into `lhs`, which may be a declaration (`ASSIGN_OR_RETURN(auto x, F())`).
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  SEMATIC_ASSIGN_OR_RETURN_IMPL_(SEMATIC_STATUS_CONCAT_(sematic_statusor_, __LINE__), lhs, rexpr)

#define SEMATIC_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr)          \
  auto statusor = (rexpr);                                            \
  if (ABSL_PREDICT_FALSE(!statusor.ok())) return statusor.status();   \
  lhs = std::move(statusor).value()

#endif  // SEMATIC_COMMON_STATUS_MACROS_H_
