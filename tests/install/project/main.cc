// A pipeline built against an installed Sematic: resolves in-process by default, and serves its
// steps to a scheduler as `my_pipeline worker --scheduler=HOST:PORT`.
#include <iostream>
#include <vector>

#include "sematic/sematic.h"
#include "worker/worker_main.h"

int Square(int x) { return x * x; }
SEMATIC_FUNC(Square, "x");

int Sum(const std::vector<int>& xs) {
  int total = 0;
  for (int x : xs) total += x;
  return total;
}
SEMATIC_FUNC(Sum, "xs");

// Nested: Sum(Square(1), ..., Square(n)).
sematic::Future<int> SumOfSquares(int n) {
  std::vector<sematic::Future<int>> squares;
  for (int i = 1; i <= n; ++i) squares.push_back(sematic::Call(Square, i));
  return sematic::Call(Sum, squares);
}
SEMATIC_FUNC(SumOfSquares, "n");

int main(int argc, char** argv) {
  if (sematic::worker::IsWorkerCommand(argc, argv)) return sematic::worker::Main(argc, argv);
  sematic::SilentRunner runner;
  absl::StatusOr<int> total = runner.Resolve(sematic::Call(SumOfSquares, 10));
  if (!total.ok()) {
    std::cerr << total.status() << "\n";
    return 1;
  }
  std::cout << "sum of squares: " << *total << "\n";
  return 0;
}
