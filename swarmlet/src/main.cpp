// swarmlet: the edge agent. Multi-call: installed (or linked) as
// `stratoswarm-metrics` or `stratoswarm-test` it runs those tools instead.
#include <iostream>

#include "swarmlet/commands.h"

int main(int argc, char** argv) { return swarmlet::RunMultiCall(argc, argv, std::cout); }
