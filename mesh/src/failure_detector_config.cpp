#include "mesh/failure_detector_config.h"

#include <algorithm>
#include <cmath>

namespace mesh {

FailureDetectorConfig FailureDetectorConfig::Base() { return FailureDetectorConfig{}; }

FailureDetectorConfig FailureDetectorConfig::Lan() { return Scaled(ms(100)); }

FailureDetectorConfig FailureDetectorConfig::Scaled(ms heartbeat) {
  FailureDetectorConfig c = Base();
  c.probe_interval = heartbeat;
  c.probe_timeout = 2 * heartbeat;
  c.indirect_timeout = heartbeat;
  c.indirect_nack_timeout = heartbeat * 4 / 5;
  c.gossip_interval = std::max(ms(1), heartbeat / 5);
  c.join_grace = std::max(ms(1000), 10 * heartbeat);
  return c;
}

FailureDetectorConfig FailureDetectorConfig::Swim(ms heartbeat) {
  FailureDetectorConfig c = Scaled(heartbeat);
  c.probing = Probing::kSwim;
  c.gossip_fanout = 3;
  c.piggyback_rumors = true;
  return c;
}

FailureDetectorConfig FailureDetectorConfig::ForTests() {
  FailureDetectorConfig c = Base();
  c.probe_interval = ms(10);
  c.probe_timeout = ms(20);
  c.indirect_timeout = ms(10);
  c.indirect_nack_timeout = ms(8);
  c.gossip_interval = ms(2);
  c.join_grace = ms(0);
  c.awareness_max_multiplier = 1;
  return c;
}

Status FailureDetectorConfig::Validate() const {
  auto bad = [](std::string_view cause) { return Status::InvalidArgument("fd config", cause); };
  if (probe_interval <= ms(0)) return bad("probe_interval must be > 0");
  if (probe_timeout < probe_interval) return bad("probe_timeout must be >= probe_interval");
  if (indirect_timeout <= ms(0)) return bad("indirect_timeout must be > 0");
  if (indirect_nack_timeout <= ms(0) || indirect_nack_timeout >= indirect_timeout) {
    return bad("indirect_nack_timeout must be in (0, indirect_timeout)");
  }
  if (indirect_probes < 0) return bad("indirect_probes must be >= 0");
  if (suspicion_mult < 1) return bad("suspicion_mult must be >= 1");
  if (suspicion_max_timeout_mult < 1) return bad("suspicion_max_timeout_mult must be >= 1");
  if (awareness_max_multiplier < 1) return bad("awareness_max_multiplier must be >= 1");
  if (gossip_interval <= ms(0)) return bad("gossip_interval must be > 0");
  if (retransmit_mult < 1) return bad("retransmit_mult must be >= 1");
  if (gossip_fanout < 0) return bad("gossip_fanout must be >= 0");
  if (join_grace < ms(0)) return bad("join_grace must be >= 0");
  if (swim_probe_interval != ms(0) && swim_probe_interval < probe_interval) {
    return bad("swim_probe_interval must be 0 or >= probe_interval");
  }
  return Status::Ok();
}

Nanos FailureDetectorConfig::SuspicionMin(std::size_t members) const {
  const double scale =
      std::max(1.0, std::log10(static_cast<double>(std::max<std::size_t>(1, members))));
  const double ns = suspicion_mult * scale * static_cast<double>(Nanos(probe_interval).count());
  return Nanos(static_cast<Nanos::rep>(ns));
}

Nanos FailureDetectorConfig::SuspicionMax(std::size_t members) const {
  return SuspicionMin(members) * suspicion_max_timeout_mult;
}

int FailureDetectorConfig::SuspicionConfirmationsWanted(std::size_t members) const {
  const int k = suspicion_mult - 2;
  if (static_cast<long>(members) - 2 < k) return 0;
  return std::max(0, k);
}

int FailureDetectorConfig::RumorTransmits(std::size_t members) const {
  const double scale = std::ceil(std::log10(static_cast<double>(members) + 1.0));
  return retransmit_mult * std::max(1, static_cast<int>(scale));
}

}  // namespace mesh
