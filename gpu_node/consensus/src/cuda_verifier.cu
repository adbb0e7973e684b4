// CudaVerifier: batched Ed25519 verification, one GPU thread per signature.
//
// Each thread runs ed25519_hd::Verify, the code whose host twin
// (ed25519_hd_host.cpp) the unit tests compare with libsodium on every build,
// so the verdicts are libsodium 1.0.18's. Verify() packs the batch into pinned
// host buffers (fixed-size records plus one concatenated message buffer),
// copies them in, launches, and copies the verdict bytes back, all on one
// stream; buffers only grow and are kept across calls.
//
// Not exercised on the build machines (no GPU there): the launch path here.
// tests/unit/gpu_node/consensus/verifier_test.cpp runs the shared verifier
// cases on it wherever a device exists.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "cuda_status.h"
#include "consensus/verifier.h"
#include "ed25519_hd.h"

namespace consensus {
namespace {

// Votes are ~126 bytes; a longer message goes to libsodium on the calling
// thread rather than making every record (and the copy) carry it.
constexpr std::size_t kMaxDeviceMessage = 1024;
// Items per launch: bounds the pinned buffers (~1.1 KiB per item at most).
constexpr std::size_t kMaxLaunchItems = 1 << 16;
constexpr unsigned kThreadsPerBlock = 128;

struct DeviceItem {
  std::uint8_t signature[64];
  std::uint8_t public_key[32];
  std::uint32_t message_offset;  // into the launch's message buffer
  std::uint32_t message_len;     // <= kMaxDeviceMessage
};

__global__ void VerifyKernel(const DeviceItem* __restrict__ items,
                             const std::uint8_t* __restrict__ messages, std::uint32_t n,
                             std::uint8_t* __restrict__ verdicts) {
  const std::uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const DeviceItem& item = items[i];
  verdicts[i] = ed25519_hd::Verify(messages + item.message_offset, item.message_len, item.signature,
                                   item.public_key)
                    ? 1
                    : 0;
}

// A buffer that only grows (cudaMalloc / cudaMallocHost are too slow to repeat
// per call). `pinned` selects page-locked host memory instead of device memory.
class Buffer {
 public:
  explicit Buffer(bool pinned) : pinned_(pinned) {}
  ~Buffer() { Release(); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  mesh::Status Reserve(std::size_t want) {
    if (want <= bytes_) return mesh::Status::Ok();
    Release();
    want = std::max<std::size_t>(want, 4096);
    if (pinned_) {
      GPU_CUDA_RETURN_IF_ERROR("cuda verifier: cudaMallocHost", cudaMallocHost(&ptr_, want));
    } else {
      GPU_CUDA_RETURN_IF_ERROR("cuda verifier: cudaMalloc", cudaMalloc(&ptr_, want));
    }
    bytes_ = want;
    return mesh::Status::Ok();
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void Release() {
    if (ptr_ != nullptr) {
      if (pinned_) {
        cudaFreeHost(ptr_);
      } else {
        cudaFree(ptr_);
      }
    }
    ptr_ = nullptr;
    bytes_ = 0;
  }
  bool pinned_;
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

class CudaVerifier final : public VoteVerifier {
 public:
  CudaVerifier(std::string device_name, cudaStream_t stream)
      : name_("cuda(" + device_name + ")"), stream_(stream) {}
  ~CudaVerifier() override { cudaStreamDestroy(stream_); }
  CudaVerifier(const CudaVerifier&) = delete;
  CudaVerifier& operator=(const CudaVerifier&) = delete;

  std::string Name() const override { return name_; }

  mesh::Status Verify(std::span<const SignedMessage> items,
                      std::span<std::uint8_t> verdicts) override {
    MESH_RETURN_IF_ERROR(CheckVerifyArguments(items, verdicts));
    std::lock_guard lk(mu_);
    std::vector<std::size_t> on_device;  // indices into `items`, in launch order
    on_device.reserve(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (items[i].message_len <= kMaxDeviceMessage) {
        on_device.push_back(i);
      } else {
        verdicts[i] = VerifyOne(items[i]) ? 1 : 0;
      }
    }
    for (std::size_t begin = 0; begin < on_device.size(); begin += kMaxLaunchItems) {
      const std::size_t end = std::min(on_device.size(), begin + kMaxLaunchItems);
      MESH_RETURN_IF_ERROR(
          Launch(items, std::span(on_device).subspan(begin, end - begin), verdicts));
    }
    return mesh::Status::Ok();
  }

 private:
  mesh::Status Launch(std::span<const SignedMessage> items, std::span<const std::size_t> which,
                      std::span<std::uint8_t> verdicts) {
    constexpr const char* kOp = "cuda verifier: verify";
    const std::size_t n = which.size();
    std::size_t message_bytes = 0;
    for (std::size_t i : which) message_bytes += items[i].message_len;
    MESH_RETURN_IF_ERROR(host_items_.Reserve(n * sizeof(DeviceItem)));
    MESH_RETURN_IF_ERROR(host_messages_.Reserve(message_bytes));
    MESH_RETURN_IF_ERROR(host_verdicts_.Reserve(n));
    MESH_RETURN_IF_ERROR(dev_items_.Reserve(n * sizeof(DeviceItem)));
    MESH_RETURN_IF_ERROR(dev_messages_.Reserve(message_bytes));
    MESH_RETURN_IF_ERROR(dev_verdicts_.Reserve(n));

    DeviceItem* records = host_items_.as<DeviceItem>();
    std::uint8_t* packed = host_messages_.as<std::uint8_t>();
    std::uint32_t offset = 0;  // < kMaxLaunchItems * kMaxDeviceMessage = 64 MiB
    for (std::size_t k = 0; k < n; ++k) {
      const SignedMessage& m = items[which[k]];
      DeviceItem& r = records[k];
      std::memcpy(r.signature, m.signature->data(), sizeof r.signature);
      std::memcpy(r.public_key, m.public_key->data(), sizeof r.public_key);
      r.message_offset = offset;
      r.message_len = static_cast<std::uint32_t>(m.message_len);
      if (m.message_len != 0) std::memcpy(packed + offset, m.message, m.message_len);
      offset += static_cast<std::uint32_t>(m.message_len);
    }

    GPU_CUDA_RETURN_IF_ERROR(
        kOp, cudaMemcpyAsync(dev_items_.as<void>(), records, n * sizeof(DeviceItem),
                             cudaMemcpyHostToDevice, stream_));
    if (message_bytes != 0) {
      GPU_CUDA_RETURN_IF_ERROR(kOp,
                                    cudaMemcpyAsync(dev_messages_.as<void>(), packed, message_bytes,
                                                    cudaMemcpyHostToDevice, stream_));
    }
    const unsigned blocks = static_cast<unsigned>((n + kThreadsPerBlock - 1) / kThreadsPerBlock);
    VerifyKernel<<<blocks, kThreadsPerBlock, 0, stream_>>>(
        dev_items_.as<DeviceItem>(), dev_messages_.as<std::uint8_t>(),
        static_cast<std::uint32_t>(n), dev_verdicts_.as<std::uint8_t>());
    GPU_CUDA_RETURN_IF_ERROR("cuda verifier: kernel launch", cudaGetLastError());
    GPU_CUDA_RETURN_IF_ERROR(
        kOp, cudaMemcpyAsync(host_verdicts_.as<void>(), dev_verdicts_.as<void>(), n,
                             cudaMemcpyDeviceToHost, stream_));
    GPU_CUDA_RETURN_IF_ERROR("cuda verifier: kernel", cudaStreamSynchronize(stream_));
    const std::uint8_t* out = host_verdicts_.as<std::uint8_t>();
    for (std::size_t k = 0; k < n; ++k) verdicts[which[k]] = out[k];
    return mesh::Status::Ok();
  }

  const std::string name_;
  cudaStream_t stream_;
  std::mutex mu_;  // one Verify() at a time: the buffers and the stream are shared
  Buffer host_items_{true}, host_messages_{true}, host_verdicts_{true};
  Buffer dev_items_{false}, dev_messages_{false}, dev_verdicts_{false};
};

}  // namespace

mesh::Result<std::unique_ptr<VoteVerifier>> MakeCudaVerifier() {
  constexpr const char* kOp = "cuda verifier";
  int devices = 0;
  const cudaError_t err = cudaGetDeviceCount(&devices);
  if (err != cudaSuccess) {
    return mesh::Status::Unavailable(
        kOp, std::string("no CUDA device (") + cudaGetErrorString(err) + ")");
  }
  if (devices == 0) return mesh::Status::Unavailable(kOp, "no CUDA device");
  GPU_CUDA_RETURN_IF_ERROR("cuda verifier: cudaSetDevice", cudaSetDevice(0));
  cudaDeviceProp prop{};
  GPU_CUDA_RETURN_IF_ERROR("cuda verifier: cudaGetDeviceProperties",
                                cudaGetDeviceProperties(&prop, 0));
  cudaStream_t stream = nullptr;
  GPU_CUDA_RETURN_IF_ERROR("cuda verifier: cudaStreamCreate", cudaStreamCreate(&stream));
  return std::unique_ptr<VoteVerifier>(new CudaVerifier(prop.name, stream));
}

}  // namespace consensus
