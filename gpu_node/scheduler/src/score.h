// The placement score shared by the CPU and CUDA engines: one definition,
// compiled for both, so the two cannot drift apart (see scheduler.h for the
// rules). A node's score is a 64-bit key; the best node is the maximum key
// and 0 means "does not fit". Layout, most significant first:
//   [63:38] spread   kSpreadCap - replicas of this workload already there
//   [37]    cool     1 unless the node reports throttling (docs/node_health.md)
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
inline constexpr unsigned kCoolShift = 37;
inline constexpr unsigned kSpreadShift = 38;
inline constexpr std::uint32_t kSpreadCap = (std::uint32_t{1} << 26) - 1;
// Fractions are free * floor(2^62 / capacity) >> 52: 0..1024 without division
// in the hot path and without overflow (free <= capacity).
inline constexpr unsigned kRecipShift = 62;
inline constexpr unsigned kFractionShift = 52;
// Capacities, allocations and requests are clamped to this (4 EiB, 4.6e15
// cores) so that differences of two quantities never reach bit 63.
inline constexpr std::uint64_t kMaxQuantity = (std::uint64_t{1} << 62) - 1;

// One workload of the batch, compiled (48 bytes).
struct WorkItem {
  std::uint64_t cpu;
  std::uint64_t mem;
  std::uint64_t gpu;
  std::uint32_t replicas;
  std::uint32_t set;         // row of Plan::masks
  std::uint64_t first_step;  // index of replica 0 in the output
  std::uint64_t pref;        // gpu_pref bit forced on for GPU workloads
};

// The nodes as parallel arrays (one entry per node, padded to whole mask
// words with nodes that fit nothing). free_* change as replicas are placed;
// the rest is fixed for the call.
struct NodeArrays {
  std::uint64_t* free_cpu;
  std::uint64_t* free_mem;
  std::uint64_t* free_gpu;
  const std::uint64_t* recip_cpu;  // floor(2^62 / capacity), 0 for no capacity
  const std::uint64_t* recip_mem;
  // The key bits fixed per node: cool (1 unless throttling), gpu_pref as a
  // GPU-less workload sees it (1 when the node has no GPU) and the index bits.
  const std::uint64_t* base;
};

SCHED_HD std::uint64_t NodeBase(bool has_gpu, bool throttled, std::uint32_t index) {
  return (std::uint64_t{throttled ? 0u : 1u} << kCoolShift) |
         (std::uint64_t{has_gpu ? 0u : 1u} << kGpuPrefShift) | (kIndexMask - index);
}

SCHED_HD std::uint64_t WorkPref(std::uint32_t gpus) {
  return std::uint64_t{gpus > 0 ? 1u : 0u} << kGpuPrefShift;
}

// The spread bits for a node already holding `placed_here` replicas of the
// workload being placed.
SCHED_HD std::uint64_t SpreadBits(std::uint32_t placed_here) {
  return std::uint64_t{kSpreadCap - (placed_here < kSpreadCap ? placed_here : kSpreadCap - 1)}
         << kSpreadShift;  // spread >= 1, so a fitting node's key is never 0
}

SCHED_HD std::uint64_t Fraction(std::uint64_t free_after, std::uint64_t recip) {
  return (free_after * recip) >> kFractionShift;
}

// The key of node `n` for one replica of `w`, 0 when it does not fit.
// Branch-free: quantities stay below 2^62 (Plan clamps them), so `free -
// request` has its top bit set exactly when the request does not fit; the
// wrapped (unsigned, defined) values of such a node only feed a key that is
// then masked to 0. The AVX-512 path in scheduler.cpp is this, 8 nodes wide.
SCHED_HD std::uint64_t ScoreKey(const NodeArrays& a, std::uint32_t n, const WorkItem& w,
                                std::uint64_t spread_bits) {
  const std::uint64_t cpu_after = a.free_cpu[n] - w.cpu;
  const std::uint64_t mem_after = a.free_mem[n] - w.mem;
  const std::uint64_t gpu_after = a.free_gpu[n] - w.gpu;
  const std::uint64_t short_of = (cpu_after | mem_after | gpu_after) >> 63;  // 1: does not fit
  const std::uint64_t balance =
      Fraction(cpu_after, a.recip_cpu[n]) + Fraction(mem_after, a.recip_mem[n]);
  const std::uint64_t key = a.base[n] | w.pref | spread_bits | (balance << kBalanceShift);
  return key & (short_of - 1);
}

SCHED_HD std::uint32_t KeyIndex(std::uint64_t key) {
  return static_cast<std::uint32_t>(kIndexMask - (key & kIndexMask));
}

SCHED_HD void Commit(const NodeArrays& a, std::uint32_t n, const WorkItem& w) {
  a.free_cpu[n] -= w.cpu;
  a.free_mem[n] -= w.mem;
  a.free_gpu[n] -= w.gpu;
}

}  // namespace scheduler::internal
