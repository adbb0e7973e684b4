// The swarmlet command line: `swarmlet <command>`, and the multi-call tools
// chosen by the name the binary runs under (`stratoswarm-metrics`,
// `stratoswarm-test`). Kept out of main() so tests drive it in-process.
#pragma once

#include <iosfwd>

namespace swarmlet {

// Dispatches on basename(argv[0]); returns the process exit code. Normal
// output goes to `out`, errors and usage to stderr.
int RunMultiCall(int argc, const char* const* argv, std::ostream& out);

}  // namespace swarmlet
