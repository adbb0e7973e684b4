// A node's word about its own coming absence (docs/wire_format.md, type
// kNodeNotice), sent over its authenticated mesh connection to the GPU peer:
//   restarting  the swarmlet was told to stop (SIGTERM: an upgrade, a config
//               change, `systemctl restart`); it will be back. The GPU peer
//               shows the node Restarting and moves nothing unless it stays
//               away past the grace period (serve --restart-grace).
//   leaving     `swarmlet leave`: the node leaves the cluster for good; the
//               GPU peer moves its workloads, answers with a leaving notice
//               of its own (the confirmation) and then removes it from the
//               member list.
//
// Encoding: strict msgpack [version, kind]; the decoder never throws.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mesh/status.h"

namespace swarmlet {

enum class NodeNotice : std::uint8_t { kRestarting = 1, kLeaving = 2, kRemoved = 3 };
std::string_view NodeNoticeName(NodeNotice notice);  // "restarting", "leaving", "removed"

mesh::Result<std::string> EncodeNodeNotice(NodeNotice notice);
mesh::Result<NodeNotice> DecodeNodeNotice(std::string_view bytes);

}  // namespace swarmlet
