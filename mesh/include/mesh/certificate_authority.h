// CertificateAuthority: the cluster's root of trust, held by the primary.
//
// It owns the CA's Ed25519 key pair (signs node certificates and member
// lists) and the primary's CURVE key pair (its transport identity). Its
// fingerprint, BLAKE2b-256(ed25519 public || curve public) in hex, is what a
// join token pins: `SWMTKN-1-<fingerprint hex>-<secret>`.
//
// Thread safety: after construction every const method may be called from
// any thread at once (signing reads the keys only).
#pragma once

#include <string>

#include "mesh/certificate.h"
#include "mesh/crypto.h"
#include "mesh/member_list.h"
#include "mesh/status.h"

namespace mesh {

class CertificateAuthority {
 public:
  // A new cluster identity with fresh keys.
  static Result<CertificateAuthority> Create();
  // From stored keys; Corrupt when a public key does not match its secret.
  static Result<CertificateAuthority> FromKeys(Ed25519KeyPair signing, CurveKeyPair curve);

  const CaPublicKeys& public_keys() const { return public_keys_; }
  const Ed25519KeyPair& signing_keys() const { return signing_; }
  const CurveKeyPair& curve_keys() const { return curve_; }
  const Fingerprint& fingerprint() const { return fingerprint_; }
  std::string FingerprintHex() const { return ToHex(fingerprint_); }

  // Sets `cert.issuer` to this CA and signs it. InvalidArgument (and `cert`
  // unchanged) when its fields break the certificate rules.
  Status SignCertificate(NodeCertificate& cert) const;
  // Sets `list.issuer` and signs it. InvalidArgument when malformed.
  Status SignMemberList(MemberList& list) const;

 private:
  CertificateAuthority(Ed25519KeyPair signing, CurveKeyPair curve, Fingerprint fp);

  Ed25519KeyPair signing_;
  CurveKeyPair curve_;
  CaPublicKeys public_keys_;
  Fingerprint fingerprint_{};
};

}  // namespace mesh
