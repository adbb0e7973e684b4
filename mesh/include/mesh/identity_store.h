// Identity files in a state dir: a node's keys + certificate + pinned CA, and
// the primary's CA keys. Both hold secrets, so both are written with
// WriteFileAtomic at mode 0600 (nothing half-written on failure), and a load
// refuses a file that group or others may read.
//
// Loading checks everything it can without a clock: the msgpack shape, that
// each public key matches its secret, that the certificate carries this
// node's keys and is signed by the pinned CA. An expired certificate still
// loads (the node renews or rejoins); the caller checks the window with
// VerifyCertificate. Damaged or truncated files come back Corrupt naming the
// file — never a crash.
//
// File formats are in docs/wire_format.md ("Identity files").
//
// Thread safety: free functions; values.
#pragma once

#include <string>
#include <string_view>

#include "mesh/certificate.h"
#include "mesh/certificate_authority.h"
#include "mesh/crypto.h"
#include "mesh/status.h"

namespace mesh {

inline constexpr char kNodeIdentityFileName[] = "node.identity";
inline constexpr char kCaIdentityFileName[] = "ca.identity";
inline constexpr std::size_t kMaxIdentityFileBytes = 32 * 1024;

// A node's own key pairs, generated before it asks for a certificate.
struct NodeKeys {
  Ed25519KeyPair signing;
  CurveKeyPair curve;
  bool operator==(const NodeKeys&) const = default;
};
Result<NodeKeys> GenerateNodeKeys();

struct NodeIdentity {
  NodeKeys keys;
  NodeCertificate certificate;  // issued for keys' public halves
  CaPublicKeys ca;              // the cluster CA pinned at join time
  bool operator==(const NodeIdentity&) const = default;
};

// Encoded bytes hold secret keys: callers should SecureZero them when done.
Result<std::string> EncodeNodeIdentity(const NodeIdentity& identity);
Result<NodeIdentity> DecodeNodeIdentity(std::string_view bytes);
Result<std::string> EncodeCaIdentity(const CertificateAuthority& ca);
Result<CertificateAuthority> DecodeCaIdentity(std::string_view bytes);

// <state_dir>/node.identity; the directory is created (0700) if missing.
Status SaveNodeIdentity(const std::string& state_dir, const NodeIdentity& identity);
Result<NodeIdentity> LoadNodeIdentity(const std::string& state_dir);
// <state_dir>/ca.identity.
Status SaveCaIdentity(const std::string& state_dir, const CertificateAuthority& ca);
Result<CertificateAuthority> LoadCaIdentity(const std::string& state_dir);

}  // namespace mesh
