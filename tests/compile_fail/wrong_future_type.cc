// Must NOT compile: a Future<int> where Scale takes a double (futures must match exactly).
#include "sematic/sematic.h"

double Scale(double x, int factor) { return x * factor; }
SEMATIC_FUNC(Scale, "x", "factor");
int One() { return 1; }
SEMATIC_FUNC(One);

int main() {
  auto f = sematic::Call(Scale, sematic::Call(One), 3);
  return 0;
}
