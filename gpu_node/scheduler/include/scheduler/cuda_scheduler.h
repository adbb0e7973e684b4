// CudaScheduler: the same greedy placement as CpuScheduler (see scheduler.h),
// with all workloads x all nodes scored on the GPU in one kernel launch: one
// thread block walks the replicas in order, its threads score the nodes in
// parallel and a block-wide max picks the node (the score key embeds the
// tie-break, so the result is the CPU one bit for bit).
//
// Create() fails with Unavailable when the build has no CUDA
// (STRATOSWARM_CUDA=OFF) or the machine has no usable device; callers fall
// back to CpuScheduler.
//
// Thread safety: as Scheduler; device buffers are owned by the instance.
#pragma once

#include <memory>

#include "mesh/status.h"
#include "scheduler/scheduler.h"

namespace scheduler {

class CudaScheduler final : public Scheduler {
 public:
  static mesh::Result<std::unique_ptr<CudaScheduler>> Create();
  ~CudaScheduler() override;

  std::string_view Name() const override { return "cuda"; }

 protected:
  mesh::Status Place(internal::Plan& plan, std::span<std::int32_t> out) override;

 private:
  struct Device;
  explicit CudaScheduler(std::unique_ptr<Device> device);
  std::unique_ptr<Device> device_;
};

// Whether this build contains the CUDA implementation at all.
bool CudaCompiledIn();

}  // namespace scheduler
