// The local workload executor: runs commands under cgroup limits, captures
// their output, reports how they ended, restarts them by policy and finds
// them again after the swarmlet restarts.
//
// Lifecycle of a workload:
//   Start()  -> cgroup created + limits written -> vfork/exec   (kRunning)
//   ends     -> exit code / signal / OOM recorded
//            -> on-failure (a failed run), always / unless-stopped (any run):
//               kBackoff until clock >= next start, respawn
//            -> otherwise kExited, cgroup removed (stats kept in the record)
//   Remove() -> record deleted (the log files stay for `logs`)
//
// State: <state_dir>/workloads/<id>.msgpack, one record per workload,
// rewritten atomically (temp + rename, no fsync: see Persist) on every
// transition. A new
// Executor on the same directory re-adopts: a running record whose pid
// still has the recorded start time (/proc/<pid>/stat field 22) is watched
// again; one whose process died meanwhile is reported as ended (code
// unknown) and handled by its restart policy, at once (not after a
// backoff: the node restarted, the workload did not fail); after a reboot
// (another /proc/sys/kernel/random/boot_id) an `always` workload that was
// stopped starts again too, as Docker does; a cgroup under
// stratoswarm/<node>/ without a live record is an orphan and is killed and
// removed. An flock on <state_dir>/lock keeps two executors off one
// directory, so nothing is adopted twice.
//
// Destroying an Executor leaves its workloads running (it only closes fds)
// and removes the node's cgroup parents (stratoswarm/<node>) when no
// workload is left in them; while it lives they stay, so a workload's
// cycle creates and removes only its own directory.
//
// Thread safety: none; one thread drives an Executor (the swarmlet's event
// loop). Time for backoff comes from the injected mesh::Clock; waiting for a
// real process to end uses real time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/clock.h"
#include "mesh/status.h"
#include "swarmlet/executor/cgroup.h"
#include "swarmlet/executor/images.h"
#include "swarmlet/executor/limits.h"
#include "swarmlet/executor/logs.h"
#include "swarmlet/executor/spawn.h"

namespace swarmlet::executor {

// Docker's policies: on-failure restarts a run that failed; always and
// unless-stopped restart every run that ends, unless Stop() ended it; after
// a reboot of the node, always also restarts a workload that was stopped.
enum class RestartMode : std::uint8_t { kNever = 0, kOnFailure = 1, kAlways = 2, kUnlessStopped = 3 };

struct RestartPolicy {
  RestartMode mode = RestartMode::kNever;
  int max_restarts = 0;                                     // 0 = no limit
  std::chrono::milliseconds initial_backoff{1000};          // before the first restart
  std::chrono::milliseconds max_backoff{60'000};            // the doubling stops here
  bool operator==(const RestartPolicy&) const = default;
};

// Delay before restart number `restarts_done + 1`: initial * 2^restarts_done,
// capped at max_backoff (1 s, 2 s, 4 s, ... 60 s by default). Pure.
std::chrono::milliseconds BackoffDelay(const RestartPolicy& policy, int restarts_done);
// "never", "on-failure", "on-failure:5" (at most 5 restarts), "always",
// "unless-stopped".
mesh::Result<RestartPolicy> ParseRestartPolicy(std::string_view text);

struct WorkloadSpec {
  // Empty: a random 12-hex id; else must be 12 lowercase hex digits and not
  // in use on this executor (AlreadyExists). The GPU peer picks ids so that
  // a resent start finds the workload it already started.
  std::string id;
  std::string name;               // for people; defaults to the command's basename
  std::vector<std::string> argv;  // the command
  std::vector<std::string> env;   // empty: PATH and HOME defaults
  std::string cwd;                // empty: the swarmlet's
  // An image name (under ExecutorOptions::images_dir) or rootfs path; empty
  // runs on the host. Start() replaces it with the resolved rootfs. See
  // SpawnRequest::rootfs for what an image run gets; /data is
  // <state_dir>/data/<id>.
  std::string image;
  std::vector<std::string> volumes;  // "HOST:PATH" bind mounts; image runs only
  ResourceLimits limits;
  RestartPolicy restart;
  // A cluster image (swarmlet::ImageCache): its digest, kept with the
  // record so that a restarted swarmlet takes its reference again. The
  // caller mounts it and passes the workload's root in `image`.
  std::string image_digest;
  std::int64_t uid = -1;       // image runs: -1 root
  std::int64_t gid = -1;
  std::vector<std::uint32_t> groups;
  int stop_signal = 0;         // Stop()/RequestStop() send it first; 0: SIGTERM
  // Image runs are confined (security.h: capabilities, no_new_privs,
  // seccomp) and a local image gets a per-run writable layer over it;
  // privileged opts out of all of that (full root in the namespaces, the
  // image directory written in place). Host runs are never confined.
  bool privileged = false;
};

enum class WorkloadState : std::uint8_t { kRunning = 0, kBackoff = 1, kExited = 2 };
std::string_view WorkloadStateName(WorkloadState state);

struct WorkloadInfo {
  std::string id;  // 12 hex digits; also the cgroup and log file name
  WorkloadSpec spec;
  WorkloadState state = WorkloadState::kRunning;
  pid_t pid = 0;                  // of the current run; 0 when not running
  std::uint64_t start_time = 0;   // /proc/<pid>/stat starttime of that run
  int restarts = 0;
  std::optional<ExitStatus> last_exit;
  std::string log_path;
  std::int64_t started_wall_ns = 0;  // first start
  CgroupStats stats;                 // at the last Poll (final ones once exited)
  bool stop_requested = false;       // Stop() ended it (persisted): it is not restarted
};

struct ExecutorOptions {
  std::string state_dir = "/var/lib/stratoswarm";
  std::string node_name = "local";
  std::string images_dir = "/var/lib/stratoswarm/images";
  std::unique_ptr<CgroupBackend> cgroups;  // required
  const mesh::Clock* clock = nullptr;      // nullptr: SystemClock
  LogConfig log;
  int node_cpus = 0;  // 0: the CPUs this process may run on
  std::chrono::milliseconds stop_grace{2000};  // SIGTERM -> SIGKILL in Stop()
  // This boot (/proc/sys/kernel/random/boot_id when empty); tests set it to
  // play a reboot.
  std::string boot_id;
};

class Executor {
 public:
  // Creates <state_dir> if needed, locks it and re-adopts its workloads.
  static mesh::Result<std::unique_ptr<Executor>> Open(ExecutorOptions options);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Validates and starts a workload; returns its id (spec.id when given)
  // once it has exec'd.
  mesh::Result<std::string> Start(WorkloadSpec spec);
  // Without blocking: reaps ended workloads, applies restart policies whose
  // backoff has passed, rotates logs, refreshes stats.
  mesh::Status Poll();
  // Blocks until workload `id` has ended for good (kExited), at most
  // `timeout` (Timeout error then). Keeps rotating its log meanwhile.
  mesh::Result<WorkloadInfo> Wait(std::string_view id,
                                  std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // SIGTERM, then SIGKILL after stop_grace; no restart afterwards.
  mesh::Status Stop(std::string_view id);
  // The same without blocking (for event loops): SIGTERM now, no restart
  // afterwards; Poll() sends SIGKILL once stop_grace has passed. Nothing to
  // do for a workload that has ended.
  mesh::Status RequestStop(std::string_view id);
  // Stops if needed, removes the cgroup and the record.
  mesh::Status Remove(std::string_view id);

  mesh::Result<WorkloadInfo> Get(std::string_view id) const;
  std::vector<WorkloadInfo> List() const;
  const CgroupBackend& cgroups() const;

 private:
  struct Impl;
  explicit Executor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace swarmlet::executor
