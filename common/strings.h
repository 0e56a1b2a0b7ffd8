// Bridges std::string_view and absl::string_view. Debian's abseil is built with its own
// string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0), so absl::StrCat and absl hash containers do not
// take std::string_view directly. Public headers use std::string_view; implementations convert.
//
//   absl::StrCat("no run ", AsAbsl(id));
#ifndef SEMATIC_COMMON_STRINGS_H_
#define SEMATIC_COMMON_STRINGS_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace sematic {

inline absl::string_view AsAbsl(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view AsStd(absl::string_view s) { return {s.data(), s.size()}; }

}  // namespace sematic

#endif  // SEMATIC_COMMON_STRINGS_H_
