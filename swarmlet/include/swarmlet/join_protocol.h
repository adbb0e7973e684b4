// The join protocol between `swarmlet join` and the GPU peer (docs/join.md).
//
// 1. Keys. From mDNS TXT records or, with --cluster IP[:PORT], from the
//    bootstrap endpoint: one line with the cluster's PUBLIC keys and ports.
//    The swarmlet accepts them only if they hash to the fingerprint in its
//    token (CheckFingerprint) — a primary of another cluster, or a man in the
//    middle, is refused before anything secret is sent.
// 2. Certificate exchange over CURVE (the swarmlet pins the primary's CURVE
//    key): JoinRequest {token secret, nonce, keys, name, labels, hardware
//    profile, mesh endpoint}, signed with the node's new Ed25519 key;
//    JoinResponse {certificate, signed member list} or a refusal reason.
//
// Both messages travel as the payload of a mesh envelope (kJoinRequest,
// kJoinResponse); encodings are strict msgpack, decoders never throw.
//
// Thread safety: values and free functions.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "mesh/certificate.h"
#include "mesh/identity_store.h"
#include "mesh/member_list.h"
#include "mesh/status.h"
#include "swarmlet/hwprofile.h"

namespace swarmlet {

inline constexpr int kDefaultMeshPort = 7946;
inline constexpr int kDefaultJoinPort = 7947;
inline constexpr int kDefaultBootstrapPort = 7948;
inline constexpr std::uint32_t kJoinProtocolVersion = 1;

// What the bootstrap endpoint serves and the TXT records carry.
struct BootstrapInfo {
  mesh::CaPublicKeys keys;
  int join_port = kDefaultJoinPort;
  int mesh_port = kDefaultMeshPort;
};

// "STRATOSWARM-BOOTSTRAP 1 <ca ed25519 hex> <curve hex> <join port> <mesh port>\n"
std::string EncodeBootstrapLine(const BootstrapInfo& info);
mesh::Result<BootstrapInfo> ParseBootstrapLine(std::string_view line);
// Connects to ip:port (numeric IPv4) and reads the line. Unavailable when
// refused or unreachable within `timeout`.
mesh::Result<BootstrapInfo> FetchBootstrap(const std::string& ip, int port,
                                           std::chrono::milliseconds timeout);

// mDNS TXT records <-> BootstrapInfo (v, fp, ca, curve, join, mesh).
std::map<std::string, std::string> BootstrapTxt(const BootstrapInfo& info);
mesh::Result<BootstrapInfo> BootstrapFromTxt(const std::map<std::string, std::string>& txt);

// OK when `keys` hash to `fingerprint_hex`; PermissionDenied otherwise, with
// both fingerprints' prefixes so the user sees which cluster answered.
mesh::Status CheckFingerprint(const mesh::CaPublicKeys& keys, std::string_view fingerprint_hex);

struct JoinRequest {
  std::string token_secret;
  std::array<std::uint8_t, 16> nonce{};  // the primary refuses a nonce it has seen
  std::int64_t sent_ns = 0;              // swarmlet wall clock; too old is refused
  std::string name;
  std::map<std::string, std::string> labels;
  mesh::Ed25519PublicKey signing_key{};
  mesh::CurvePublicKey curve_key{};
  std::string mesh_endpoint;  // "tcp://IP:PORT" where this node's mesh ROUTER listens
  HardwareProfile profile;
  mesh::Ed25519Signature signature{};  // by signing_key over everything above

  bool operator==(const JoinRequest&) const = default;
};

struct JoinResponse {
  bool accepted = false;
  std::string error;  // why not, one line, when !accepted
  std::string cluster_id;
  mesh::NodeCertificate certificate;
  mesh::MemberList members;
  // Not encoded: the GPU peer's wall clock when it answered (the reply
  // envelope's sent_ns), set by ExchangeJoin. A Pi without a real-time clock
  // judges the certificate, and retries a request refused as stale, on it.
  std::int64_t peer_wall_ns = 0;

  bool operator==(const JoinResponse&) const = default;
};

// How a join refused for its timestamp starts (the GPU peer checks freshness
// on its own clock; the swarmlet then retries on the GPU peer's time).
inline constexpr std::string_view kJoinClockRefusal = "the join request is stale or from the future";

// The bytes the request signature covers (domain tag + msgpack of the fields).
mesh::Result<std::string> JoinRequestSignedBytes(const JoinRequest& request);
mesh::Result<std::string> EncodeJoinRequest(const JoinRequest& request);
mesh::Result<JoinRequest> DecodeJoinRequest(std::string_view bytes);
mesh::Result<std::string> EncodeJoinResponse(const JoinResponse& response);
mesh::Result<JoinResponse> DecodeJoinResponse(std::string_view bytes);

// One JoinRequest/JoinResponse over a CURVE DEALER that pins the primary's
// CURVE key (info.keys), to primary_ip:info.join_port. Unavailable when no
// answer comes within `timeout`; the refusal reason is in the response.
mesh::Result<JoinResponse> ExchangeJoin(const std::string& primary_ip, const BootstrapInfo& info,
                                        const mesh::NodeKeys& keys, const JoinRequest& request,
                                        std::chrono::milliseconds timeout);

// A node's id: "node-" + the first 12 hex digits of BLAKE2b(its Ed25519 key).
// Both sides derive it, so the swarmlet's mesh can start before its
// certificate arrives.
mesh::Result<std::string> NodeIdFor(const mesh::Ed25519PublicKey& signing_key);

// "k=v,k2=v2" -> map; InvalidArgument naming the bad pair.
mesh::Result<std::map<std::string, std::string>> ParseLabels(std::string_view text);

}  // namespace swarmlet
