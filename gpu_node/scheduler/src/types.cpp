#include "scheduler/types.h"

namespace scheduler {

std::string_view NodeTypeName(NodeType type) {
  switch (type) {
    case NodeType::kGpu:
      return "gpu";
    case NodeType::kRpi:
      return "rpi";
    case NodeType::kX86:
      return "x86";
  }
  return "unknown";
}

std::optional<NodeType> ParseNodeType(std::string_view name) {
  if (name == "gpu") return NodeType::kGpu;
  if (name == "rpi") return NodeType::kRpi;
  if (name == "x86") return NodeType::kX86;
  return std::nullopt;
}

std::string_view NodeStatusName(NodeStatus status) {
  return status == NodeStatus::kReady ? "Ready" : "Down";
}

}  // namespace scheduler
