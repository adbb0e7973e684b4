// Payload bodies of the membership messages (MsgType 1..5) and their msgpack
// codecs; the layouts are documented in docs/wire_format.md.
//
// The envelope (mesh/envelope.h) carries these bodies as opaque bytes. Every
// Decode* function is strict: it never throws, refuses garbage, truncation,
// trailing bytes, wrong shapes, out-of-range enums and over-long ids with a
// Corrupt Status, and caps the number of rumors per gossip message.
//
// Thread safety: free functions on values; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/status.h"

namespace mesh {

// A gossip message carries at most this many rumors; the sender splits longer lists.
inline constexpr std::size_t kMaxRumorsPerMessage = 64;

// Rumors piggybacked on one probe message (FailureDetectorConfig::
// piggyback_rumors) take at most this many bytes, counted with
// RumorWireBytes(): with the probe and the envelopes around them they fit in
// one datagram (1,200 bytes) even with 64-byte ids.
inline constexpr std::size_t kMaxPiggybackRumorBytes = 512;

// kHeartbeat [probe_id]. The id comes back in the ack so the sender can time the round trip.
struct HeartbeatBody {
  std::uint64_t probe_id = 0;
  bool operator==(const HeartbeatBody&) const = default;
};

// kHeartbeatAck [probe_id]: echoes the heartbeat's id.
struct HeartbeatAckBody {
  std::uint64_t probe_id = 0;
  bool operator==(const HeartbeatAckBody&) const = default;
};

// kIndirectProbe [probe_id, target]: "probe `target` for me and tell me".
struct IndirectProbeBody {
  std::uint64_t probe_id = 0;
  std::string target;
  bool operator==(const IndirectProbeBody&) const = default;
};

// kIndirectProbeAck [probe_id, target, alive]: alive=true when the helper heard
// from the target after the request; alive=false is a nack (the helper is up
// and tried, but the target stayed silent), which tells the requester that its
// own link to the helper works (Lifeguard's local-health signal).
struct IndirectProbeAckBody {
  std::uint64_t probe_id = 0;
  std::string target;
  bool alive = false;
  bool operator==(const IndirectProbeAckBody&) const = default;
};

// SWIM rumor kinds. Values are on the wire: append only.
enum class RumorKind : std::uint8_t {
  kAlive = 0,    // member is alive at `incarnation` (refutes older suspicions)
  kSuspect = 1,  // `from` suspects member at `incarnation`
  kConfirm = 2,  // `from` declared member failed at `incarnation`
};
inline constexpr std::uint8_t kLastRumorKind = 2;

std::string_view RumorKindName(RumorKind kind);

struct Rumor {
  RumorKind kind = RumorKind::kAlive;
  std::string member;
  std::uint64_t incarnation = 0;
  std::string from;  // the member that originated the rumor (counts confirmations)
  bool operator==(const Rumor&) const = default;
};

// An upper bound of the bytes `rumor` takes in a gossip body: array header,
// kind, two strings with their headers, a uint64.
inline std::size_t RumorWireBytes(const Rumor& rumor) {
  return 1 + 1 + 2 + rumor.member.size() + 9 + 2 + rumor.from.size();
}

// kMembershipGossip [[ [kind, member, incarnation, from], ... ]]
struct GossipBody {
  std::vector<Rumor> rumors;
  bool operator==(const GossipBody&) const = default;
};

// Encoders fail (InvalidArgument) only on values the decoder would refuse:
// empty or over-long ids (kMaxSenderBytes), too many rumors.
Result<std::string> EncodeHeartbeat(const HeartbeatBody& body);
Result<std::string> EncodeHeartbeatAck(const HeartbeatAckBody& body);
Result<std::string> EncodeIndirectProbe(const IndirectProbeBody& body);
Result<std::string> EncodeIndirectProbeAck(const IndirectProbeAckBody& body);
Result<std::string> EncodeGossip(const GossipBody& body);

Result<HeartbeatBody> DecodeHeartbeat(std::string_view bytes);
Result<HeartbeatAckBody> DecodeHeartbeatAck(std::string_view bytes);
Result<IndirectProbeBody> DecodeIndirectProbe(std::string_view bytes);
Result<IndirectProbeAckBody> DecodeIndirectProbeAck(std::string_view bytes);
Result<GossipBody> DecodeGossip(std::string_view bytes);

}  // namespace mesh
