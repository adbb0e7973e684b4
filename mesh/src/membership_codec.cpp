#include "mesh/membership_codec.h"

#include <msgpack.hpp>

#include "mesh/envelope.h"

namespace mesh {
namespace {

struct StringSink {
  std::string& out;
  void write(const char* data, std::size_t len) { out.append(data, len); }
};
using Packer = msgpack::packer<StringSink>;

bool ValidId(std::string_view id) { return !id.empty() && id.size() <= kMaxSenderBytes; }

Status BadId(std::string_view op, std::string_view what) {
  return Status::InvalidArgument(
      op, std::string(what) + " must be 1.." + std::to_string(kMaxSenderBytes) + " bytes");
}

void PackStr(Packer& pk, std::string_view s) {
  pk.pack_str(static_cast<std::uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
}

// Unpacks exactly one msgpack object into `zone` under tight limits: no maps,
// bins or ext, strings no longer than an id, arrays no longer than a rumor list.
// Bodies are tiny, so a small zone chunk avoids msgpack's 8 KiB default per call.
inline constexpr std::size_t kZoneChunkBytes = 512;

Status UnpackStrict(std::string_view op, std::string_view bytes, std::size_t max_depth,
                    msgpack::zone& zone, msgpack::object& root) {
  if (bytes.empty()) return Status::Corrupt(op, "empty payload");
  if (bytes.size() > kMaxPayloadBytes) return Status::Corrupt(op, "payload too large");
  std::size_t offset = 0;
  try {
    const msgpack::unpack_limit limits(kMaxRumorsPerMessage, 0, kMaxSenderBytes, 0, 0, max_depth);
    root = msgpack::unpack(zone, bytes.data(), bytes.size(), offset, nullptr, nullptr, limits);
  } catch (const std::exception& e) {
    return Status::Corrupt(op, e.what());
  }
  if (offset != bytes.size()) return Status::Corrupt(op, "trailing bytes after the body");
  return Status::Ok();
}

// Checks the root is an array of exactly `n` elements.
const msgpack::object* FieldsOf(const msgpack::object& root, std::uint32_t n) {
  if (root.type != msgpack::type::ARRAY || root.via.array.size != n) return nullptr;
  return root.via.array.ptr;
}

bool ReadU64(const msgpack::object& o, std::uint64_t& out) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) return false;
  out = o.via.u64;
  return true;
}

bool ReadId(const msgpack::object& o, std::string& out) {
  if (o.type != msgpack::type::STR || o.via.str.size == 0 || o.via.str.size > kMaxSenderBytes) {
    return false;
  }
  out.assign(o.via.str.ptr, o.via.str.size);
  return true;
}

// [probe_id] bodies (heartbeat and its ack share the layout).
std::string EncodeProbeId(std::uint64_t id) {
  std::string out;
  StringSink sink{out};
  Packer pk(sink);
  pk.pack_array(1);
  pk.pack_uint64(id);
  return out;
}

Result<std::uint64_t> DecodeProbeId(std::string_view op, std::string_view bytes) {
  msgpack::zone zone(kZoneChunkBytes);
  msgpack::object root;
  MESH_RETURN_IF_ERROR(UnpackStrict(op, bytes, 1, zone, root));
  const msgpack::object* f = FieldsOf(root, 1);
  std::uint64_t id = 0;
  if (f == nullptr) return Status::Corrupt(op, "not a 1-element array");
  if (!ReadU64(f[0], id)) return Status::Corrupt(op, "probe_id is not an unsigned int");
  return id;
}

}  // namespace

std::string_view RumorKindName(RumorKind kind) {
  switch (kind) {
    case RumorKind::kAlive:
      return "alive";
    case RumorKind::kSuspect:
      return "suspect";
    case RumorKind::kConfirm:
      return "confirm";
  }
  return "unknown";
}

Result<std::string> EncodeHeartbeat(const HeartbeatBody& body) {
  return EncodeProbeId(body.probe_id);
}

Result<std::string> EncodeHeartbeatAck(const HeartbeatAckBody& body) {
  return EncodeProbeId(body.probe_id);
}

Result<std::string> EncodeIndirectProbe(const IndirectProbeBody& body) {
  if (!ValidId(body.target)) return BadId("encode indirect_probe", "target");
  std::string out;
  StringSink sink{out};
  Packer pk(sink);
  pk.pack_array(2);
  pk.pack_uint64(body.probe_id);
  PackStr(pk, body.target);
  return out;
}

Result<std::string> EncodeIndirectProbeAck(const IndirectProbeAckBody& body) {
  if (!ValidId(body.target)) return BadId("encode indirect_probe_ack", "target");
  std::string out;
  StringSink sink{out};
  Packer pk(sink);
  pk.pack_array(3);
  pk.pack_uint64(body.probe_id);
  PackStr(pk, body.target);
  if (body.alive) {
    pk.pack_true();
  } else {
    pk.pack_false();
  }
  return out;
}

Result<std::string> EncodeGossip(const GossipBody& body) {
  constexpr std::string_view kOp = "encode membership_gossip";
  if (body.rumors.size() > kMaxRumorsPerMessage) {
    return Status::InvalidArgument(kOp,
                                   "more than " + std::to_string(kMaxRumorsPerMessage) + " rumors");
  }
  std::string out;
  StringSink sink{out};
  Packer pk(sink);
  pk.pack_array(1);
  pk.pack_array(static_cast<std::uint32_t>(body.rumors.size()));
  for (const Rumor& r : body.rumors) {
    if (!ValidId(r.member)) return BadId(kOp, "rumor member");
    if (!ValidId(r.from)) return BadId(kOp, "rumor from");
    pk.pack_array(4);
    pk.pack_uint8(static_cast<std::uint8_t>(r.kind));
    PackStr(pk, r.member);
    pk.pack_uint64(r.incarnation);
    PackStr(pk, r.from);
  }
  return out;
}

Result<HeartbeatBody> DecodeHeartbeat(std::string_view bytes) {
  auto id = DecodeProbeId("decode heartbeat", bytes);
  if (!id.ok()) return id.status();
  return HeartbeatBody{*id};
}

Result<HeartbeatAckBody> DecodeHeartbeatAck(std::string_view bytes) {
  auto id = DecodeProbeId("decode heartbeat_ack", bytes);
  if (!id.ok()) return id.status();
  return HeartbeatAckBody{*id};
}

Result<IndirectProbeBody> DecodeIndirectProbe(std::string_view bytes) {
  constexpr std::string_view kOp = "decode indirect_probe";
  msgpack::zone zone(kZoneChunkBytes);
  msgpack::object root;
  MESH_RETURN_IF_ERROR(UnpackStrict(kOp, bytes, 1, zone, root));
  const msgpack::object* f = FieldsOf(root, 2);
  if (f == nullptr) return Status::Corrupt(kOp, "not a 2-element array");
  IndirectProbeBody body;
  if (!ReadU64(f[0], body.probe_id)) return Status::Corrupt(kOp, "probe_id is not an unsigned int");
  if (!ReadId(f[1], body.target)) return Status::Corrupt(kOp, "target is not a valid member id");
  return body;
}

Result<IndirectProbeAckBody> DecodeIndirectProbeAck(std::string_view bytes) {
  constexpr std::string_view kOp = "decode indirect_probe_ack";
  msgpack::zone zone(kZoneChunkBytes);
  msgpack::object root;
  MESH_RETURN_IF_ERROR(UnpackStrict(kOp, bytes, 1, zone, root));
  const msgpack::object* f = FieldsOf(root, 3);
  if (f == nullptr) return Status::Corrupt(kOp, "not a 3-element array");
  IndirectProbeAckBody body;
  if (!ReadU64(f[0], body.probe_id)) return Status::Corrupt(kOp, "probe_id is not an unsigned int");
  if (!ReadId(f[1], body.target)) return Status::Corrupt(kOp, "target is not a valid member id");
  if (f[2].type != msgpack::type::BOOLEAN) return Status::Corrupt(kOp, "alive is not a bool");
  body.alive = f[2].via.boolean;
  return body;
}

Result<GossipBody> DecodeGossip(std::string_view bytes) {
  constexpr std::string_view kOp = "decode membership_gossip";
  msgpack::zone zone(kZoneChunkBytes);
  msgpack::object root;
  MESH_RETURN_IF_ERROR(UnpackStrict(kOp, bytes, 3, zone, root));
  const msgpack::object* f = FieldsOf(root, 1);
  if (f == nullptr) return Status::Corrupt(kOp, "not a 1-element array");
  if (f[0].type != msgpack::type::ARRAY) return Status::Corrupt(kOp, "rumors is not an array");
  GossipBody body;
  body.rumors.reserve(f[0].via.array.size);
  for (std::uint32_t i = 0; i < f[0].via.array.size; ++i) {
    const msgpack::object* r = FieldsOf(f[0].via.array.ptr[i], 4);
    if (r == nullptr) return Status::Corrupt(kOp, "rumor is not a 4-element array");
    std::uint64_t kind = 0;
    Rumor rumor;
    if (!ReadU64(r[0], kind) || kind > kLastRumorKind) {
      return Status::Corrupt(kOp, "rumor kind out of range");
    }
    rumor.kind = static_cast<RumorKind>(kind);
    if (!ReadId(r[1], rumor.member)) return Status::Corrupt(kOp, "rumor member is not a valid id");
    if (!ReadU64(r[2], rumor.incarnation)) {
      return Status::Corrupt(kOp, "rumor incarnation is not an unsigned int");
    }
    if (!ReadId(r[3], rumor.from)) return Status::Corrupt(kOp, "rumor from is not a valid id");
    body.rumors.push_back(std::move(rumor));
  }
  return body;
}

}  // namespace mesh
