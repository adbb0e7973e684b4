// CudaScheduler: the greedy placement of scheduler.h as one kernel launch.
//
// One thread block walks the replicas in input order; thread t owns the
// nodes n with n % blockDim.x == t (only it ever reads or writes their
// free entries), scores them with the shared ScoreKey, and a block-wide max picks
// the node. The per-thread work is greedy_block.h, which the host twin
// (greedy_host_twin.cpp, CudaHostTwinScheduler) runs on every build's tests. Since the key embeds the tie-break (lowest index), the max is
// unique and the placements equal CpuScheduler's exactly.
#include <cuda_runtime.h>

#include <string>

#include "cuda_status.h"
#include "greedy_block.h"
#include "plan.h"
#include "scheduler/cuda_scheduler.h"

namespace scheduler {
namespace {

using internal::kGreedyMaxThreads;
using internal::kWarpSize;

__device__ __forceinline__ unsigned long long WarpMax(unsigned long long v) {
  for (int offset = kWarpSize / 2; offset > 0; offset >>= 1) {
    v = internal::MaxKey(v, __shfl_xor_sync(0xffffffffu, v, offset));
  }
  return v;
}

// The arithmetic and bookkeeping are greedy_block.h's (shared with the host
// twin); this adds the warp shuffles and barriers.
__global__ void GreedyKernel(const internal::WorkItem* __restrict__ work, std::uint32_t num_work,
                             const std::uint64_t* __restrict__ masks, std::uint32_t words,
                             internal::NodeArrays nodes, std::uint32_t num_nodes,
                             std::uint32_t* stamp, std::uint32_t* count, std::int32_t* out) {
  __shared__ unsigned long long warp_best[kGreedyMaxThreads / kWarpSize];
  __shared__ unsigned long long block_best;
  const std::uint32_t tid = threadIdx.x;
  const std::uint32_t lane = tid % kWarpSize;
  const std::uint32_t warps = blockDim.x / kWarpSize;

  for (std::uint32_t w = 0; w < num_work; ++w) {
    const internal::WorkItem item = work[w];
    const std::uint64_t* mask = masks + static_cast<std::size_t>(item.set) * words;
    const std::uint32_t my_stamp = w + 1;
    for (std::uint32_t r = 0; r < item.replicas; ++r) {
      const unsigned long long best = WarpMax(
          internal::LaneBest(nodes, mask, num_nodes, tid, blockDim.x, item, stamp, count, my_stamp));
      if (lane == 0) warp_best[tid / kWarpSize] = best;
      __syncthreads();
      if (tid < kWarpSize) {
        const unsigned long long b = WarpMax(tid < warps ? warp_best[tid] : 0);
        if (tid == 0) block_best = b;
      }
      __syncthreads();
      const unsigned long long chosen = block_best;
      if (chosen == 0) break;  // uniform across the block; the rest stay Pending
      const std::uint32_t n = internal::KeyIndex(chosen);
      if (internal::OwnsNode(n, tid, blockDim.x)) {
        internal::CommitReplica(nodes, n, item, r, my_stamp, stamp, count, out);
      }
      // block_best is rewritten only after the next step's first barrier,
      // which every thread reaches after reading it here.
    }
  }
}

// A device buffer that only grows (cudaMalloc is too slow to repeat per call).
struct Buffer {
  void* ptr = nullptr;
  std::size_t bytes = 0;

  mesh::Status Reserve(std::size_t want) {
    if (want <= bytes) return mesh::Status::Ok();
    if (ptr != nullptr) cudaFree(ptr);
    ptr = nullptr;
    bytes = 0;
    GPU_CUDA_RETURN_IF_ERROR("cuda scheduler: cudaMalloc", cudaMalloc(&ptr, want));
    bytes = want;
    return mesh::Status::Ok();
  }
  ~Buffer() {
    if (ptr != nullptr) cudaFree(ptr);
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr);
  }
};

}  // namespace

struct CudaScheduler::Device {
  cudaStream_t stream = nullptr;
  Buffer work, masks, stamp, count, out;
  Buffer free_cpu, free_mem, free_gpu, recip_cpu, recip_mem, base;
  ~Device() {
    if (stream != nullptr) cudaStreamDestroy(stream);
  }
};

bool CudaCompiledIn() { return true; }

mesh::Result<std::unique_ptr<CudaScheduler>> CudaScheduler::Create() {
  int devices = 0;
  const cudaError_t err = cudaGetDeviceCount(&devices);
  if (err != cudaSuccess) {
    return mesh::Status::Unavailable(
        "cuda scheduler", std::string("no CUDA device (") + cudaGetErrorString(err) + ")");
  }
  if (devices == 0) return mesh::Status::Unavailable("cuda scheduler", "no CUDA device");
  auto device = std::make_unique<Device>();
  GPU_CUDA_RETURN_IF_ERROR("cuda scheduler: cudaSetDevice", cudaSetDevice(0));
  GPU_CUDA_RETURN_IF_ERROR("cuda scheduler: cudaStreamCreate", cudaStreamCreate(&device->stream));
  return std::unique_ptr<CudaScheduler>(new CudaScheduler(std::move(device)));
}

CudaScheduler::CudaScheduler(std::unique_ptr<Device> device) : device_(std::move(device)) {}
CudaScheduler::~CudaScheduler() = default;

mesh::Status CudaScheduler::Place(internal::Plan& plan, std::span<std::int32_t> out) {
  if (plan.steps == 0 || plan.num_nodes == 0) return mesh::Status::Ok();
  Device& d = *device_;
  const std::size_t work_bytes = plan.work.size() * sizeof(internal::WorkItem);
  const std::size_t mask_bytes = plan.masks.size() * sizeof(std::uint64_t);
  const std::size_t node_bytes = plan.free_cpu.size() * sizeof(std::uint64_t);
  const std::size_t node_u32 = plan.num_nodes * sizeof(std::uint32_t);
  const std::size_t out_bytes = plan.steps * sizeof(std::int32_t);
  MESH_RETURN_IF_ERROR(d.work.Reserve(work_bytes));
  MESH_RETURN_IF_ERROR(d.masks.Reserve(mask_bytes));
  MESH_RETURN_IF_ERROR(d.stamp.Reserve(node_u32));
  MESH_RETURN_IF_ERROR(d.count.Reserve(node_u32));
  MESH_RETURN_IF_ERROR(d.out.Reserve(out_bytes));

  constexpr const char* kOp = "cuda scheduler: place";
  struct Upload {
    Buffer* buffer;
    const void* host;
    std::size_t bytes;
  };
  const Upload uploads[] = {
      {&d.work, plan.work.data(), work_bytes},
      {&d.masks, plan.masks.data(), mask_bytes},
      {&d.free_cpu, plan.free_cpu.data(), node_bytes},
      {&d.free_mem, plan.free_mem.data(), node_bytes},
      {&d.free_gpu, plan.free_gpu.data(), node_bytes},
      {&d.recip_cpu, plan.recip_cpu.data(), node_bytes},
      {&d.recip_mem, plan.recip_mem.data(), node_bytes},
      {&d.base, plan.base.data(), node_bytes},
  };
  for (const Upload& u : uploads) {
    MESH_RETURN_IF_ERROR(u.buffer->Reserve(u.bytes));
    GPU_CUDA_RETURN_IF_ERROR(
        kOp, cudaMemcpyAsync(u.buffer->ptr, u.host, u.bytes, cudaMemcpyHostToDevice, d.stream));
  }
  GPU_CUDA_RETURN_IF_ERROR(kOp, cudaMemsetAsync(d.stamp.ptr, 0, node_u32, d.stream));
  GPU_CUDA_RETURN_IF_ERROR(kOp,
                             cudaMemsetAsync(d.out.ptr, 0xff, out_bytes, d.stream));  // kPending
  const internal::NodeArrays nodes{d.free_cpu.as<std::uint64_t>(),  d.free_mem.as<std::uint64_t>(),
                                   d.free_gpu.as<std::uint64_t>(),  d.recip_cpu.as<std::uint64_t>(),
                                   d.recip_mem.as<std::uint64_t>(), d.base.as<std::uint64_t>()};

  const unsigned threads = internal::GreedyThreads(plan.num_nodes);
  GreedyKernel<<<1, threads, 0, d.stream>>>(
      d.work.as<internal::WorkItem>(), static_cast<std::uint32_t>(plan.work.size()),
      d.masks.as<std::uint64_t>(), plan.words, nodes, plan.num_nodes, d.stamp.as<std::uint32_t>(),
      d.count.as<std::uint32_t>(), d.out.as<std::int32_t>());
  GPU_CUDA_RETURN_IF_ERROR("cuda scheduler: kernel launch", cudaGetLastError());
  GPU_CUDA_RETURN_IF_ERROR(
      kOp, cudaMemcpyAsync(out.data(), d.out.ptr, out_bytes, cudaMemcpyDeviceToHost, d.stream));
  GPU_CUDA_RETURN_IF_ERROR("cuda scheduler: kernel", cudaStreamSynchronize(d.stream));
  return mesh::Status::Ok();
}

}  // namespace scheduler
