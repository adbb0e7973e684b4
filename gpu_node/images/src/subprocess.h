// Child processes for the image store (skopeo, tar2sqfs): posix_spawnp, no
// shell, stdout and stderr captured into an anonymous memory file so a chatty
// child can never block on a full pipe.
//
// Thread safety: free functions; each Child belongs to one thread.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "mesh/status.h"

namespace images::internal {

struct Child {
  pid_t pid = -1;
  int output_fd = -1;  // memfd holding the child's stdout + stderr
};

struct ChildExit {
  int exit_code = -1;  // -1 when killed by a signal
  int term_signal = 0;
  std::string output;  // at most the last 64 KiB

  bool ok() const { return exit_code == 0; }
  // The last non-empty output line, or "exit status N" / "killed by signal N".
  std::string LastLine() const;
};

// Starts argv[0] (looked up in PATH) with `stdin_fd` as its stdin (-1:
// /dev/null). NotFound when the program is not installed.
mesh::Result<Child> Spawn(const std::vector<std::string>& argv, int stdin_fd = -1);

// Waits for the child and collects its output; closes output_fd.
mesh::Result<ChildExit> Wait(Child& child);

// Kills (SIGKILL) and reaps a child that is no longer wanted.
void Kill(Child& child);

// Spawn + Wait. An error only when the program could not be run; its exit
// status is the caller's to judge.
mesh::Result<ChildExit> Run(const std::vector<std::string>& argv);

}  // namespace images::internal
