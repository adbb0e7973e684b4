// The wire envelope every mesh message travels in (docs/wire_format.md).
//
// msgpack array: [version, type, sender, seq, sent_ns, payload]
//   version  uint   wire version; a decoder rejects versions it does not speak
//   type     uint   MsgType (append-only; unknown values are rejected)
//   sender   str    node id of the sender, 1..kMaxSenderBytes bytes
//   seq      uint   per-sender sequence number (replay checks live above the codec)
//   sent_ns  int    sender's wall clock, ns since the Unix epoch
//   payload  bin    type-specific msgpack, at most kMaxPayloadBytes
//
// Decode() never throws and never trusts its input: garbage, truncation,
// oversize, wrong shapes, unknown versions and types come back as a Corrupt or
// Unsupported Status.
//
// Thread safety: free functions on values; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mesh/status.h"

namespace mesh {

inline constexpr std::uint32_t kWireVersion = 1;
inline constexpr std::size_t kMaxSenderBytes = 64;
inline constexpr std::size_t kMaxPayloadBytes = 1u << 20;  // 1 MiB
// Array header + 5 scalars + sender + bin header; anything longer is refused unread.
inline constexpr std::size_t kMaxEnvelopeBytes = kMaxPayloadBytes + kMaxSenderBytes + 64;

// Append-only: never renumber or reuse a value; add new types at the end.
// Payloads are documented per type in docs/wire_format.md.
enum class MsgType : std::uint16_t {
  kHeartbeat = 1,           // liveness ping; any message also counts as one
  kHeartbeatAck = 2,        // answer to kHeartbeat (ping-pong, not one-way)
  kIndirectProbe = 3,       // SWIM: "please probe member X for me"
  kIndirectProbeAck = 4,    // SWIM: the answer to kIndirectProbe (alive or nack)
  kMembershipGossip = 5,    // SWIM rumors: suspect / alive / confirm, with incarnations
  kMemberList = 6,          // the CA-signed member list, pushed by the primary
  kJoinRequest = 7,         // swarmlet -> primary: proof of token, keys, profile
  kJoinResponse = 8,        // primary -> swarmlet: NodeCertificate or refusal
  kProposal = 9,            // consensus proposal (node_failed / placement / membership)
  kVote = 10,               // Ed25519-signed vote on a proposal
  kDecision = 11,           // decided proposal with its quorum certificate
  kWorkloadCommand = 12,    // primary -> swarmlet: start / stop / adopt a workload
  kWorkloadStatus = 13,     // swarmlet -> primary: workload state, exit, OOM
  kJoinReport = 14,         // swarmlet -> primary: its own join phase timings
  kBatch = 15,              // transport-internal: several envelopes in one frame, never
                            // handed to Send() or out of Receive() (docs/wire_format.md)
  kImageFetch = 16,         // node -> primary: a chunk of an image's squashfs, by digest and offset
  kImageChunk = 17,         // primary -> node: the chunk (or why not)
  kNodeHealth = 18,         // node -> primary: temperature, throttling, memory limits, wall clock
  kNodeNotice = 19,         // node <-> primary: restarting / leaving / removed (swarmlet/node_notice.h)
  kCertRenew = 20,          // node -> primary: re-sign my certificate (swarmlet/cert_renewal.h)
  kCertRenewed = 21,        // primary -> node: the renewed certificate (or why not)
  kMemberListDelta = 22,    // primary -> node: a member-list change (mesh/member_list_delta.h)
  kMemberListRequest = 23,  // node -> primary: send me the full member list
};
inline constexpr std::uint16_t kLastMsgType = 23;

// The failure detector's own messages (types 1-5): what MeshMember keeps to
// itself and what ZmqTransport may send as datagrams.
constexpr bool IsMembershipType(MsgType t) {
  return t == MsgType::kHeartbeat || t == MsgType::kHeartbeatAck || t == MsgType::kIndirectProbe ||
         t == MsgType::kIndirectProbeAck || t == MsgType::kMembershipGossip;
}

bool IsKnownMsgType(std::uint64_t raw);
std::string_view MsgTypeName(MsgType type);

struct Envelope {
  std::uint32_t version = kWireVersion;
  MsgType type = MsgType::kHeartbeat;
  std::string sender;
  std::uint64_t seq = 0;
  std::int64_t sent_ns = 0;
  std::string payload;  // opaque bytes (msgpack of the type's body)

  bool operator==(const Envelope&) const = default;
};

// Appends the encoding of `env` to `out`. Fails (InvalidArgument) only when the
// envelope breaks the limits above; `out` is then unchanged.
Status EncodeTo(const Envelope& env, std::string& out);
Result<std::string> Encode(const Envelope& env);

Result<Envelope> Decode(std::string_view bytes);

// An envelope's fields as they lie in the bytes it was decoded from (sender and
// payload point into those bytes): the same checks as Decode(), no copies.
struct EnvelopeView {
  std::uint32_t version = kWireVersion;
  MsgType type = MsgType::kHeartbeat;
  std::string_view sender;
  std::uint64_t seq = 0;
  std::int64_t sent_ns = 0;
  std::string_view payload;

  Envelope ToEnvelope() const;
};
Result<EnvelopeView> DecodeView(std::string_view bytes);

}  // namespace mesh
