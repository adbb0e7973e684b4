#include "mesh/envelope.h"

#include <msgpack.hpp>

namespace mesh {
namespace {

// msgpack::packer needs a write(const char*, size_t) sink.
struct StringSink {
  std::string& out;
  void write(const char* data, std::size_t len) { out.append(data, len); }
};

constexpr std::size_t kFields = 6;

Status Malformed(std::string_view cause) { return Status::Corrupt("decode envelope", cause); }

bool ReferenceAll(msgpack::type::object_type /*type*/, std::size_t /*length*/, void* /*user*/) {
  return true;
}

}  // namespace

bool IsKnownMsgType(std::uint64_t raw) { return raw >= 1 && raw <= kLastMsgType; }

std::string_view MsgTypeName(MsgType type) {
  switch (type) {
    case MsgType::kHeartbeat: return "heartbeat";
    case MsgType::kHeartbeatAck: return "heartbeat_ack";
    case MsgType::kIndirectProbe: return "indirect_probe";
    case MsgType::kIndirectProbeAck: return "indirect_probe_ack";
    case MsgType::kMembershipGossip: return "membership_gossip";
    case MsgType::kMemberList: return "member_list";
    case MsgType::kJoinRequest: return "join_request";
    case MsgType::kJoinResponse: return "join_response";
    case MsgType::kProposal: return "proposal";
    case MsgType::kVote: return "vote";
    case MsgType::kDecision: return "decision";
    case MsgType::kWorkloadCommand: return "workload_command";
    case MsgType::kWorkloadStatus: return "workload_status";
    case MsgType::kJoinReport: return "join_report";
    case MsgType::kBatch: return "batch";
    case MsgType::kImageFetch: return "image_fetch";
    case MsgType::kImageChunk: return "image_chunk";
    case MsgType::kNodeHealth: return "node_health";
    case MsgType::kNodeNotice: return "node_notice";
    case MsgType::kCertRenew: return "cert_renew";
    case MsgType::kCertRenewed: return "cert_renewed";
    case MsgType::kMemberListDelta: return "member_list_delta";
    case MsgType::kMemberListRequest: return "member_list_request";
  }
  return "unknown";
}

Status EncodeTo(const Envelope& env, std::string& out) {
  if (env.sender.empty() || env.sender.size() > kMaxSenderBytes) {
    return Status::InvalidArgument("encode envelope", "sender must be 1.." +
                                   std::to_string(kMaxSenderBytes) + " bytes");
  }
  if (env.payload.size() > kMaxPayloadBytes) {
    return Status::InvalidArgument("encode envelope", "payload of " +
                                   std::to_string(env.payload.size()) + " bytes exceeds " +
                                   std::to_string(kMaxPayloadBytes));
  }
  if (!IsKnownMsgType(static_cast<std::uint16_t>(env.type))) {
    return Status::InvalidArgument("encode envelope", "unknown message type");
  }
  out.reserve(out.size() + env.payload.size() + env.sender.size() + 40);
  StringSink sink{out};
  msgpack::packer<StringSink> pk(sink);
  pk.pack_array(kFields);
  pk.pack_uint32(env.version);
  pk.pack_uint16(static_cast<std::uint16_t>(env.type));
  pk.pack_str(static_cast<std::uint32_t>(env.sender.size()));
  pk.pack_str_body(env.sender.data(), static_cast<std::uint32_t>(env.sender.size()));
  pk.pack_uint64(env.seq);
  pk.pack_int64(env.sent_ns);
  pk.pack_bin(static_cast<std::uint32_t>(env.payload.size()));
  pk.pack_bin_body(env.payload.data(), static_cast<std::uint32_t>(env.payload.size()));
  return Status::Ok();
}

Result<std::string> Encode(const Envelope& env) {
  std::string out;
  MESH_RETURN_IF_ERROR(EncodeTo(env, out));
  return out;
}

Result<Envelope> Decode(std::string_view bytes) {
  auto view = DecodeView(bytes);
  if (!view.ok()) return view.status();
  return view.value().ToEnvelope();
}

Envelope EnvelopeView::ToEnvelope() const {
  Envelope env;
  env.version = version;
  env.type = type;
  env.sender.assign(sender);
  env.seq = seq;
  env.sent_ns = sent_ns;
  env.payload.assign(payload);
  return env;
}

Result<EnvelopeView> DecodeView(std::string_view bytes) {
  if (bytes.empty()) return Malformed("empty message");
  if (bytes.size() > kMaxEnvelopeBytes) {
    return Malformed(std::to_string(bytes.size()) + " bytes exceeds the " +
                     std::to_string(kMaxEnvelopeBytes) + "-byte limit");
  }
  msgpack::object_handle handle;
  std::size_t offset = 0;
  try {
    // Limits: one array of 6, no maps, no ext, depth 1; strings and bins bounded.
    const msgpack::unpack_limit limits(kFields, 0, kMaxSenderBytes, kMaxPayloadBytes, 0, 2);
    // Strings and bins are referenced in `bytes`, not copied into the zone.
    handle = msgpack::unpack(bytes.data(), bytes.size(), offset, ReferenceAll, nullptr, limits);
  } catch (const std::exception& e) {
    return Malformed(e.what());
  }
  if (offset != bytes.size()) return Malformed("trailing bytes after the envelope");

  const msgpack::object& root = handle.get();
  if (root.type != msgpack::type::ARRAY || root.via.array.size != kFields) {
    return Malformed("not a 6-element array");
  }
  const msgpack::object* f = root.via.array.ptr;
  if (f[0].type != msgpack::type::POSITIVE_INTEGER) return Malformed("version is not an unsigned int");
  if (f[0].via.u64 != kWireVersion) {
    return Status::Unsupported("decode envelope", "wire version " + std::to_string(f[0].via.u64) +
                               " (this build speaks " + std::to_string(kWireVersion) + ")");
  }
  if (f[1].type != msgpack::type::POSITIVE_INTEGER || !IsKnownMsgType(f[1].via.u64)) {
    return Status::Unsupported("decode envelope", "unknown message type " + std::to_string(f[1].via.u64));
  }
  if (f[2].type != msgpack::type::STR || f[2].via.str.size == 0) {
    return Malformed("sender is not a non-empty string");
  }
  if (f[3].type != msgpack::type::POSITIVE_INTEGER) return Malformed("seq is not an unsigned int");
  if (f[4].type != msgpack::type::POSITIVE_INTEGER && f[4].type != msgpack::type::NEGATIVE_INTEGER) {
    return Malformed("sent_ns is not an int");
  }
  if (f[4].type == msgpack::type::POSITIVE_INTEGER &&
      f[4].via.u64 > static_cast<std::uint64_t>(INT64_MAX)) {
    return Malformed("sent_ns out of range");
  }
  if (f[5].type != msgpack::type::BIN) return Malformed("payload is not binary");

  EnvelopeView env;
  env.version = static_cast<std::uint32_t>(f[0].via.u64);
  env.type = static_cast<MsgType>(f[1].via.u64);
  env.sender = std::string_view(f[2].via.str.ptr, f[2].via.str.size);
  env.seq = f[3].via.u64;
  env.sent_ns = f[4].via.i64;
  env.payload = std::string_view(f[5].via.bin.ptr, f[5].via.bin.size);
  return env;
}

}  // namespace mesh
