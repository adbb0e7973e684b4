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
enum class MsgType : std::uint16_t {
  kHeartbeat = 1,     // liveness ping; any message also counts as one
  kHeartbeatAck = 2,  // answer to kHeartbeat (ping-pong, not one-way)
};
inline constexpr std::uint16_t kLastMsgType = 2;

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

}  // namespace mesh
