// GPU paths for `serve` (issue 18): per call, whether votes are verified and
// workloads placed by the CUDA engines or by the CPU ones, and why.
//
// `serve --gpu MODE`:
//   off   the CPU for everything; no device is even probed.
//   auto  (default) the CUDA engine when one could be made (a usable device
//         in a build with CUDA) and the call is at or above the crossover
//         (gpu_crossovers.h: votes per Verify() call, replicas x nodes per
//         Schedule() call); the CPU otherwise.
//   on    the CUDA engines for every call; MakeGpuPaths fails (serve exits 1
//         with one line) when either cannot be made.
// A device engine that fails a call (a CUDA error) has that call redone on
// the CPU: the failure is counted, logged once per op (the first time), and
// the result is the CPU's. Results are the same on either path: each CUDA
// engine keeps its CPU twin's contract bit for bit (consensus/verifier.h,
// scheduler/scheduler.h).
//
// Where it shows: StartupLine() (serve's log), PathCounter (the
// stratoswarm_gpu_path_* metrics, GpuPathFamilies) and the timing log, which
// gets a `gpu_path` record whenever an op's path or its reason changes
// (docs/gpu.md).
//
// Thread safety: SelectingVerifier as VoteVerifier (any thread);
// SelectingScheduler as Scheduler (one thread at a time); PathCounter and
// GpuPathFamilies may be read from any thread while calls run.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "consensus/verifier.h"
#include "mesh/status.h"
#include "mesh/timing_log.h"
#include "scheduler/scheduler.h"
#include "serve/gpu_crossovers.h"
#include "swarmlet/metrics.h"

namespace gpu_node {

enum class GpuMode { kAuto, kOn, kOff };

// "auto", "on", "off"; nullopt for anything else.
std::optional<GpuMode> ParseGpuMode(std::string_view text);
std::string_view GpuModeName(GpuMode mode);

enum class GpuPath { kCpu, kCuda };
std::string_view GpuPathName(GpuPath path);  // "cpu", "cuda"

// Why a call took its path.
enum class PathReason {
  kGpuOff,          // --gpu off
  kNoDevice,        // auto, and no CUDA engine could be made
  kBelowCrossover,  // auto, the call is smaller than the crossover
  kAtCrossover,     // auto, the call is at or above the crossover
  kGpuOn,           // --gpu on
  kDeviceError,     // the CUDA engine failed this call; redone on the CPU
};
// "gpu off", "no device", "below crossover", "at or above crossover",
// "gpu on", "device error".
std::string_view PathReasonName(PathReason reason);

struct PathChoice {
  GpuPath path;
  PathReason reason;
  bool operator==(const PathChoice&) const = default;
};

// The rule above, as a pure function (`size` and `crossover` in the op's unit).
PathChoice ChoosePath(GpuMode mode, bool have_device, std::uint64_t size, std::uint64_t crossover);

// One op's ("verify", "place") calls per path and device failures.
class PathCounter {
 public:
  // `log`: where the first device failure is reported (may be null).
  PathCounter(std::string op, std::ostream* log);

  // The timing log that gets a `gpu_path` record on each change of path or
  // reason (null: none). Set before the first call.
  void SetTimingLog(mesh::TimingLog* timing) { timing_ = timing; }

  // A call ran on `choice.path` and took `ms`.
  void Ran(PathChoice choice, double ms);
  // The device engine failed a call with `error` (the call is then redone on
  // the CPU and counted by Ran with kDeviceError).
  void DeviceFailed(const mesh::Status& error);

  const std::string& op() const { return op_; }
  std::uint64_t calls(GpuPath path) const;
  std::uint64_t fallbacks() const { return fallbacks_.load(); }
  // The latest call's path and reason; nullopt before the first call.
  std::optional<PathChoice> last() const;

 private:
  const std::string op_;
  std::ostream* log_;
  mesh::TimingLog* timing_ = nullptr;
  std::atomic<std::uint64_t> cpu_{0}, cuda_{0}, fallbacks_{0};
  mutable std::mutex mu_;  // last_, the one-time log line
  std::optional<PathChoice> last_;
  bool failure_logged_ = false;
};

// A VoteVerifier that hands each call to the CPU or the device verifier.
class SelectingVerifier final : public consensus::VoteVerifier {
 public:
  // `device` may be null (no device, or --gpu off).
  SelectingVerifier(GpuMode mode, std::unique_ptr<consensus::VoteVerifier> cpu,
                    std::unique_ptr<consensus::VoteVerifier> device, std::uint64_t crossover_batch,
                    std::shared_ptr<PathCounter> counter);

  // The CPU verifier's name, or "cuda(...) from N votes, else cpu(...)".
  std::string Name() const override;
  mesh::Status Verify(std::span<const consensus::SignedMessage> items,
                      std::span<std::uint8_t> verdicts) override;
  // Both verifiers get the hint.
  void Prepare(std::span<const consensus::PublicKey> keys) override;

  bool has_device() const { return device_ != nullptr; }

 private:
  const GpuMode mode_;
  std::unique_ptr<consensus::VoteVerifier> cpu_;
  std::unique_ptr<consensus::VoteVerifier> device_;
  const std::uint64_t crossover_;
  std::shared_ptr<PathCounter> counter_;
};

// A Scheduler that hands each call's compiled plan to the CPU or the device
// engine. Name() is the engine of the latest call ("cpu" before any).
class SelectingScheduler final : public scheduler::Scheduler {
 public:
  SelectingScheduler(GpuMode mode, std::unique_ptr<scheduler::Scheduler> cpu,
                     std::unique_ptr<scheduler::Scheduler> device, std::uint64_t crossover_pairs,
                     std::shared_ptr<PathCounter> counter);

  std::string_view Name() const override;
  bool has_device() const { return device_ != nullptr; }

 protected:
  mesh::Status Place(scheduler::internal::Plan& plan, std::span<std::int32_t> out) override;

 private:
  const GpuMode mode_;
  std::unique_ptr<scheduler::Scheduler> cpu_;
  std::unique_ptr<scheduler::Scheduler> device_;
  const std::uint64_t crossover_;
  std::shared_ptr<PathCounter> counter_;
  std::atomic<const scheduler::Scheduler*> last_;
};

// How MakeGpuPaths makes the device engines; tests inject fakes.
struct GpuDevices {
  std::function<mesh::Result<std::unique_ptr<consensus::VoteVerifier>>()> verifier;
  std::function<mesh::Result<std::unique_ptr<scheduler::Scheduler>>()> scheduler;
  // The real ones: MakeCudaVerifier and CudaScheduler::Create.
  static GpuDevices Cuda();
};

struct GpuPaths {
  GpuMode mode = GpuMode::kOff;
  GpuCrossovers crossovers;
  // The device verifier's name ("cuda(NVIDIA H100 ...)"), or why there is no
  // device path ("gpu off", "no CUDA device (...)").
  std::string device;
  bool device_verifier = false;   // a CUDA verifier was made
  bool device_scheduler = false;  // a CUDA scheduler was made
  std::shared_ptr<PathCounter> verify_counter;
  std::shared_ptr<PathCounter> place_counter;
  std::unique_ptr<SelectingVerifier> verifier;
  std::unique_ptr<SelectingScheduler> scheduler;  // serve moves it into WorkloadManager

  // e.g. "GPU: auto, cuda(NVIDIA H100 80GB HBM3): votes on the GPU from 64 per
  // batch, placement from 50000000 replica x node pairs (crossovers not
  // measured on a device)" or "GPU: off: CPU only".
  std::string StartupLine() const;
};

// Builds both selecting engines for `mode`. `cpu_verifier` is the CPU path
// for votes; the CPU scheduler is CpuScheduler. Unavailable ("--gpu on: no
// usable CUDA device: ...") when mode is on and a device engine cannot be
// made. `log` gets the one-time device-failure lines (may be null).
mesh::Result<GpuPaths> MakeGpuPaths(GpuMode mode, const GpuCrossovers& crossovers,
                                    std::unique_ptr<consensus::VoteVerifier> cpu_verifier,
                                    std::ostream* log,
                                    const GpuDevices& devices = GpuDevices::Cuda());

// stratoswarm_gpu_path_calls_total{op,path} and
// stratoswarm_gpu_path_fallbacks_total{op} (counters),
// stratoswarm_gpu_device{op,mode} (gauge: 1 when the op has a device path) and
// stratoswarm_gpu_crossover{op} (gauge), every series present from the start.
std::vector<swarmlet::MetricFamily> GpuPathFamilies(const GpuPaths& paths);

}  // namespace gpu_node
