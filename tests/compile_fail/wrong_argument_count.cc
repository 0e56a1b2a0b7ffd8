// Must NOT compile: Scale takes two arguments.
#include "sematic/sematic.h"

double Scale(double x, int factor) { return x * factor; }
SEMATIC_FUNC(Scale, "x", "factor");

int main() {
  auto f = sematic::Call(Scale, 1.0);
  return 0;
}
