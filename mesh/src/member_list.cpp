#include "mesh/member_list.h"

#include <arpa/inet.h>

#include <set>

#include "mesh/msgpack_strict.h"
#include "member_list_internal.h"
#include "name_rules.h"

namespace mesh {
namespace {

using internal::FieldReader;
using internal::Packer;
using internal::StringSink;

constexpr std::size_t kSignedFields = 5;
constexpr std::size_t kAllFields = 6;
constexpr std::size_t kMemberFields = 6;
constexpr std::string_view kSignatureDomain{"stratoswarm/member-list/v1\0", 27};
constexpr std::string_view kDecodeOp = "decode member list";

void PackSignedFields(Packer& pk, const MemberList& l) {
  pk.pack_uint32(l.version);
  pk.pack_uint64(l.epoch);
  pk.pack_int64(l.issued_ns);
  pk.pack_array(static_cast<std::uint32_t>(l.members.size()));
  for (const Member& m : l.members) internal::PackMember(pk, m);
  internal::PackBin(pk, l.issuer);
}

bool ParsePort(std::string_view s) {
  if (s.empty() || s.size() > 5) return false;
  unsigned value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value >= 1 && value <= 65535 && s[0] != '0';
}

}  // namespace

void internal::PackMember(Packer& pk, const Member& m) {
  pk.pack_array(kMemberFields);
  internal::PackStr(pk, m.node_id);
  internal::PackStr(pk, m.name);
  internal::PackStr(pk, NodeRoleName(m.role));
  internal::PackBin(pk, m.signing_key);
  internal::PackBin(pk, m.curve_key);
  internal::PackStr(pk, m.endpoint);
}

Status internal::DecodeMember(std::string_view op, const msgpack::object& o, std::size_t index, Member& m) {
  FieldReader r(op, o);
  const std::string which = "member " + std::to_string(index);
  MESH_RETURN_IF_ERROR(r.ExpectArray(kMemberFields, which));
  MESH_RETURN_IF_ERROR(r.Str(0, which + " node id", kMaxNodeIdBytes, m.node_id));
  MESH_RETURN_IF_ERROR(r.Str(1, which + " name", kMaxNodeNameBytes, m.name));
  std::string role;
  MESH_RETURN_IF_ERROR(r.Str(2, which + " role", 16, role));
  auto parsed = ParseNodeRole(role);
  if (!parsed.ok()) return Status::Corrupt(op, which + ": " + parsed.status().message());
  m.role = *parsed;
  MESH_RETURN_IF_ERROR(r.Bin(3, which + " signing key", m.signing_key));
  MESH_RETURN_IF_ERROR(r.Bin(4, which + " curve key", m.curve_key));
  MESH_RETURN_IF_ERROR(r.Str(5, which + " endpoint", kMaxEndpointBytes, m.endpoint));
  return Status::Ok();
}

Status internal::CheckListRoot(std::string_view op, const msgpack::object& root) {
  if (root.type != msgpack::type::ARRAY || root.via.array.size == 0) {
    return Status::Corrupt(op, "not a non-empty array");
  }
  std::uint64_t version = 0;
  MESH_RETURN_IF_ERROR(FieldReader(op, root).Uint(0, "version", version));
  if (version != kMemberListVersion) {
    return Status::Unsupported(op, "member list version " + std::to_string(version) +
                                       " (this build speaks " +
                                       std::to_string(kMemberListVersion) + ")");
  }
  return Status::Ok();
}

Member MemberFromCertificate(const NodeCertificate& cert, std::string endpoint) {
  return Member{cert.node_id,     cert.name,      cert.role,
                cert.signing_key, cert.curve_key, std::move(endpoint)};
}

const Member* MemberList::FindById(std::string_view node_id) const {
  for (const Member& m : members) {
    if (m.node_id == node_id) return &m;
  }
  return nullptr;
}

const Member* MemberList::FindByCurveKey(const CurvePublicKey& key) const {
  for (const Member& m : members) {
    if (m.curve_key == key) return &m;
  }
  return nullptr;
}

bool IsValidEndpoint(std::string_view e) {
  constexpr std::string_view kScheme = "tcp://";
  if (e.size() > kMaxEndpointBytes || e.substr(0, kScheme.size()) != kScheme) return false;
  e.remove_prefix(kScheme.size());
  char addr[INET6_ADDRSTRLEN + 1];
  unsigned char parsed[sizeof(struct in6_addr)];
  if (!e.empty() && e.front() == '[') {
    const std::size_t close = e.find(']');
    if (close == std::string_view::npos || close + 1 >= e.size() || e[close + 1] != ':')
      return false;
    const std::string_view host = e.substr(1, close - 1);
    if (host.empty() || host.size() > INET6_ADDRSTRLEN) return false;
    host.copy(addr, host.size());
    addr[host.size()] = '\0';
    return inet_pton(AF_INET6, addr, parsed) == 1 && ParsePort(e.substr(close + 2));
  }
  const std::size_t colon = e.rfind(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view host = e.substr(0, colon);
  if (host.empty() || host.size() > INET_ADDRSTRLEN) return false;
  host.copy(addr, host.size());
  addr[host.size()] = '\0';
  return inet_pton(AF_INET, addr, parsed) == 1 && ParsePort(e.substr(colon + 1));
}

Status internal::ValidateMember(const Member& m, const std::string& which) {
  constexpr std::string_view op = "member list";
  if (!internal::IsValidName(m.node_id, kMaxNodeIdBytes)) {
    return Status::InvalidArgument(op, which + ": node id must be 1.." +
                                           std::to_string(kMaxNodeIdBytes) +
                                           " characters of [A-Za-z0-9._-]");
  }
  if (!internal::IsValidName(m.name, kMaxNodeNameBytes)) {
    return Status::InvalidArgument(op, which + " (" + m.node_id + "): name must be 1.." +
                                           std::to_string(kMaxNodeNameBytes) +
                                           " characters of [A-Za-z0-9._-]");
  }
  if (NodeRoleName(m.role) == "unknown")
    return Status::InvalidArgument(op, which + ": unknown role");
  if (!IsValidEndpoint(m.endpoint)) {
    return Status::InvalidArgument(op, which + " (" + m.node_id + "): endpoint '" +
                                           internal::Printable(m.endpoint) +
                                           "' is not tcp://IP:PORT with a numeric address");
  }
  return Status::Ok();
}

Status ValidateMemberListFields(const MemberList& l) {
  constexpr std::string_view op = "member list";
  if (l.version != kMemberListVersion) {
    return Status::Unsupported(op, "version " + std::to_string(l.version) + " (this build speaks " +
                                       std::to_string(kMemberListVersion) + ")");
  }
  if (l.members.size() > kMaxMembers) {
    return Status::InvalidArgument(op, "more than " + std::to_string(kMaxMembers) + " members");
  }
  std::set<std::string_view> ids;
  std::set<CurvePublicKey> curve_keys;
  for (std::size_t i = 0; i < l.members.size(); ++i) {
    const Member& m = l.members[i];
    const std::string which = "member " + std::to_string(i);
    MESH_RETURN_IF_ERROR(internal::ValidateMember(m, which));
    if (!ids.insert(m.node_id).second) {
      return Status::InvalidArgument(op, "node id " + m.node_id + " listed twice");
    }
    if (!curve_keys.insert(m.curve_key).second) {
      return Status::InvalidArgument(op, which + " (" + m.node_id + "): CURVE key listed twice");
    }
  }
  return Status::Ok();
}

Result<std::string> MemberListSignedBytes(const MemberList& list) {
  MESH_RETURN_IF_ERROR(ValidateMemberListFields(list));
  std::string out(kSignatureDomain);
  StringSink sink{out};
  Packer pk(sink);
  pk.pack_array(kSignedFields);
  PackSignedFields(pk, list);
  return out;
}

Result<std::string> EncodeMemberList(const MemberList& list) {
  MESH_RETURN_IF_ERROR(ValidateMemberListFields(list));
  std::string out;
  out.reserve(128 + list.members.size() * 160);
  StringSink sink{out};
  Packer pk(sink);
  pk.pack_array(kAllFields);
  PackSignedFields(pk, list);
  internal::PackBin(pk, list.signature);
  return out;
}

Result<MemberList> DecodeMemberList(std::string_view bytes) {
  msgpack::object_handle handle;
  const internal::Limits limits{
      kMaxMemberListBytes, kMaxMembers, 0, kMaxEndpointBytes, kEd25519SignatureBytes, 3};
  MESH_RETURN_IF_ERROR(internal::Unpack(bytes, limits, kDecodeOp, handle));
  const msgpack::object& root = handle.get();
  MESH_RETURN_IF_ERROR(internal::CheckListRoot(kDecodeOp, root));
  FieldReader r(kDecodeOp, root);
  MESH_RETURN_IF_ERROR(r.ExpectArray(kAllFields, "member list"));
  MemberList l;
  MESH_RETURN_IF_ERROR(r.Uint(1, "epoch", l.epoch));
  MESH_RETURN_IF_ERROR(r.Int(2, "issued_ns", l.issued_ns));
  const msgpack::object& members = r.at(3);
  if (members.type != msgpack::type::ARRAY) return r.Bad("members", "is not an array");
  l.members.resize(members.via.array.size);
  for (std::uint32_t i = 0; i < members.via.array.size; ++i) {
    MESH_RETURN_IF_ERROR(internal::DecodeMember(kDecodeOp, members.via.array.ptr[i], i, l.members[i]));
  }
  MESH_RETURN_IF_ERROR(r.Bin(4, "issuer", l.issuer));
  MESH_RETURN_IF_ERROR(r.Bin(5, "signature", l.signature));
  if (Status s = ValidateMemberListFields(l); !s.ok())
    return Status::Corrupt(kDecodeOp, s.message());
  return l;
}

Status VerifyMemberList(const CaPublicKeys& ca, const MemberList& list) {
  constexpr std::string_view op = "verify member list";
  auto signed_bytes = MemberListSignedBytes(list);
  if (!signed_bytes.ok()) return Status::Corrupt(op, signed_bytes.status().message());
  auto ca_fp = ca.ComputeFingerprint();
  if (!ca_fp.ok()) return ca_fp.status();
  if (!ConstantTimeEquals(list.issuer, *ca_fp)) {
    return Status::PermissionDenied(
        op, "epoch " + std::to_string(list.epoch) + " was issued by another cluster's CA");
  }
  if (!VerifySignature(ca.signing_key, *signed_bytes, list.signature).ok()) {
    return Status::Corrupt(op, "epoch " + std::to_string(list.epoch) +
                                   ": CA signature does not verify (tampered or forged)");
  }
  return Status::Ok();
}

}  // namespace mesh
