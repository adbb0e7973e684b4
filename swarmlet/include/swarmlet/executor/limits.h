// Resource limits of one workload and their translation into cgroup files.
//
// The user writes `--cpu 0.5 --memory 128M --pids 64 --cpuset 0-1`; the
// executor turns that into (controller, file, value) writes for the layout the
// node runs: v1 (cpu.cfs_quota_us, memory.limit_in_bytes, ...) or v2 (cpu.max,
// memory.max, ...). libcgroup does not translate between the two, so the
// translation lives here as pure functions, tested without a kernel.
//
// Thread safety: plain values and pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/status.h"

namespace swarmlet::executor {

// Period of the CFS bandwidth controller, in microseconds: the kernel default
// and what crun and runc use. Quota = cores * period.
inline constexpr std::int64_t kCpuPeriodUs = 100'000;
// The kernel refuses a quota under 1 ms; 0.01 cores is the smallest limit.
inline constexpr double kMinCpuCores = 0.01;
// Below this a process cannot even exec a shell; smaller asks are typos.
inline constexpr std::uint64_t kMinMemoryBytes = 1024 * 1024;

struct ResourceLimits {
  std::optional<double> cpu_cores;            // 0.5 = half of one core
  std::optional<std::uint64_t> memory_bytes;  // hard limit, swap off
  std::optional<std::int64_t> pids_max;       // processes + threads
  std::optional<std::string> cpuset;          // "0-1,3": CPUs the workload may use

  bool empty() const { return !cpu_cores && !memory_bytes && !pids_max && !cpuset; }
  bool operator==(const ResourceLimits&) const = default;
};

// "128M", "1G", "512Ki", "64KB", "1.5G", "4096" (bytes). K/Ki/KB all mean
// 1024 (as in docker); case-insensitive. InvalidArgument on junk or overflow.
mesh::Result<std::uint64_t> ParseMemorySize(std::string_view text);
// "0.5", "2", or Kubernetes-style millicores "500m".
mesh::Result<double> ParseCpuCores(std::string_view text);
// A positive integer.
mesh::Result<std::int64_t> ParsePidsMax(std::string_view text);
// "0-3,5": ascending ranges of CPU numbers.
mesh::Status ValidateCpuset(std::string_view text, int node_cpus);

// Rejects what no kernel could honour: memory below 1 MiB, cpu <= 0 or above
// the node's `node_cpus`, pids < 1, a cpuset naming CPUs the node lacks.
mesh::Status ValidateLimits(const ResourceLimits& limits, int node_cpus);

// The CPUs this process may run on (sched_getaffinity), the bound for --cpu.
int NodeCpuCount();

// Human form for logs and `ps`: "cpu=0.5 memory=128M pids=64".
std::string FormatLimits(const ResourceLimits& limits);
std::string FormatBytes(std::uint64_t bytes);

// One write into a cgroup: <controller's directory>/<file> = value.
// `controller` is the v1 hierarchy holding the file; under v2 it names the
// controller that must be enabled in the parent's cgroup.subtree_control.
struct CgroupWrite {
  std::string controller;
  std::string file;
  std::string value;
  bool operator==(const CgroupWrite&) const = default;
};

// What the v1 memory controller offers for keeping a workload out of swap.
enum class V1SwapControl {
  kMemsw,       // memory.memsw.limit_in_bytes exists (swap accounting on): memsw = limit
  kSwappiness,  // only memory.swappiness: 0 keeps anonymous memory out of swap
  kNone,        // neither (tests, odd kernels): no swap setting
};

// Writes in the order the kernel needs them (memory.limit_in_bytes before
// memsw, which must stay >= it; cpuset.cpus/mems before any task joins).
// `cpuset_mems` is copied from the parent (v1 requires both to be set).
std::vector<CgroupWrite> TranslateV1(const ResourceLimits& limits, V1SwapControl swap,
                                     std::string_view cpuset_mems = "0");
std::vector<CgroupWrite> TranslateV2(const ResourceLimits& limits);

// The controllers a workload needs for `limits` (v1 hierarchies or v2
// controller names). v1 adds cpuacct always, for stats; both add memory for
// stats and OOM reporting when the node has it (`memory_available`), and
// need it only for a memory limit: a Pi booted without cgroup_enable=memory
// still runs workloads that ask for no memory limit (issue 16).
std::vector<std::string> V1Controllers(const ResourceLimits& limits, bool memory_available = true);
std::vector<std::string> V2Controllers(const ResourceLimits& limits, bool memory_available = true);

}  // namespace swarmlet::executor
