// Which cgroup layout the node runs: detected once with statfs, like crun.
//
//   unified  /sys/fs/cgroup is cgroup2 (Raspberry Pi OS, Debian 12 on systemd hosts)
//   hybrid   v1 controllers under /sys/fs/cgroup/<ctrl>, an empty cgroup2 at .../unified
//   legacy   v1 only
//   none     no cgroup filesystem (a container without --privileged, a chroot)
//
// Thread safety: DetectCgroupMode() may be called from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace swarmlet {

enum class CgroupMode { kUnified, kHybrid, kLegacy, kNone };

std::string_view CgroupModeName(CgroupMode mode);

// The decision itself, from the statfs f_type of the cgroup root, of
// <root>/unified and of a v1 controller mount (<root>/memory, else <root>/cpu);
// 0 where the path cannot be statted. Pure, for tests.
CgroupMode CgroupModeFromFsTypes(std::int64_t root_type, std::int64_t unified_type,
                                 std::int64_t v1_controller_type);

// statfs on `root`, `root`/unified and `root`/memory (or `root`/cpu).
CgroupMode DetectCgroupMode(const std::string& root = "/sys/fs/cgroup");

// Raspberry Pi OS boots with the memory controller disabled unless the kernel
// command line enables it (k3s users hit the same wall); memory limits and OOM
// reporting need it. This is the message users get when it is missing.
inline constexpr std::string_view kMemoryControllerHint =
    "the cgroup memory controller is disabled, so memory limits cannot work: add "
    "'cgroup_enable=memory cgroup_memory=1' to the kernel command line "
    "(/boot/firmware/cmdline.txt on Raspberry Pi OS) and reboot";

// Whether /proc/cgroups lists the memory controller as enabled; nullopt when
// the text has no memory line. Pure, for tests.
std::optional<bool> MemoryControllerFromProcCgroups(std::string_view proc_cgroups);

// Reads /proc/cgroups, falling back to <root>/cgroup.controllers on cgroup v2.
bool MemoryControllerEnabled(const std::string& root = "/sys/fs/cgroup");

}  // namespace swarmlet
