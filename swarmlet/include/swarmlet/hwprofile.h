// The node's hardware profile, sent with a join request and shown by
// `stratoswarm node ls`: architecture, board model, cores, memory, GPU, disk
// and cgroup mode.
//
// Every reading goes through a filesystem root (default "/") so tests point it
// at a fake tree. Reads only /proc, /sys and statvfs: no subprocesses, fast
// enough for the join's `hw_profile` phase.
//
// Thread safety: ReadHardwareProfile may be called from any thread.
#pragma once

#include <cstdint>
#include <string>

#include "swarmlet/cgroup_mode.h"

namespace swarmlet {

struct HardwareProfile {
  std::string arch;             // "aarch64", "x86_64" (uname machine)
  std::string model;            // "Raspberry Pi 4 Model B Rev 1.4", DMI product, or "unknown"
  int cores = 0;                // online CPUs
  std::int64_t memory_mb = 0;   // MemTotal
  bool gpu = false;             // an NVIDIA GPU with its driver loaded
  std::string gpu_model;        // "NVIDIA H100 80GB HBM3" when known
  std::int64_t disk_total_mb = 0;  // filesystem holding the state dir
  std::int64_t disk_free_mb = 0;
  CgroupMode cgroup_mode = CgroupMode::kNone;
  bool memory_controller = false;

  bool operator==(const HardwareProfile&) const = default;
};

// `root` prefixes /proc and /sys paths; `state_dir` is where disk space counts.
HardwareProfile ReadHardwareProfile(const std::string& root = "/",
                                    const std::string& state_dir = "/");

// "Hardware profile: aarch64, 4 cores, 3794 MB, gpu=no" (the seed's log line).
std::string HardwareProfileLogLine(const HardwareProfile& profile);

}  // namespace swarmlet
