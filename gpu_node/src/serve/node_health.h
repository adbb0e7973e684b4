// The GPU peer's side of node health (docs/node_health.md): applies a
// node's kNodeHealth message to its record in the state store, and turns a
// record into the conditions `node ls` shows and the raw fields of
// `node ls --format json`.
//
// Thread safety: free functions; the store serializes its own calls.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mesh/clock.h"
#include "mesh/status.h"
#include "state/store.h"
#include "swarmlet/node_health.h"

namespace gpu_node {

// At or above this SoC temperature a node is "hot" (a Pi 4's firmware starts
// soft throttling at 80 °C).
inline constexpr std::int64_t kHotMillidegrees = 80'000;
// Below this a clock skew is not a condition (NTP keeps far closer; the join
// freshness window is far wider).
inline constexpr std::int64_t kSkewConditionNs = 2'000'000'000;

// The node's clock minus ours at the moment it sent: `received_ns` is our
// wall clock at receipt, and the message was sent about half a round trip
// before that (`rtt`, when the mesh has measured one).
std::int64_t ClockSkewNs(std::int64_t node_wall_ns, std::int64_t received_ns,
                         std::optional<mesh::Nanos> rtt);

state::NodeHealth HealthFromMessage(const swarmlet::NodeHealthMsg& msg, std::int64_t received_ns,
                                    std::optional<mesh::Nanos> rtt);

// Decodes `payload` from member `node_id` and stores it on the node's record.
// Corrupt/Unsupported for a bad payload, NotFound for an unknown node.
mesh::Status ApplyNodeHealth(state::StateStore& store, const std::string& node_id,
                             std::string_view payload, std::int64_t received_ns,
                             std::optional<mesh::Nanos> rtt);

// For people, worst first: "memory limits unavailable: add
// cgroup_enable=memory cgroup_memory=1 to cmdline.txt", "throttled
// (under-voltage)", "hot 82°C", "clock skew 3.2 h (behind)". Empty: none.
std::vector<std::string> NodeConditions(const state::NodeRecord& node);

// "3.2 h", "45.0 s", "12.5 min", "2.0 d" for a duration in ns (sign ignored).
std::string FormatSkew(std::int64_t ns);

// The raw health fields for the API's "nodes" answer: memory_controller,
// temperature_c (null when unknown), throttled (bits or null),
// throttle_reasons, clock_skew_ms, health_updated ("" when never), conditions.
nlohmann::json NodeHealthJson(const state::NodeRecord& node);

}  // namespace gpu_node
