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
