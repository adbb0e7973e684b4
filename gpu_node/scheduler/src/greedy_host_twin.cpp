// CudaHostTwinScheduler: GreedyKernel (cuda_scheduler.cu) run on the host.
// Each step computes every thread's LaneBest, replays the two levels of
// xor-butterfly warp shuffles lane by lane, and lets the owning thread commit,
// exactly as the kernel's block does between its barriers.
#include <algorithm>
#include <array>
#include <vector>

#include "greedy_block.h"
#include "plan.h"
#include "scheduler/cuda_scheduler.h"

namespace scheduler {
namespace {

using internal::kWarpSize;

// __shfl_xor_sync max over one warp: after the rounds every lane holds the
// warp's maximum.
void ButterflyMax(std::span<std::uint64_t, kWarpSize> lanes) {
  std::array<std::uint64_t, kWarpSize> next{};
  for (unsigned offset = kWarpSize / 2; offset > 0; offset >>= 1) {
    for (unsigned lane = 0; lane < kWarpSize; ++lane) {
      next[lane] = internal::MaxKey(lanes[lane], lanes[lane ^ offset]);
    }
    std::copy(next.begin(), next.end(), lanes.begin());
  }
}

}  // namespace

mesh::Status CudaHostTwinScheduler::Place(internal::Plan& plan, std::span<std::int32_t> out) {
  std::fill(out.begin(), out.end(), kPending);
  if (plan.steps == 0 || plan.num_nodes == 0) return mesh::Status::Ok();
  const internal::NodeArrays nodes = plan.EngineArrays();
  const unsigned threads = internal::GreedyThreads(plan.num_nodes);
  const unsigned warps = threads / kWarpSize;
  std::vector<std::uint32_t> stamp(plan.num_nodes, 0), count(plan.num_nodes, 0);
  std::vector<std::uint64_t> lanes(threads);
  std::array<std::uint64_t, kWarpSize> warp_best{};

  for (std::uint32_t w = 0; w < plan.work.size(); ++w) {
    const internal::WorkItem& item = plan.work[w];
    const std::uint64_t* mask = plan.masks.data() + static_cast<std::size_t>(item.set) * plan.words;
    const std::uint32_t my_stamp = w + 1;
    for (std::uint32_t r = 0; r < item.replicas; ++r) {
      for (std::uint32_t tid = 0; tid < threads; ++tid) {
        lanes[tid] = internal::LaneBest(nodes, mask, plan.num_nodes, tid, threads, item,
                                        stamp.data(), count.data(), my_stamp);
      }
      for (unsigned warp = 0; warp < warps; ++warp) {
        ButterflyMax(
            std::span<std::uint64_t, kWarpSize>(lanes.data() + warp * kWarpSize, kWarpSize));
      }
      for (unsigned lane = 0; lane < kWarpSize; ++lane) {
        warp_best[lane] = lane < warps ? lanes[lane * kWarpSize] : 0;
      }
      ButterflyMax(warp_best);
      const std::uint64_t chosen = warp_best[0];
      if (chosen == 0) break;
      const std::uint32_t n = internal::KeyIndex(chosen);
      for (std::uint32_t tid = 0; tid < threads; ++tid) {
        if (internal::OwnsNode(n, tid, threads)) {
          internal::CommitReplica(nodes, n, item, r, my_stamp, stamp.data(), count.data(),
                                  out.data());
        }
      }
    }
  }
  return mesh::Status::Ok();
}

}  // namespace scheduler
