// The scheduler's data model: nodes as the scheduler sees them, the workloads
// it places, and the placements it returns.
//
// Units are integers so that the CPU and CUDA schedulers compute identical
// scores: CPU in millicores, memory in bytes, GPUs as a count.
//
// Thread safety: plain values; distinct objects may be used from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "scheduler/constraint.h"

namespace scheduler {

struct Resources {
  std::uint64_t cpu_millis = 0;
  std::uint64_t memory_bytes = 0;
  std::uint32_t gpus = 0;

  bool operator==(const Resources&) const = default;
};

// The node types of `node.type` constraints: the GPU workstation, a
// Raspberry Pi, any other x86 machine.
enum class NodeType : std::uint8_t { kGpu = 0, kRpi = 1, kX86 = 2 };
inline constexpr int kNodeTypeCount = 3;

// "gpu", "rpi", "x86".
std::string_view NodeTypeName(NodeType type);
// Inverse of NodeTypeName; nullopt for anything else.
std::optional<NodeType> ParseNodeType(std::string_view name);

enum class NodeStatus : std::uint8_t { kReady = 0, kDown = 1 };
std::string_view NodeStatusName(NodeStatus status);

struct NodeInfo {
  std::string id;
  std::string name;
  NodeType type = NodeType::kX86;
  std::string arch;  // "x86_64", "aarch64"
  std::map<std::string, std::string> labels;
  Resources capacity;
  Resources allocated;  // what placed workloads already hold
  NodeStatus status = NodeStatus::kReady;
  // Node health (docs/node_health.md). Without a cgroup memory controller a
  // node cannot enforce memory limits: no workload with a memory request
  // (which is its limit) goes there. A throttling node scores lower.
  bool memory_limits = true;
  bool throttled = false;
};

struct WorkloadSpec {
  std::string name;
  std::string type;  // the seed's workload class ("gpu-compute", "cpu-light"); informational
  std::string image;
  std::vector<std::string> command;
  std::string user;         // spec.user "UID[:GID]" as written (checked by the GPU peer); empty: the image's
  bool privileged = false;  // spec.privileged: no confinement on the node
  Resources requests;  // per replica
  std::uint32_t replicas = 1;
  std::vector<Constraint> constraints;  // all must hold
  // What the deploy file expects (for reports only, never for placement): node
  // names, node types ("rpi"), or "any-capable"/"any". Empty: no expectation.
  std::vector<std::string> expected_nodes;
};

inline constexpr std::int32_t kPending = -1;

struct Placement {
  std::uint32_t workload = 0;  // index into the scheduled workloads
  std::uint32_t replica = 0;
  std::int32_t node = kPending;  // index into the nodes, or kPending
  std::string reason;            // why it is Pending; empty when placed
};

struct ScheduleResult {
  // One entry per replica, in workload order then replica order.
  std::vector<Placement> placements;
  // Per node (same order as the input): allocated resources after placing.
  std::vector<Resources> allocated;
  std::size_t placed = 0;
  std::size_t pending = 0;
};

}  // namespace scheduler
