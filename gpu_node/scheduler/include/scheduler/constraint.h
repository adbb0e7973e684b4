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

#include "mesh/status.h"

namespace scheduler {

struct NodeInfo;

struct Constraint {
  enum class Field : std::uint8_t { kName, kType, kArch, kLabel };

  Field field = Field::kName;
  bool equals = true;     // `==`; false for `!=`
  std::string label_key;  // only for kLabel
  std::string value;      // for kType: "gpu", "rpi" or "x86"
  // Canonical spelling, "node.type == rpi": used in messages and as the
  // identity of the constraint (two equal texts mean the same constraint).
  std::string text;

  bool operator==(const Constraint& other) const { return text == other.text; }
};

// InvalidArgument naming the constraint when it is not one of the forms above.
mesh::Result<Constraint> ParseConstraint(std::string_view text);

// Whether `node` satisfies `constraint` (ignores the node's status).
bool Matches(const Constraint& constraint, const NodeInfo& node);

}  // namespace scheduler
