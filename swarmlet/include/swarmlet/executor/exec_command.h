// `swarmlet exec`: one workload in the foreground under limits, through the
// same Executor the node agent uses, for demos and for nodes without a
// cluster. Prints the workload's output (from its log file) once it ends,
// then one result line ("exited 0", "killed by SIGTERM", "OOM killed"), and
// returns the workload's code (128+signal, 137 for OOM). Ctrl-C / SIGTERM
// stop the workload (SIGTERM, then SIGKILL) and still clean up.
//
// Thread safety: call from the main thread (installs SIGINT/SIGTERM handlers
// for its duration).
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace swarmlet::executor {

struct ExecCommandArgs {
  std::string cpu, memory, pids, cpuset;  // as typed; empty = unlimited
  std::string restart = "never";
  std::string state_dir = "/var/lib/stratoswarm/exec";
  // Each run uses node "exec-<pid>" and <state_dir>/exec-<pid>, removed at
  // the end, so concurrent execs stay apart. A SIGKILLed exec leaves its
  // workload running there (re-adoptable by a swarmlet on that directory).
  std::string node;
  std::string name;
  std::string image;  // empty: on the host
  std::vector<std::string> volumes;  // HOST:PATH
  std::string user;         // UID[:GID]; image runs only
  bool privileged = false;  // image runs: no confinement (executor.h)
  std::string images_dir = "/var/lib/stratoswarm/images";
  std::vector<std::string> command;
};

// Exit codes: the workload's; 2 for bad input (one error line on stderr,
// nothing created); 1 when the node cannot run it (no cgroup access, exec
// failure). `usage_error` prints the project's usage line after the error.
int RunExecCommand(const ExecCommandArgs& args, std::ostream& out,
                   const std::function<int(const std::string&)>& usage_error);

}  // namespace swarmlet::executor
