// SchedulerSelector: picks the CPU or the CUDA scheduler for a batch by its
// size (replicas x nodes), so the GPU is used only above a crossover that
// sched_bench measured on the machine, never a guessed one.
//
// Thread safety: as Scheduler: one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "scheduler/cuda_scheduler.h"
#include "scheduler/scheduler.h"

namespace scheduler {

class SchedulerSelector {
 public:
  // `crossover_pairs`: replicas x nodes from which CudaScheduler is used when
  // a device is present; 0 means never (the default until a crossover has
  // been measured on the deployment's GPU; see docs/PERFORMANCE.md).
  explicit SchedulerSelector(std::uint64_t crossover_pairs = 0);

  Scheduler& For(std::uint64_t replicas, std::uint64_t nodes);
  bool has_cuda() const { return cuda_ != nullptr; }
  // Why there is no CUDA scheduler (empty when there is one).
  const std::string& cuda_unavailable() const { return cuda_unavailable_; }

 private:
  std::uint64_t crossover_pairs_;
  CpuScheduler cpu_;
  std::unique_ptr<CudaScheduler> cuda_;
  std::string cuda_unavailable_;
};

}  // namespace scheduler
