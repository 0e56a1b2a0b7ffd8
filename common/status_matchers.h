// gtest matchers for absl::Status and absl::StatusOr.
//
//   EXPECT_THAT(DoIt(), IsOk());
//   EXPECT_THAT(Parse("x"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("config.lr")));
//   ASSERT_OK_AND_ASSIGN(auto v, Decode<int>(value));
#ifndef SEMATIC_COMMON_STATUS_MATCHERS_H_
#define SEMATIC_COMMON_STATUS_MATCHERS_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sematic::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = ::sematic::testing::GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s;
  return s.ok();
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + std::string(absl::StatusCodeToString(code))) {
  const absl::Status& s = ::sematic::testing::GetStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, std::string(s.message()), result_listener);
}

// A status of `code`, whatever its message.
inline auto StatusIs(absl::StatusCode code) { return StatusIs(code, ::testing::_); }

}  // namespace sematic::testing

#define SEMATIC_MATCHERS_CONCAT_INNER_(a, b) a##b
#define SEMATIC_MATCHERS_CONCAT_(a, b) SEMATIC_MATCHERS_CONCAT_INNER_(a, b)

#define ASSERT_OK(expr) ASSERT_THAT((expr), ::sematic::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::sematic::testing::IsOk())

#define ASSERT_OK_AND_ASSIGN(lhs, rexpr)                                                     \
  auto SEMATIC_MATCHERS_CONCAT_(statusor_, __LINE__) = (rexpr);                              \
  ASSERT_THAT(SEMATIC_MATCHERS_CONCAT_(statusor_, __LINE__), ::sematic::testing::IsOk());   \
  lhs = std::move(SEMATIC_MATCHERS_CONCAT_(statusor_, __LINE__)).value()

#endif  // SEMATIC_COMMON_STATUS_MATCHERS_H_
