// Envelopes a FailureDetector test feeds in by hand (failure_detector_test,
// swim_test): sender, type and body; seq and sent_ns left 0.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "mesh/envelope.h"
#include "mesh/membership_codec.h"

namespace mesh::testing {

inline Envelope Msg(const std::string& from, MsgType type, std::string payload) {
  Envelope e;
  e.type = type;
  e.sender = from;
  e.payload = std::move(payload);
  return e;
}

inline Envelope Heartbeat(const std::string& from, std::uint64_t id = 1) {
  return Msg(from, MsgType::kHeartbeat, *EncodeHeartbeat({id}));
}

inline Envelope Gossip(const std::string& from, std::vector<Rumor> rumors) {
  return Msg(from, MsgType::kMembershipGossip, *EncodeGossip(GossipBody{std::move(rumors)}));
}

}  // namespace mesh::testing
