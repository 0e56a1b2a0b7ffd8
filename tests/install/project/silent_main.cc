// The same pipeline with Sematic::sdk alone (no engine, no scheduler or RocksDB linked):
// resolves in-process.
#include <iostream>

#include "sematic/sematic.h"
#include "steps.h"

int main() {
  sematic::SilentRunner runner;
  absl::StatusOr<int> total = runner.Resolve(sematic::Call(SumOfSquares, 10));
  if (!total.ok()) {
    std::cerr << total.status() << "\n";
    return 1;
  }
  std::cout << "sum of squares: " << *total << "\n";
  return 0;
}
