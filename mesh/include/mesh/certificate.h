// NodeCertificate: the CA's signed statement "this node id, name and role
// owns these two public keys from not_before to not_after".
//
// Encoding (docs/wire_format.md, "Node certificate"): a msgpack array of 11
// fields; the CA's Ed25519 signature covers a domain tag followed by the
// msgpack encoding of the first 10 fields (everything but the signature).
// The encoder is canonical, so Decode(Encode(c)) == c and verification
// re-encodes the fields it was given: any changed field breaks the signature.
//
// DecodeCertificate() never throws and never trusts its input: garbage,
// truncation, oversize, wrong shapes and values outside the limits below come
// back as a Corrupt (or Unsupported, for another version) Status.
//
// Verification (CheckCertificate) answers, in this order: malformed → wrong
// CA (issuer fingerprint) → bad signature (tampered) → not yet valid →
// expired, each with its own verdict and a one-line message a user can act
// on.
//
// Thread safety: values and free functions; safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "mesh/crypto.h"
#include "mesh/status.h"

namespace mesh {

inline constexpr std::uint32_t kCertificateVersion = 1;
inline constexpr std::size_t kMaxNodeIdBytes = 64;  // same bound as an envelope's sender
inline constexpr std::size_t kMaxNodeNameBytes = 64;
inline constexpr std::size_t kMaxLabels = 32;
inline constexpr std::size_t kMaxLabelKeyBytes = 63;
inline constexpr std::size_t kMaxLabelValueBytes = 255;
inline constexpr std::size_t kMaxCertificateBytes = 16 * 1024;

// What a node may do in the cluster. Encoded as its name ("worker").
enum class NodeRole : std::uint8_t {
  kWorker = 0,   // a swarmlet: runs workloads
  kPrimary = 1,  // the GPU peer running `serve`: CA, scheduler, state
};
std::string_view NodeRoleName(NodeRole role);
Result<NodeRole> ParseNodeRole(std::string_view name);

// Node names: 1..kMaxNodeNameBytes characters of [A-Za-z0-9._-], safe in a
// log line, a table or a file name.
bool IsValidNodeName(std::string_view name);
// A name from an untrusted request, safe to log: unchanged when valid, else
// every other byte as '?' and at most 64 bytes kept (then "...").
std::string LoggableName(std::string_view name);

// The cluster's public identity: the CA's Ed25519 key (signs certificates and
// member lists) and the primary's CURVE server key. A join token pins both
// through their fingerprint.
struct CaPublicKeys {
  Ed25519PublicKey signing_key{};
  CurvePublicKey curve_key{};

  // BLAKE2b-256(signing_key || curve_key).
  Result<Fingerprint> ComputeFingerprint() const;
  bool operator==(const CaPublicKeys&) const = default;
};

struct NodeCertificate {
  std::uint32_t version = kCertificateVersion;
  std::string node_id;  // 1..64 bytes of [A-Za-z0-9._-]
  std::string name;     // 1..64 bytes of [A-Za-z0-9._-], e.g. "rpi-1"
  NodeRole role = NodeRole::kWorker;
  std::map<std::string, std::string>
      labels;                      // ≤ 32; key 1..63 of [A-Za-z0-9._/-], value ≤ 255 printable
  Ed25519PublicKey signing_key{};  // the node's Ed25519 key (votes, messages)
  CurvePublicKey curve_key{};      // the node's CURVE key (transport)
  std::int64_t not_before_ns = 0;  // wall clock, ns since the Unix epoch, inclusive
  std::int64_t not_after_ns = 0;   // exclusive; must be > not_before_ns
  Fingerprint issuer{};            // fingerprint of the CA that signed it
  Ed25519Signature signature{};    // CA signature over the fields above

  bool operator==(const NodeCertificate&) const = default;
};

// Structural checks shared by the encoder and decoder (limits, charsets,
// not_before < not_after). InvalidArgument naming the field.
Status ValidateCertificateFields(const NodeCertificate& cert);

// The exact bytes the CA signs: domain tag + msgpack of fields 0..9.
Result<std::string> CertificateSignedBytes(const NodeCertificate& cert);

Result<std::string> EncodeCertificate(const NodeCertificate& cert);
Result<NodeCertificate> DecodeCertificate(std::string_view bytes);

enum class CertificateVerdict : std::uint8_t {
  kValid,
  kMalformed,     // fields break the limits (Corrupt)
  kWrongCa,       // issued by another cluster's CA (PermissionDenied)
  kBadSignature,  // tampered or forged (Corrupt)
  kNotYetValid,   // now < not_before (Unavailable: the clock may be behind)
  kExpired,       // now >= not_after (PermissionDenied: rejoin with a new token)
};

struct CertificateCheck {
  CertificateVerdict verdict = CertificateVerdict::kValid;
  Status status;  // OK iff verdict == kValid
};

// Full verification at wall time `now_wall_ns`.
CertificateCheck CheckCertificate(const CaPublicKeys& ca, const NodeCertificate& cert,
                                  std::int64_t now_wall_ns);
Status VerifyCertificate(const CaPublicKeys& ca, const NodeCertificate& cert,
                         std::int64_t now_wall_ns);
// Everything but the validity window: for loading a stored identity whose
// certificate may have expired (the node then rejoins or renews).
Status VerifyCertificateSignature(const CaPublicKeys& ca, const NodeCertificate& cert);

// "2026-11-27T10:00:00Z" (seconds precision, UTC) for messages users read.
std::string FormatWallTime(std::int64_t wall_ns);

}  // namespace mesh
