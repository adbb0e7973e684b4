// The `stratoswarm` command tree: every subcommand of the seeds, its flags and
// its help, built into one CLI11 app. Running a command dispatches to the
// handler that implements it; commands without one say so and exit 1.
//
// Thread safety: build and run from one thread.
#pragma once

#include <iosfwd>

namespace gpu_node {

// Parses argv, runs the selected command, returns the process exit code.
// Output goes to `out`, errors to stderr.
int RunStratoswarm(int argc, const char* const* argv, std::ostream& out);

}  // namespace gpu_node
