// The smallest pipeline: three steps, composed by passing futures, resolved in-process.
//
//   build/examples/hello
#include <cstdio>
#include <string>

#include "sematic/sematic.h"

namespace {

std::string Greet(const std::string& name) { return "Hello, " + name; }
SEMATIC_FUNC(Greet, "name");

std::string Exclaim(const std::string& text, int times) {
  return text + std::string(static_cast<size_t>(times), '!');
}
SEMATIC_FUNC(Exclaim, "text", "times");

int CountLetters(const std::string& text) {
  int n = 0;
  for (char c : text) n += (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  return n;
}
SEMATIC_FUNC(CountLetters, "text");

}  // namespace

int main() {
  sematic::Future<std::string> greeting = sematic::Call(Exclaim, sematic::Call(Greet, "world"), 3);
  sematic::Future<int> letters = sematic::Call(CountLetters, greeting);

  sematic::SilentRunner runner;
  absl::StatusOr<int> count = runner.Resolve(letters);
  if (!count.ok()) {
    std::fprintf(stderr, "pipeline failed: %s\n", count.status().ToString().c_str());
    return 1;
  }
  for (const sematic::v1::Run& run : runner.Runs()) {
    std::printf("%-14s %-10s output %s\n", run.function().c_str(),
                sematic::v1::RunState_Name(run.state()).c_str(),
                run.output_digest().substr(0, 12).c_str());
  }
  std::printf("letters: %d\n", *count);
  return *count == 10 ? 0 : 1;
}
