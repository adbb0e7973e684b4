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

}  // namespace swarmlet
