// Scheduler: decides which node runs each replica of a batch of workloads.
//
// Filter then score, greedily, in input order (workload by workload, replica
// by replica), each placement consuming free capacity before the next:
//   filter  the node is Ready, satisfies every constraint, has the free
//           cpu, memory and gpus the replica requests, and — when it
//           requests memory (its limit) — can enforce memory limits
//           (NodeInfo::memory_limits);
//   score   compared lexicographically, higher wins:
//           1. spread: fewer replicas of the same workload already placed on
//              the node in this batch;
//           2. cool: a node that is not throttling (NodeInfo::throttled);
//           3. GPU conservation: a workload that requests no GPU prefers a
//              node without GPUs (keeps the workstation free for GPU work);
//           4. balance: most free capacity left after placing, as the sum of
//              the cpu and memory fractions, each floor((free_after * floor(2^62
//              / capacity)) >> 52), i.e. 0..1024 in integer arithmetic;
//           5. tie-break: the lowest node index (the caller's node order).
// All of it is integer arithmetic, so CpuScheduler and CudaScheduler agree
// exactly; the same test cases run against both.
//
// A replica that fits nowhere is Pending with a reason ("no node matches
// node.type == rpi: 0 of 4 nodes are rpi"); later replicas of that workload
// are Pending too (nothing has been freed). Pending is a result, not an error.
//
// Thread safety: an instance keeps scratch buffers between calls; use it from
// one thread at a time. Distinct instances are independent.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "mesh/status.h"
#include "scheduler/types.h"

namespace scheduler {

namespace internal {
struct Plan;
}

class Scheduler {
 public:
  Scheduler();
  virtual ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // "cpu" or "cuda".
  virtual std::string_view Name() const = 0;

  // Places every replica of `workloads` on `nodes`; the inputs are not
  // modified (apply ScheduleResult::allocated to keep going). Errors:
  // InvalidArgument for inputs no scheduling can handle (more than 2^24 nodes,
  // more than 2^31 replicas in one batch), Unavailable/Internal when the
  // device of a device implementation fails.
  mesh::Result<ScheduleResult> Schedule(std::span<const NodeInfo> nodes,
                                        std::span<const WorkloadSpec> workloads);

 protected:
  // Fills out[step] with the chosen node index or kPending for every replica
  // step of the compiled plan, following the rules above. The plan's engine_*
  // scratch is the engine's to use.
  virtual mesh::Status Place(internal::Plan& plan, std::span<std::int32_t> out) = 0;

  // For a Scheduler that hands a call to one of several engines
  // (gpu_node/src/serve/gpu_paths.h): `engine`'s Place on this call's plan,
  // and the plan's size as replicas x nodes.
  static mesh::Status PlaceOn(Scheduler& engine, internal::Plan& plan,
                              std::span<std::int32_t> out) {
    return engine.Place(plan, out);
  }
  static std::uint64_t PlanPairs(const internal::Plan& plan);

 private:
  std::unique_ptr<internal::Plan> plan_;  // reused between calls
};

// The greedy engine on the CPU: constraints precompiled to node bitmasks,
// only the matching nodes' bits visited, no allocation per workload. Dense
// mask words are scored 8 (AVX-512) or 4 (AVX2) nodes at a time where the
// CPU has it (checked at run time), else by the portable loop; all give the
// same keys.
class CpuScheduler final : public Scheduler {
 public:
  // kBest: the fastest this CPU supports. A kernel the CPU lacks falls back
  // to kPortable.
  enum class Kernel { kBest, kPortable, kAvx2, kAvx512 };
  explicit CpuScheduler(Kernel kernel = Kernel::kBest);

  std::string_view Name() const override { return "cpu"; }
  // "avx512", "avx2" or "portable": what this instance runs.
  std::string_view KernelName() const;
  static bool Available(Kernel kernel);

 protected:
  mesh::Status Place(internal::Plan& plan, std::span<std::int32_t> out) override;

 private:
  Kernel kernel_;
};

}  // namespace scheduler
