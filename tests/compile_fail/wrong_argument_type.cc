// Must NOT compile: Call(Scale, "two", 3) passes a string where Scale takes a double.
#include "sematic/sematic.h"

double Scale(double x, int factor) { return x * factor; }
SEMATIC_FUNC(Scale, "x", "factor");

int main() {
  auto f = sematic::Call(Scale, "two", 3);
  return 0;
}
