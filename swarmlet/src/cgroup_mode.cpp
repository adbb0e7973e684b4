#include "swarmlet/cgroup_mode.h"

#include "read_text.h"

#include <linux/magic.h>
#include <sys/vfs.h>

#include <fstream>
#include <sstream>

namespace swarmlet {
namespace {

std::int64_t FsType(const std::string& path) {
  struct statfs st {};
  if (statfs(path.c_str(), &st) != 0) return 0;
  return static_cast<std::int64_t>(st.f_type);
}

}  // namespace

std::optional<bool> MemoryControllerFromProcCgroups(std::string_view proc_cgroups) {
  // "#subsys_name hierarchy num_cgroups enabled", one controller per line.
  std::istringstream lines{std::string(proc_cgroups)};
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string name;
    long hierarchy = 0, count = 0, enabled = 0;
    if (fields >> name >> hierarchy >> count >> enabled && name == "memory") return enabled == 1;
  }
  return std::nullopt;
}

bool MemoryControllerEnabled(const std::string& root) {
  if (auto listed = MemoryControllerFromProcCgroups(internal::ReadText("/proc/cgroups"))) return *listed;
  std::istringstream controllers(internal::ReadText(root + "/cgroup.controllers"));
  std::string name;
  while (controllers >> name) {
    if (name == "memory") return true;
  }
  return false;
}

std::string_view CgroupModeName(CgroupMode mode) {
  switch (mode) {
    case CgroupMode::kUnified: return "v2 (unified)";
    case CgroupMode::kHybrid: return "v1 (hybrid, cgroup2 at unified/)";
    case CgroupMode::kLegacy: return "v1 (legacy)";
    case CgroupMode::kNone: return "none (no cgroup filesystem)";
  }
  return "unknown";
}

CgroupMode CgroupModeFromFsTypes(std::int64_t root_type, std::int64_t unified_type,
                                 std::int64_t v1_controller_type) {
  if (root_type == CGROUP2_SUPER_MAGIC) return CgroupMode::kUnified;
  // v1 mounts each controller (type cgroup) under a tmpfs root.
  if (root_type == TMPFS_MAGIC && v1_controller_type == CGROUP_SUPER_MAGIC) {
    return unified_type == CGROUP2_SUPER_MAGIC ? CgroupMode::kHybrid : CgroupMode::kLegacy;
  }
  return CgroupMode::kNone;
}

CgroupMode DetectCgroupMode(const std::string& root) {
  std::int64_t controller = FsType(root + "/memory");
  if (controller == 0) controller = FsType(root + "/cpu");
  return CgroupModeFromFsTypes(FsType(root), FsType(root + "/unified"), controller);
}

}  // namespace swarmlet
