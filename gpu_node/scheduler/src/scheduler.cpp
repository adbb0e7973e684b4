#include "scheduler/scheduler.h"

#include <bit>

#include "plan.h"

namespace scheduler {

Scheduler::Scheduler() : plan_(std::make_unique<internal::Plan>()) {}
Scheduler::~Scheduler() = default;

mesh::Result<ScheduleResult> Scheduler::Schedule(std::span<const NodeInfo> nodes,
                                                 std::span<const WorkloadSpec> workloads) {
  MESH_RETURN_IF_ERROR(internal::BuildPlan(nodes, workloads, plan_.get()));
  std::vector<std::int32_t> out(plan_->steps, kPending);
  MESH_RETURN_IF_ERROR(Place(*plan_, out));
  return internal::Finish(*plan_, nodes, workloads, out);
}

namespace {

// One replica: the best key over the set's nodes (0: nothing fits).
// kSpread is false for single-replica workloads, which skip the spread lookup.
template <bool kSpread>
std::uint64_t BestKey(const internal::WorkItem& item, const std::uint64_t* mask,
                      std::uint32_t words, const internal::NodeSlot* slots,
                      const std::uint32_t* stamp, const std::uint32_t* count,
                      std::uint32_t my_stamp) {
  std::uint64_t best = 0;
  for (std::uint32_t k = 0; k < words; ++k) {
    std::uint64_t bits = mask[k];
    while (bits != 0) {
      const std::uint32_t n = k * 64 + static_cast<std::uint32_t>(std::countr_zero(bits));
      bits &= bits - 1;
      std::uint32_t here = 0;
      if constexpr (kSpread) here = stamp[n] == my_stamp ? count[n] : 0;
      const std::uint64_t key = internal::ScoreKey(slots[n], item, here, n);
      best = key > best ? key : best;
    }
  }
  return best;
}

}  // namespace

mesh::Status CpuScheduler::Place(internal::Plan& plan, std::span<std::int32_t> out) {
  plan.engine_nodes.assign(plan.nodes.begin(), plan.nodes.end());
  plan.engine_stamp.assign(plan.num_nodes, 0);
  plan.engine_count.resize(plan.num_nodes);
  internal::NodeSlot* slots = plan.engine_nodes.data();
  std::uint32_t* stamp = plan.engine_stamp.data();
  std::uint32_t* count = plan.engine_count.data();
  const std::uint32_t words = plan.words;

  for (std::size_t w = 0; w < plan.work.size(); ++w) {
    const internal::WorkItem& item = plan.work[w];
    const std::uint64_t* mask = plan.masks.data() + static_cast<std::size_t>(item.set) * words;
    std::int32_t* o = out.data() + item.first_step;
    const auto my_stamp = static_cast<std::uint32_t>(w + 1);
    for (std::uint32_t r = 0; r < item.replicas; ++r) {
      const std::uint64_t best =
          item.replicas == 1
              ? BestKey<false>(item, mask, words, slots, stamp, count, my_stamp)
              : BestKey<true>(item, mask, words, slots, stamp, count, my_stamp);
      if (best == 0) break;  // nothing was freed: the rest stay kPending too
      const std::uint32_t n = internal::KeyIndex(best);
      internal::Commit(slots[n], item);
      o[r] = static_cast<std::int32_t>(n);
      if (stamp[n] != my_stamp) {
        stamp[n] = my_stamp;
        count[n] = 0;
      }
      ++count[n];
    }
  }
  return mesh::Status::Ok();
}

}  // namespace scheduler
