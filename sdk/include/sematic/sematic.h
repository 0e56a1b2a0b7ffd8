// Sematic: ML and data pipelines as plain C++ functions.
//
//   #include "sematic/sematic.h"
//
//   int Square(int x) { return x * x; }
//   SEMATIC_FUNC(Square, "x");
//   int Add(int a, int b) { return a + b; }
//   SEMATIC_FUNC(Add, "a", "b");
//
//   int main() {
//     sematic::Future<int> f = sematic::Call(Add, sematic::Call(Square, 3), 4);
//     absl::StatusOr<int> v = f.Resolve();  // 13
//   }
//
// See codec.h (types), func.h (steps), future.h (composition), context.h (inside a step),
// runner.h (running), types.h (Tensor, Table, Image, Plot, Blob), json.h (JSON views).
#ifndef SEMATIC_SEMATIC_H_
#define SEMATIC_SEMATIC_H_

#include "sematic/codec.h"    // IWYU pragma: export
#include "sematic/context.h"  // IWYU pragma: export
#include "sematic/func.h"     // IWYU pragma: export
#include "sematic/future.h"   // IWYU pragma: export
#include "sematic/json.h"     // IWYU pragma: export
#include "sematic/payload.h"  // IWYU pragma: export
#include "sematic/runner.h"   // IWYU pragma: export
#include "sematic/types.h"    // IWYU pragma: export

#endif  // SEMATIC_SEMATIC_H_
