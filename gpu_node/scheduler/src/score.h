// The placement score shared by the CPU and CUDA engines: one definition,
// compiled for both, so the two cannot drift apart (see scheduler.h for the
// rules). A node's score is a 64-bit key; the best node is the maximum key
// and 0 means "does not fit". Layout, most significant first:
//   [63:37] spread   kSpreadCap - replicas of this workload already there
//   [36]    gpu_pref 1 unless a GPU-less workload would land on a GPU node
//   [35:24] balance  cpu + memory free fraction after placing (0..2048)
//   [23:0]  index    kIndexMask - node index (lowest index wins ties)
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define SCHED_HD __host__ __device__ __forceinline__
#else
#define SCHED_HD inline
#endif

namespace scheduler::internal {

inline constexpr std::uint64_t kIndexMask = (std::uint64_t{1} << 24) - 1;
inline constexpr std::uint32_t kMaxNodes = std::uint32_t{1} << 24;
inline constexpr unsigned kBalanceShift = 24;
inline constexpr unsigned kGpuPrefShift = 36;
inline constexpr unsigned kSpreadShift = 37;
inline constexpr std::uint32_t kSpreadCap = (std::uint32_t{1} << 27) - 1;
// Fractions are free * floor(2^62 / capacity) >> 52: 0..1024 without division
// in the hot path and without overflow (free <= capacity).
inline constexpr unsigned kRecipShift = 62;
inline constexpr unsigned kFractionShift = 52;

// A node's mutable view during one Schedule call (40 bytes).
struct NodeSlot {
  std::uint64_t free_cpu;
  std::uint64_t free_mem;
  std::uint64_t recip_cpu;  // floor(2^62 / capacity), 0 for no capacity
  std::uint64_t recip_mem;
  std::uint32_t free_gpu;
  std::uint32_t has_gpu;  // capacity has GPUs
};

// One workload of the batch, compiled (32 bytes).
struct WorkItem {
  std::uint64_t cpu;
  std::uint64_t mem;
  std::uint32_t gpu;
  std::uint32_t replicas;
  std::uint32_t set;         // row of Plan::masks
  std::uint32_t first_step;  // index of replica 0 in the output
};

SCHED_HD std::uint64_t Fraction(std::uint64_t free_after, std::uint64_t recip) {
  return (free_after * recip) >> kFractionShift;
}

// `placed_here`: replicas of this workload already placed on the node.
SCHED_HD std::uint64_t ScoreKey(const NodeSlot& n, const WorkItem& w, std::uint32_t placed_here,
                                std::uint32_t index) {
  if (n.free_cpu < w.cpu || n.free_mem < w.mem || n.free_gpu < w.gpu) return 0;
  const std::uint64_t balance =
      Fraction(n.free_cpu - w.cpu, n.recip_cpu) + Fraction(n.free_mem - w.mem, n.recip_mem);
  const std::uint64_t gpu_pref = (w.gpu == 0 && n.has_gpu != 0) ? 0 : 1;
  const std::uint64_t spread =
      kSpreadCap - (placed_here < kSpreadCap ? placed_here : kSpreadCap - 1);  // >= 1
  return (spread << kSpreadShift) | (gpu_pref << kGpuPrefShift) | (balance << kBalanceShift) |
         (kIndexMask - index);
}

SCHED_HD std::uint32_t KeyIndex(std::uint64_t key) {
  return static_cast<std::uint32_t>(kIndexMask - (key & kIndexMask));
}

SCHED_HD void Commit(NodeSlot& n, const WorkItem& w) {
  n.free_cpu -= w.cpu;
  n.free_mem -= w.mem;
  n.free_gpu -= w.gpu;
}

}  // namespace scheduler::internal
