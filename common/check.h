// CHECK for programmer errors (our abseil predates absl/log). Bad input is a Status, never this.
//
//   SEMATIC_CHECK(ctx != nullptr, "EVP_MD_CTX_new failed");
#ifndef SEMATIC_COMMON_CHECK_H_
#define SEMATIC_COMMON_CHECK_H_

#include <cstdio>
#include <cstdlib>

#include "absl/base/optimization.h"

#define SEMATIC_CHECK(cond, msg)                                                   \
  do {                                                                             \
    if (ABSL_PREDICT_FALSE(!(cond))) {                                             \
      std::fprintf(stderr, "%s:%d: check failed: %s: %s\n", __FILE__, __LINE__, #cond, \
                   (msg));                                                         \
      std::abort();                                                                \
    }                                                                              \
  } while (0)

#endif  // SEMATIC_COMMON_CHECK_H_
