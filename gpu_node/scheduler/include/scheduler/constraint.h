// Placement constraints: `node.name`, `node.type`, `node.arch` and
// `node.labels.<key>` compared with `==` or `!=` ("node.type == rpi",
// "node.name==rpi-1", "node.labels.zone != east"). `node.platform.arch` is
// accepted as a synonym of `node.arch` (Docker Swarm's spelling).
//
// Parsing validates everything once (the field, the operator, a known node
// type) so the scheduler's hot path never sees a malformed constraint.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/status.h"

namespace scheduler {

struct NodeInfo;

struct Constraint {
  // kPlatforms is never parsed: the GPU peer adds it for an image workload
  // (ImagePlatformConstraint) so that both schedulers place it only on nodes
  // whose architecture the image has. kMemoryLimits is never parsed either:
  // the plan adds it to every workload with a memory request
  // (MemoryLimitsConstraint), for both schedulers alike.
  enum class Field : std::uint8_t { kName, kType, kArch, kLabel, kPlatforms, kMemoryLimits };

  Field field = Field::kName;
  bool equals = true;     // `==`; false for `!=`
  std::string label_key;  // only for kLabel; for kPlatforms the image reference
  std::string value;      // for kType: "gpu", "rpi" or "x86"; kPlatforms: "aarch64,x86_64"
  // Canonical spelling, "node.type == rpi": used in messages and as the
  // identity of the constraint (two equal texts mean the same constraint).
  std::string text;

  bool operator==(const Constraint& other) const { return text == other.text; }
};

// InvalidArgument naming the constraint when it is not one of the forms above.
mesh::Result<Constraint> ParseConstraint(std::string_view text);

// Whether `node` satisfies `constraint` (ignores the node's status).
bool Matches(const Constraint& constraint, const NodeInfo& node);

// Node architectures (uname -m: "x86_64", "aarch64", "armv7l") and OCI ones
// ("amd64", "arm64", "arm"); unknown names pass through unchanged.
std::string OciArchOf(std::string_view node_arch);
std::string NodeArchOf(std::string_view oci_arch);

// "Runs only where `image` has a platform": `oci_archs` are the image's
// linux architectures ("amd64", "arm64").
Constraint ImagePlatformConstraint(const std::string& image, const std::vector<std::string>& oci_archs);

// "Runs only where memory limits work" (NodeInfo::memory_limits).
Constraint MemoryLimitsConstraint();

}  // namespace scheduler
