// The pipeline's steps, shared by both binaries (steps.cc registers them).
#ifndef MY_PIPELINE_STEPS_H_
#define MY_PIPELINE_STEPS_H_

#include "sematic/sematic.h"

// Nested: Sum(Square(1), ..., Square(n)).
sematic::Future<int> SumOfSquares(int n);

#endif  // MY_PIPELINE_STEPS_H_
