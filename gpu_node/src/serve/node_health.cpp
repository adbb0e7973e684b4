#include "serve/node_health.h"

#include <cstdio>
#include <cstdlib>

#include "mesh/certificate.h"

namespace gpu_node {

std::int64_t ClockSkewNs(std::int64_t node_wall_ns, std::int64_t received_ns,
                         std::optional<mesh::Nanos> rtt) {
  const std::int64_t one_way = rtt && rtt->count() > 0 ? rtt->count() / 2 : 0;
  return node_wall_ns - (received_ns - one_way);
}

state::NodeHealth HealthFromMessage(const swarmlet::NodeHealthMsg& msg, std::int64_t received_ns,
                                    std::optional<mesh::Nanos> rtt) {
  state::NodeHealth h;
  h.memory_controller = msg.memory_controller;
  h.temperature_mc = msg.temperature_mc;
  h.throttled = msg.throttled;
  h.clock_skew_ns = ClockSkewNs(msg.wall_ns, received_ns, rtt);
  h.updated_ns = received_ns;
  return h;
}

mesh::Status ApplyNodeHealth(state::StateStore& store, const std::string& node_id,
                             std::string_view payload, std::int64_t received_ns,
                             std::optional<mesh::Nanos> rtt) {
  auto msg = swarmlet::DecodeNodeHealth(payload);
  if (!msg.ok()) return msg.status();
  return store.SetNodeHealth(node_id, HealthFromMessage(*msg, received_ns, rtt));
}

std::string FormatSkew(std::int64_t ns) {
  const double s = std::abs(static_cast<double>(ns)) / 1e9;
  char buf[32];
  if (s < 120) {
    std::snprintf(buf, sizeof buf, "%.1f s", s);
  } else if (s < 2 * 3600) {
    std::snprintf(buf, sizeof buf, "%.1f min", s / 60);
  } else if (s < 48 * 3600) {
    std::snprintf(buf, sizeof buf, "%.1f h", s / 3600);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f d", s / 86400);
  }
  return buf;
}

std::vector<std::string> NodeConditions(const state::NodeRecord& n) {
  const state::NodeHealth& h = n.health;
  std::vector<std::string> out;
  if (!h.memory_controller) {
    out.push_back("memory limits unavailable: add cgroup_enable=memory cgroup_memory=1 to cmdline.txt");
  }
  if (h.throttled && swarmlet::ThrottlingNow(*h.throttled)) {
    std::string why;
    for (std::string_view r : swarmlet::ThrottleReasonTexts(*h.throttled)) {
      why += (why.empty() ? "" : ", ") + std::string(r);
    }
    out.push_back("throttled (" + why + ")");
  }
  if (h.temperature_mc && *h.temperature_mc >= kHotMillidegrees) {
    out.push_back("hot " + std::to_string((*h.temperature_mc + 500) / 1000) + "°C");
  }
  if (h.updated_ns != 0 && std::abs(h.clock_skew_ns) >= kSkewConditionNs) {
    out.push_back("clock skew " + FormatSkew(h.clock_skew_ns) +
                  (h.clock_skew_ns > 0 ? " (ahead)" : " (behind)"));
  }
  return out;
}

nlohmann::json NodeHealthJson(const state::NodeRecord& n) {
  const state::NodeHealth& h = n.health;
  nlohmann::json reasons = nlohmann::json::array();
  if (h.throttled) {
    for (std::string_view r : swarmlet::ThrottleReasons(*h.throttled)) reasons.push_back(std::string(r));
  }
  return {
      {"memory_controller", h.memory_controller},
      {"temperature_c", h.temperature_mc ? nlohmann::json(static_cast<double>(*h.temperature_mc) / 1000.0)
                                         : nlohmann::json(nullptr)},
      {"throttled", h.throttled ? nlohmann::json(*h.throttled) : nlohmann::json(nullptr)},
      {"throttle_reasons", reasons},
      {"clock_skew_ms", h.updated_ns != 0 ? nlohmann::json(static_cast<double>(h.clock_skew_ns) / 1e6)
                                          : nlohmann::json(nullptr)},
      {"health_updated", h.updated_ns != 0 ? mesh::FormatWallTime(h.updated_ns) : ""},
      {"conditions", NodeConditions(n)},
  };
}

}  // namespace gpu_node
