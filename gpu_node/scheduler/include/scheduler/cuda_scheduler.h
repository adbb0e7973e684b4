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

// The CUDA kernel's algorithm run on the host, thread by thread: the same
// per-thread code (src/greedy_block.h), with the warp shuffles and barriers
// replayed in order. In every build, device or not; the scheduler tests run
// their cases against it and compare it with CpuScheduler on random
// clusters, so the kernel's arithmetic and bookkeeping are checked without a
// GPU. Far slower than either real engine: a test reference, not a path.
// Not final: tests derive fakes of a device scheduler from it.
class CudaHostTwinScheduler : public Scheduler {
 public:
  std::string_view Name() const override { return "cuda-host-twin"; }

 protected:
  mesh::Status Place(internal::Plan& plan, std::span<std::int32_t> out) override;
};

// Whether this build contains the CUDA implementation at all.
bool CudaCompiledIn();

}  // namespace scheduler
