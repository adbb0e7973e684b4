// The CUDA scheduler's block walk, written once for the kernel
// (cuda_scheduler.cu) and for its host twin (greedy_host_twin.cpp), the way
// score.h is shared with the CPU engine: a thread's share of the nodes, the
// block size, and the bookkeeping after the block has agreed on a node. Only
// the warp shuffles and barriers differ: the kernel uses the hardware ones,
// the twin replays them lane by lane, so a bug in this arithmetic shows up in
// the twin's tests against CpuScheduler on any machine.
#pragma once

#include <cstdint>

#include "score.h"

namespace scheduler::internal {

inline constexpr unsigned kGreedyMaxThreads = 1024;
inline constexpr unsigned kWarpSize = 32;

// The block size for `num_nodes` nodes: whole warps, one node per thread, at
// most kGreedyMaxThreads (beyond it a thread owns several nodes).
SCHED_HD unsigned GreedyThreads(std::uint32_t num_nodes) {
  const unsigned threads = ((num_nodes + kWarpSize - 1) / kWarpSize) * kWarpSize;
  return threads > kGreedyMaxThreads ? kGreedyMaxThreads : threads;
}

SCHED_HD std::uint64_t MaxKey(std::uint64_t a, std::uint64_t b) { return a > b ? a : b; }

// Thread `tid`'s best key for one replica of `item` over the nodes it owns
// (n = tid, tid + threads, ...), 0 when none of them fits. `stamp`/`count`
// say how many replicas of workload `my_stamp - 1` each node already holds.
SCHED_HD std::uint64_t LaneBest(const NodeArrays& nodes, const std::uint64_t* mask,
                                std::uint32_t num_nodes, std::uint32_t tid, std::uint32_t threads,
                                const WorkItem& item, const std::uint32_t* stamp,
                                const std::uint32_t* count, std::uint32_t my_stamp) {
  std::uint64_t best = 0;
  for (std::uint32_t n = tid; n < num_nodes; n += threads) {
    if (((mask[n >> 6] >> (n & 63)) & 1) == 0) continue;
    const std::uint32_t here = stamp[n] == my_stamp ? count[n] : 0;
    best = MaxKey(best, ScoreKey(nodes, n, item, SpreadBits(here)));
  }
  return best;
}

// Whether thread `tid` owns node `n` (it alone reads and writes n's entries).
SCHED_HD bool OwnsNode(std::uint32_t n, std::uint32_t tid, std::uint32_t threads) {
  return n % threads == tid;
}

// The owner's bookkeeping once replica `r` of `item` goes to node `n`:
// consume its resources, count the replica for the spread rule, record it.
SCHED_HD void CommitReplica(const NodeArrays& nodes, std::uint32_t n, const WorkItem& item,
                            std::uint32_t r, std::uint32_t my_stamp, std::uint32_t* stamp,
                            std::uint32_t* count, std::int32_t* out) {
  Commit(nodes, n, item);
  if (stamp[n] != my_stamp) {
    stamp[n] = my_stamp;
    count[n] = 0;
  }
  ++count[n];
  out[item.first_step + r] = static_cast<std::int32_t>(n);
}

}  // namespace scheduler::internal
