#include "steps.h"

#include <vector>

int Square(int x) { return x * x; }
SEMATIC_FUNC(Square, "x");

int Sum(const std::vector<int>& xs) {
  int total = 0;
  for (int x : xs) total += x;
  return total;
}
SEMATIC_FUNC(Sum, "xs");

sematic::Future<int> SumOfSquares(int n) {
  std::vector<sematic::Future<int>> squares;
  for (int i = 1; i <= n; ++i) squares.push_back(sematic::Call(Square, i));
  return sematic::Call(Sum, squares);
}
SEMATIC_FUNC(SumOfSquares, "n");
