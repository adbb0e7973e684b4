#include "swarmlet/cgroup_mode.h"

#include <linux/magic.h>

#include <catch2/catch.hpp>

using swarmlet::CgroupMode;
using swarmlet::CgroupModeFromFsTypes;

TEST_CASE("cgroup mode: decided from filesystem types", "[swarmlet][cgroup]") {
  // Pi OS / systemd hosts: cgroup2 at the root.
  CHECK(CgroupModeFromFsTypes(CGROUP2_SUPER_MAGIC, 0, 0) == CgroupMode::kUnified);
  // This build machine: tmpfs root, v1 controllers, empty cgroup2 at unified/.
  CHECK(CgroupModeFromFsTypes(TMPFS_MAGIC, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC) ==
        CgroupMode::kHybrid);
  CHECK(CgroupModeFromFsTypes(TMPFS_MAGIC, 0, CGROUP_SUPER_MAGIC) == CgroupMode::kLegacy);
  // A tmpfs with no controller mounted is not a cgroup hierarchy.
  CHECK(CgroupModeFromFsTypes(TMPFS_MAGIC, 0, 0) == CgroupMode::kNone);
  CHECK(CgroupModeFromFsTypes(0, 0, 0) == CgroupMode::kNone);
}

TEST_CASE("cgroup mode: a path without cgroups detects as none", "[swarmlet][cgroup]") {
  CHECK(swarmlet::DetectCgroupMode("/nonexistent-stratoswarm-test") == CgroupMode::kNone);
}

TEST_CASE("cgroup memory controller: read from /proc/cgroups", "[swarmlet][cgroup]") {
  const char* enabled =
      "#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
      "cpuset\t3\t1\t1\ncpu\t1\t1\t1\nmemory\t4\t43\t1\npids\t8\t1\t1\n";
  // Raspberry Pi OS without cgroup_enable=memory on the kernel command line.
  const char* pi_default =
      "#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
      "cpuset\t0\t60\t1\ncpu\t0\t60\t1\nmemory\t0\t60\t0\npids\t0\t60\t1\n";
  CHECK(swarmlet::MemoryControllerFromProcCgroups(enabled) == std::optional<bool>(true));
  CHECK(swarmlet::MemoryControllerFromProcCgroups(pi_default) == std::optional<bool>(false));
  CHECK_FALSE(swarmlet::MemoryControllerFromProcCgroups("#subsys_name\ncpu\t1\t1\t1\n"));
  CHECK_FALSE(swarmlet::MemoryControllerFromProcCgroups("garbage"));
  CHECK_THAT(std::string(swarmlet::kMemoryControllerHint), Catch::Contains("cgroup_enable=memory"));
}
