// MemberList: the CA-signed list of cluster members — who may connect (the
// ZAP handler admits exactly these CURVE keys) and whom the failure detector
// probes.
//
// Encoding (docs/wire_format.md, "Member list"): msgpack array
// [version, epoch, issued_ns, members, issuer, signature], each member an
// array [node_id, name, role, signing_key, curve_key, endpoint]. The CA's
// Ed25519 signature covers a domain tag followed by the msgpack encoding of
// the first five fields. The primary bumps `epoch` on every change; a
// receiver keeps the list with the highest epoch and ignores older ones
// (replays of an old list cannot re-admit a removed member).
//
// DecodeMemberList() never throws; garbage or limit violations are Corrupt,
// another version is Unsupported.
//
// Thread safety: values and free functions; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/certificate.h"
#include "mesh/crypto.h"
#include "mesh/status.h"

namespace mesh {

inline constexpr std::uint32_t kMemberListVersion = 1;
inline constexpr std::size_t kMaxMembers = 1024;
inline constexpr std::size_t kMaxEndpointBytes = 64;
inline constexpr std::size_t kMaxMemberListBytes =
    320 * 1024;  // 1024 members of the largest size fit

struct Member {
  std::string node_id;
  std::string name;
  NodeRole role = NodeRole::kWorker;
  Ed25519PublicKey signing_key{};
  CurvePublicKey curve_key{};
  std::string
      endpoint;  // where its ROUTER listens: "tcp://192.168.1.20:7946" or "tcp://[fd00::1]:7946"

  bool operator==(const Member&) const = default;
};

// The member entry a certificate vouches for, listening at `endpoint`.
Member MemberFromCertificate(const NodeCertificate& cert, std::string endpoint);

struct MemberList {
  std::uint32_t version = kMemberListVersion;
  std::uint64_t epoch = 0;      // strictly increasing per change
  std::int64_t issued_ns = 0;   // CA's wall clock when signed
  std::vector<Member> members;  // node ids and CURVE keys unique
  Fingerprint issuer{};         // fingerprint of the signing CA
  Ed25519Signature signature{};

  const Member* FindById(std::string_view node_id) const;
  const Member* FindByCurveKey(const CurvePublicKey& key) const;

  bool operator==(const MemberList&) const = default;
};

// "tcp://A.B.C.D:PORT" or "tcp://[IPv6]:PORT", numeric only, port 1..65535.
bool IsValidEndpoint(std::string_view endpoint);

// Limits, charsets, endpoints, uniqueness. InvalidArgument naming the member.
Status ValidateMemberListFields(const MemberList& list);

// The exact bytes the CA signs: domain tag + msgpack of fields 0..4.
Result<std::string> MemberListSignedBytes(const MemberList& list);

Result<std::string> EncodeMemberList(const MemberList& list);
Result<MemberList> DecodeMemberList(std::string_view bytes);

// OK when `list` is well formed, issued by `ca` and its signature verifies;
// PermissionDenied for another CA, Corrupt for a bad signature or shape.
Status VerifyMemberList(const CaPublicKeys& ca, const MemberList& list);

}  // namespace mesh
