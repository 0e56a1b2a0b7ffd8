// The README's SDK tour. Everything below the marker is the README's code block, verbatim;
// the test example_readme_tour_matches checks they stay identical.
#include <iostream>
#include <vector>

// ---- README code block ----
#include "sematic/sematic.h"

struct Config { double learning_rate; int hidden; };
SEMATIC_STRUCT(Config, learning_rate, hidden);          // makes Config an artifact type

struct Result { Config config; double accuracy; };
SEMATIC_STRUCT(Result, config, accuracy);

// A step is a plain function. Register it once, naming its parameters for humans.
Result Train(const Config& config, int epochs) {
  sematic::Context& ctx = sematic::Context::Current();
  double accuracy = 0;
  for (int e = 0; e < epochs && !ctx.Cancelled(); ++e) {
    accuracy = 1 - 0.5 / (e + 1) - config.learning_rate / 10;  // your training here
    ctx.LogMetric("accuracy", accuracy, e);
  }
  return Result{config, accuracy};
}
SEMATIC_FUNC(Train, "config", "epochs").Cpus(2).Retry(2).Timeout(absl::Minutes(30));

Result PickBest(const std::vector<Result>& results) {
  Result best = results.front();
  for (const Result& r : results) if (r.accuracy > best.accuracy) best = r;
  return best;
}
SEMATIC_FUNC(PickBest, "results");

// A step that returns Future<R> is nested: the calls it makes become its children, and plain
// C++ decides how many there are while the pipeline runs.
sematic::Future<Result> Sweep(const std::vector<double>& rates, int epochs) {
  std::vector<sematic::Future<Result>> results;
  for (double lr : rates) results.push_back(sematic::Call(Train, Config{lr, 128}, epochs));
  return sematic::Call(PickBest, results);   // a vector of futures gathers into a vector
}
SEMATIC_FUNC(Sweep, "rates", "epochs");

int main() {
  sematic::SilentRunner runner;                       // in-process, all cores
  absl::StatusOr<Result> best = runner.Resolve(sematic::Call(Sweep, std::vector{0.1, 0.01}, 5));
  if (!best.ok()) { std::cerr << best.status() << "\n"; return 1; }
  std::cout << "best lr " << best->config.learning_rate << "\n";
  for (const sematic::v1::Run& run : runner.Runs())   // every run, its inputs and output ids
    std::cout << run.function() << " " << run.output_digest() << "\n";
}
