// Must NOT compile: a step parameter type without a codec.
#include "sematic/sematic.h"

struct Opaque { int x; };
int Use(Opaque o) { return o.x; }
SEMATIC_FUNC(Use, "o");

int main() { return 0; }
