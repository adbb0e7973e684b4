// CudaScheduler in a build without CUDA (STRATOSWARM_CUDA=OFF or no nvcc):
// Create() always reports Unavailable so callers take the CPU path.
#include "plan.h"
#include "scheduler/cuda_scheduler.h"

namespace scheduler {

struct CudaScheduler::Device {};

bool CudaCompiledIn() { return false; }

mesh::Result<std::unique_ptr<CudaScheduler>> CudaScheduler::Create() {
  return mesh::Status::Unavailable("cuda scheduler", "built without CUDA (STRATOSWARM_CUDA=OFF)");
}

CudaScheduler::CudaScheduler(std::unique_ptr<Device> device) : device_(std::move(device)) {}
CudaScheduler::~CudaScheduler() = default;

mesh::Status CudaScheduler::Place(internal::Plan&, std::span<std::int32_t>) {
  return mesh::Status::Unavailable("cuda scheduler", "built without CUDA");
}

}  // namespace scheduler
