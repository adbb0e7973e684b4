// Cgroup backends: where a workload's limits live and how it is counted.
//
// Each workload gets `stratoswarm/<node>/<workload>` under every controller
// hierarchy it needs (v1: /sys/fs/cgroup/<controller>/...; v2: the unified
// tree, with the controllers enabled in each parent's cgroup.subtree_control).
// Files are written with openat() on the workload's directory fd, so a
// renamed or removed path cannot redirect a write. A write the kernel refuses
// with ENOENT/EPERM is explained by naming the missing controller (read from
// cgroup.controllers under v2).
//
// Backends:
//   cgroupfs  v1 or v2, real kernel or (create_files) a fake tree of plain
//             files in a temp directory, for tests;
//   null      no cgroups: refuses limits, reports no stats (nodes without root).
//
// Choice of libcgroup: it is used for what it does well, finding each v1
// controller's mount point (which differs between distributions, e.g.
// cpu,cpuacct co-mounted). It is not used for writing limits: libcgroup
// 2.0.2 knows no v1<->v2 name translation, and its cgroup_create_cgroup()
// does a dozen allocations and a write per inherited file, which would
// cost most of the 1 ms spawn budget.
//
// Thread safety: a backend may be used from several threads (it holds no
// mutable state after construction). A WorkloadCgroup belongs to one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/status.h"
#include "swarmlet/cgroup_mode.h"
#include "swarmlet/executor/limits.h"

namespace swarmlet::executor {

// Counters read from the workload's cgroup. Zero where the layout lacks one.
struct CgroupStats {
  std::uint64_t cpu_usage_ns = 0;    // v1 cpuacct.usage, v2 cpu.stat usage_usec
  std::uint64_t memory_current = 0;  // v1 memory.usage_in_bytes, v2 memory.current
  std::uint64_t memory_peak = 0;     // v1 memory.max_usage_in_bytes, v2 memory.peak
  std::uint64_t oom_kills = 0;       // v1 memory.oom_control oom_kill, v2 memory.events oom_kill
};

// One workload's cgroup directories (one per v1 hierarchy, one under v2).
// Destroying the object closes its fds but leaves the cgroup: a workload
// outlives a swarmlet restart. Remove() ends it.
class WorkloadCgroup {
 public:
  virtual ~WorkloadCgroup() = default;

  // The workload's directories, space-separated, for messages.
  virtual std::string Describe() const = 0;
  // cgroup.procs of each directory, open O_WRONLY|O_CLOEXEC: a child writes
  // "0" to each to join before exec. Owned by this object.
  virtual const std::vector<int>& procs_fds() const = 0;
  virtual mesh::Result<CgroupStats> ReadStats() const = 0;
  // Processes still in the cgroup.
  virtual mesh::Result<std::vector<pid_t>> Pids() const = 0;
  // SIGKILLs whatever is left, waits up to `kill_wait` for the cgroup to
  // empty and removes the directories. The node's parents stay (see
  // CgroupBackend::RemoveNodeIfUnused). Idempotent.
  virtual mesh::Status Remove(std::chrono::milliseconds kill_wait) = 0;
};

class CgroupBackend {
 public:
  virtual ~CgroupBackend() = default;

  // "cgroupfs v1", "cgroupfs v2", "null".
  virtual std::string name() const = 0;
  // Creates the workload's directories and writes `limits` into them. On
  // failure nothing is left behind. AlreadyExists when the cgroup exists.
  virtual mesh::Result<std::unique_ptr<WorkloadCgroup>> Create(std::string_view node,
                                                               std::string_view workload,
                                                               const ResourceLimits& limits) = 0;
  // Reopens an existing workload cgroup (re-adoption after a restart).
  // NotFound when there is none.
  virtual mesh::Result<std::unique_ptr<WorkloadCgroup>> Open(std::string_view node,
                                                             std::string_view workload,
                                                             const ResourceLimits& limits) = 0;
  // Removes stratoswarm/<node> and stratoswarm in every hierarchy unless a
  // workload still uses them. The executor calls it when its last workload
  // ends: keeping the parents while workloads run saves two mkdir and two
  // rmdir per hierarchy per workload.
  virtual void RemoveNodeIfUnused(std::string_view node) = 0;
  // Names of the workload cgroups under stratoswarm/<node> (for orphans).
  virtual std::vector<std::string> List(std::string_view node) const = 0;
};

struct CgroupFsOptions {
  CgroupMode mode = CgroupMode::kUnified;  // kHybrid/kLegacy = v1, kUnified = v2
  std::string root = "/sys/fs/cgroup";
  // v1 only: look up controller mount points with libcgroup instead of
  // assuming <root>/<controller>. Only meaningful for the real /sys/fs/cgroup.
  bool use_libcgroup_mounts = false;
  // Tests on a fake tree: open files with O_CREAT (a plain directory has no
  // kernel-made files) and delete them before rmdir.
  bool create_files = false;
  // v2: where stratoswarm/ goes below `root` ("" = the root itself, or e.g.
  // "/system.slice/swarmlet.service"): see ClaimCgroupHome.
  std::string home;
};

// Where a process's workload cgroups go under cgroup v2 (issue 16). A
// service manager that delegates a subtree (systemd Delegate=yes) owns
// everything outside it, and a cgroup with processes cannot give its
// children controllers ("no internal processes"). So:
//   - in <delegated>/supervisor (systemd >= 254 with
//     DelegateSubgroup=supervisor): workloads go under <delegated>;
//   - at the root of a cgroup namespace (a container on a cgroup v2 host):
//     every process there moves to /supervisor first, workloads go under
//     the namespace's root;
//   - directly in a delegated cgroup (systemd < 254, e.g. Debian 12 and
//     Raspberry Pi OS bookworm): the old place, <root>/stratoswarm, with a
//     warning: enabling controllers in the unit's own cgroup would make the
//     next start of the unit fail (EBUSY) while workloads outlive the agent;
//   - anywhere else (a shell, the real root cgroup): <root>/stratoswarm.
// `self_cgroup` is /proc/self/cgroup's text. fake_tree: tests.
inline constexpr std::string_view kSupervisorCgroup = "supervisor";
struct CgroupHome {
  std::string path;     // CgroupFsOptions::home
  std::string reason;   // for selftest and logs
  std::string warning;  // non-empty: say it once
};
mesh::Result<CgroupHome> ClaimCgroupHome(const std::string& root, std::string_view self_cgroup,
                                         bool fake_tree = false);

mesh::Result<std::unique_ptr<CgroupBackend>> MakeCgroupFsBackend(CgroupFsOptions options);
std::unique_ptr<CgroupBackend> MakeNullBackend();
// Detects the node's layout (DetectCgroupMode) and returns the matching
// cgroupfs backend; Unsupported for a node without cgroups, PermissionDenied
// when not root (the hierarchies are not writable).
mesh::Result<std::unique_ptr<CgroupBackend>> MakeHostCgroupBackend();

// "a-z A-Z 0-9 . _ -", 1..64 characters, not "." or "..": safe as a path
// component and a cgroup name.
mesh::Status ValidateCgroupName(std::string_view what, std::string_view name);

}  // namespace swarmlet::executor
