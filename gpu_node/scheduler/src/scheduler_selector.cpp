#include "scheduler/scheduler_selector.h"

namespace scheduler {

SchedulerSelector::SchedulerSelector(std::uint64_t crossover_pairs)
    : crossover_pairs_(crossover_pairs) {
  if (crossover_pairs_ == 0) {
    cuda_unavailable_ = "no crossover configured";
    return;
  }
  auto cuda = CudaScheduler::Create();
  if (cuda.ok()) {
    cuda_ = std::move(*cuda);
  } else {
    cuda_unavailable_ = cuda.status().ToString();
  }
}

Scheduler& SchedulerSelector::For(std::uint64_t replicas, std::uint64_t nodes) {
  if (cuda_ != nullptr && replicas * nodes >= crossover_pairs_) return *cuda_;
  return cpu_;
}

}  // namespace scheduler
