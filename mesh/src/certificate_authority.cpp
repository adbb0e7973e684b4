#include "mesh/certificate_authority.h"

#include <utility>

namespace mesh {

CertificateAuthority::CertificateAuthority(Ed25519KeyPair signing, CurveKeyPair curve,
                                           Fingerprint fp)
    : signing_(std::move(signing)),
      curve_(std::move(curve)),
      public_keys_{signing_.public_key, curve_.public_key},
      fingerprint_(fp) {}

Result<CertificateAuthority> CertificateAuthority::Create() {
  auto signing = GenerateEd25519KeyPair();
  if (!signing.ok()) return signing.status();
  auto curve = GenerateCurveKeyPair();
  if (!curve.ok()) return curve.status();
  return FromKeys(std::move(*signing), std::move(*curve));
}

Result<CertificateAuthority> CertificateAuthority::FromKeys(Ed25519KeyPair signing,
                                                            CurveKeyPair curve) {
  auto ed_pk = Ed25519PublicFromSecret(signing.secret_key);
  if (!ed_pk.ok()) return Status::Corrupt("CA signing key", ed_pk.status().message());
  if (*ed_pk != signing.public_key)
    return Status::Corrupt("CA signing key", "public key does not match secret key");
  auto curve_pk = CurvePublicFromSecret(curve.secret_key);
  if (!curve_pk.ok()) return Status::Corrupt("CA curve key", curve_pk.status().message());
  if (*curve_pk != curve.public_key)
    return Status::Corrupt("CA curve key", "public key does not match secret key");
  auto fp = CaPublicKeys{signing.public_key, curve.public_key}.ComputeFingerprint();
  if (!fp.ok()) return fp.status();
  return CertificateAuthority(std::move(signing), std::move(curve), *fp);
}

Status CertificateAuthority::SignCertificate(NodeCertificate& cert) const {
  NodeCertificate signed_cert = cert;
  signed_cert.issuer = fingerprint_;
  auto bytes = CertificateSignedBytes(signed_cert);
  if (!bytes.ok()) return Status::InvalidArgument("sign certificate", bytes.status().message());
  auto sig = Sign(signing_.secret_key, *bytes);
  if (!sig.ok()) return sig.status();
  signed_cert.signature = *sig;
  cert = std::move(signed_cert);
  return Status::Ok();
}

Status CertificateAuthority::SignMemberList(MemberList& list) const {
  const Fingerprint old_issuer = list.issuer;
  list.issuer = fingerprint_;
  auto bytes = MemberListSignedBytes(list);
  if (!bytes.ok()) {
    list.issuer = old_issuer;
    return Status::InvalidArgument("sign member list", bytes.status().message());
  }
  auto sig = Sign(signing_.secret_key, *bytes);
  if (!sig.ok()) {
    list.issuer = old_issuer;
    return sig.status();
  }
  list.signature = *sig;
  return Status::Ok();
}

}  // namespace mesh
