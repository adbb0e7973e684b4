// stratoswarm: the GPU peer (`serve`) and the CLI that drives it.
#include <iostream>

#include "cli/commands.h"

int main(int argc, char** argv) { return gpu_node::RunStratoswarm(argc, argv, std::cout); }
