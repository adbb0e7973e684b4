// Starting and reaping one workload process.
//
// Spawn() uses vfork(): the child shares the parent's memory until it execs,
// so it costs no page-table copy (fork of a large swarmlet would). Between
// vfork and exec the child only makes system calls: it writes "0" into each
// pre-opened cgroup.procs fd (joining the workload's cgroups before the
// workload's first instruction), points stdio at the log file, and execs.
// A failure on the way is reported through an O_CLOEXEC pipe that stays
// open through execve: EOF means exec succeeded, 8 bytes (step, errno) mean
// it did not, so a bad path comes back as
//   "exec /bin/nonexistent: No such file or directory"
// rather than as a mysterious exit 127.
//
// Thread safety: Spawn() may be called from any thread; it blocks all
// signals of the calling thread for the few microseconds the child runs on
// the parent's memory.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mesh/status.h"

namespace swarmlet::executor {

struct SpawnRequest {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH unless it has a '/'
  std::vector<std::string> env;   // the workload's whole environment
  std::vector<int> cgroup_procs_fds;  // cgroup.procs fds to join (not closed)
  int stdout_fd = -1;                 // -1: /dev/null
  int stderr_fd = -1;                 // -1: /dev/null
  std::string cwd;                    // empty: inherit
  bool new_session = true;  // setsid(): the workload leaves the swarmlet's session and
                            // process group, so it outlives a swarmlet restart
  // Image runs: a non-empty rootfs runs the command inside it, in new
  // mount/pid/uts/ipc namespaces (the command is pid 1 there), after
  // pivot_root, with its own /proc, device nodes null, zero, full, random,
  // urandom and tty in the image's /dev (made once), hostname `hostname`, when
  // data_dir is set that host directory bind-mounted writable at /data, and
  // each volume (host path, absolute path inside) bind-mounted. Mount
  // points missing in the image are created in it. argv[0] is looked up
  // inside the image. Needs root (CAP_SYS_ADMIN).
  std::string rootfs;
  std::string hostname;
  std::string data_dir;
  std::vector<std::pair<std::string, std::string>> volumes;
  // The identity the command runs as (image User), set after pivot_root
  // and before the chdir: -1 keeps the swarmlet's (root). Supplementary
  // groups are replaced by `groups` whenever gid is set.
  std::int64_t uid = -1;
  std::int64_t gid = -1;
  std::vector<gid_t> groups;
  // Image runs: the security.h confinement (capabilities, no_new_privs,
  // the default seccomp filter) as the last steps before execve.
  bool confine = false;
  // Image runs: when set, `rootfs` stays read-only: the child mounts a tmpfs
  // on this (existing, empty) host directory inside its own mount namespace
  // and an overlay of rootfs beneath that tmpfs, and runs in the overlay.
  // Writes live as long as the run; nothing is left on the host, and runs
  // may share the directory (each mount is private to its namespace).
  std::string scratch_dir;
};

// Starts the process; returns its pid once it has exec'd.
mesh::Result<pid_t> Spawn(const SpawnRequest& request);

// Resolves a command name through PATH (as execvp would), in the parent;
// under `root` (an image) when given, returning the path inside it.
// Returns the name unchanged when not found: execve then reports ENOENT.
std::string ResolveCommand(const std::string& name, const std::string& path_env,
                           const std::string& root = "");

// How a process ended.
struct ExitStatus {
  bool code_known = true;  // false for a re-adopted process that was not our child
  int exit_code = 0;       // valid when signal == 0
  int signal = 0;          // the terminating signal, 0 for a normal exit
  bool oom_killed = false; // filled in by the executor from the cgroup's counters

  bool success() const { return code_known && signal == 0 && exit_code == 0 && !oom_killed; }
  // "exited 0", "killed by SIGKILL", "OOM killed", "exited (code unknown)".
  std::string Describe() const;
  // What `swarmlet exec` returns: the code, 128+signal, or 137 for OOM.
  int ShellCode() const;
};

// Waits up to `timeout` (nullopt = forever) for `pid` to end. Reaps it when it
// is our child; for a process we did not start (re-adopted after a restart)
// it watches it through a pidfd and reports code_known = false. Returns
// std::nullopt in the result when the timeout passes first.
mesh::Result<std::optional<ExitStatus>> WaitProcess(pid_t pid,
                                                    std::optional<std::chrono::milliseconds> timeout);

// The start time of `pid` (field 22 of /proc/<pid>/stat, clock ticks since
// boot): with the pid it names one process for good, despite pid reuse.
// NotFound for a process that has ended, a zombie not reaped yet included.
mesh::Result<std::uint64_t> ProcessStartTime(pid_t pid);

}  // namespace swarmlet::executor
