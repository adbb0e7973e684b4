// Command-line plumbing shared by `swarmlet` and `stratoswarm` (both use CLI11).
//
// One policy for bad input everywhere: a one-line error naming the problem,
// then the usage line, on stderr, exit code 2. `--help` prints help and exits 0.
#pragma once

#include <CLI/CLI.hpp>

#include <atomic>
#include <string_view>

namespace swarmlet {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the command ran and failed
inline constexpr int kExitUsage = 2;    // the command line was wrong
// `swarmlet join`: the GPU peer removed this node (stratoswarm node rm); its
// identity is gone. The systemd unit does not restart on it.
inline constexpr int kExitRemoved = 3;

// Parses argv into `app`. Returns -1 when parsing succeeded and the selected
// callbacks should run; otherwise the exit code to return (help printed,
// version printed, or a usage error reported).
int ParseCommandLine(CLI::App& app, int argc, const char* const* argv);

// The deepest subcommand the user reached (the command itself, e.g. `node ls`).
const CLI::App& Deepest(const CLI::App& app);

// Usage error outside CLI11's own checks (e.g. a flag value out of range).
int UsageError(const CLI::App& app, std::string_view message);

// A flag that SIGINT and SIGTERM set (systemd stop, docker stop, Ctrl-C), for
// long-running commands to end their loop cleanly. Installs the handlers.
const std::atomic<bool>& StopFlagOnSignals();
// Set, with the stop flag, by SIGUSR1: `swarmlet leave` asks the running
// agent to leave the cluster for good. StopFlagOnSignals() installs it.
const std::atomic<bool>& LeaveFlag();

// The standard reply of a subcommand that a later release implements.
int NotImplementedYet(std::string_view program, std::string_view command);

}  // namespace swarmlet
