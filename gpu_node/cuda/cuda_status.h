// CUDA runtime errors as mesh::Status, for the GPU peer's CUDA twins
// (scheduler/src/cuda_scheduler.cu, consensus/src/cuda_verifier.cu): the one
// translation point. No device, an old driver or busy devices are
// Unavailable (the caller falls back to the CPU); anything else is Internal.
// Only included by .cu files.
#pragma once

#include <cuda_runtime.h>

#include <string>
#include <string_view>

#include "mesh/status.h"

namespace gpu_node {

inline mesh::Status CudaStatus(std::string_view op, cudaError_t err) {
  const std::string cause = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver || err == cudaErrorDevicesUnavailable) {
    return mesh::Status::Unavailable(op, cause);
  }
  return mesh::Status::Internal(op, cause);
}

}  // namespace gpu_node

// Returns the Status of a failed CUDA call from the enclosing function.
#define GPU_CUDA_RETURN_IF_ERROR(op, expr)                                     \
  do {                                                                         \
    const cudaError_t gpu_cuda_err_ = (expr);                                  \
    if (gpu_cuda_err_ != cudaSuccess) return ::gpu_node::CudaStatus(op, gpu_cuda_err_); \
  } while (0)
