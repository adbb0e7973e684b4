#include "mesh/identity_store.h"

#include <sys/stat.h>

#include <cstdio>

#include "mesh/atomic_file.h"
#include "mesh/msgpack_strict.h"

namespace mesh {
namespace {

using internal::FieldReader;
using internal::Packer;
using internal::StringSink;

constexpr std::string_view kNodeTag = "stratoswarm-node-identity";
constexpr std::string_view kCaTag = "stratoswarm-ca-identity";
constexpr std::uint32_t kIdentityFileVersion = 1;
constexpr std::size_t kNodeFields = 7;
constexpr std::size_t kCaFields = 4;

// Wipes a buffer that held secret keys when it goes out of scope.
struct WipeOnExit {
  std::string& s;
  ~WipeOnExit() {
    if (!s.empty()) SecureZero(s.data(), s.size());
  }
};

Status CheckTagAndVersion(const FieldReader& r, const msgpack::object& root, std::string_view op,
                          std::string_view tag, std::size_t fields) {
  if (root.type != msgpack::type::ARRAY || root.via.array.size < 2) {
    return Status::Corrupt(op, "not an identity file");
  }
  std::string got_tag;
  if (!r.Str(0, "tag", 64, got_tag).ok() || got_tag != tag) {
    return Status::Corrupt(op, "not a " + std::string(tag) + " file");
  }
  std::uint64_t version = 0;
  MESH_RETURN_IF_ERROR(r.Uint(1, "version", version));
  if (version != kIdentityFileVersion) {
    return Status::Unsupported(op, "file version " + std::to_string(version) +
                                       " (this build speaks " +
                                       std::to_string(kIdentityFileVersion) + ")");
  }
  return r.ExpectArray(fields, "identity file");
}

template <std::size_t N>
Status ReadSecret(const FieldReader& r, std::size_t i, std::string_view name, SecretBytes<N>& out) {
  return r.BinRaw(i, name, out.data(), N);
}

Status CheckFileMode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::FromErrno("stat " + path, errno);
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::PermissionDenied(
        "load " + path,
        std::string("mode ") + mode + " lets others read secret keys; chmod 600 " + path);
  }
  return Status::Ok();
}

// Identity files are msgpack || BLAKE2b-256(msgpack): without the checksum a
// damaged CA file would still decode — into a different, valid CA.
Result<std::string> AppendChecksum(std::string body) {
  auto sum = Hash({std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(body.data()),
                                                 body.size())});
  if (!sum.ok()) {
    SecureZero(body.data(), body.size());
    return sum.status();
  }
  body.append(reinterpret_cast<const char*>(sum->data()), sum->size());
  return body;
}

Result<std::string_view> CheckChecksum(std::string_view bytes, std::string_view op) {
  if (bytes.size() <= kFingerprintBytes) return Status::Corrupt(op, "file too short (truncated?)");
  const std::string_view body = bytes.substr(0, bytes.size() - kFingerprintBytes);
  auto sum = Hash({std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(body.data()),
                                                 body.size())});
  if (!sum.ok()) return sum.status();
  const auto* stored = reinterpret_cast<const std::uint8_t*>(bytes.data() + body.size());
  if (!ConstantTimeEquals(*sum, std::span<const std::uint8_t>(stored, kFingerprintBytes))) {
    return Status::Corrupt(op, "checksum mismatch (file damaged or truncated)");
  }
  return body;
}

Status WithPath(const Status& s, const std::string& path) {
  if (s.ok()) return s;
  switch (s.code()) {
    case StatusCode::kUnsupported:
      return Status::Unsupported("load " + path, s.message());
    default:
      return Status::Corrupt("load " + path, s.message());
  }
}

}  // namespace

Result<NodeKeys> GenerateNodeKeys() {
  auto signing = GenerateEd25519KeyPair();
  if (!signing.ok()) return signing.status();
  auto curve = GenerateCurveKeyPair();
  if (!curve.ok()) return curve.status();
  return NodeKeys{std::move(*signing), std::move(*curve)};
}

Result<std::string> EncodeNodeIdentity(const NodeIdentity& id) {
  auto cert = EncodeCertificate(id.certificate);
  if (!cert.ok()) return cert.status();
  std::string out;
  // One allocation up front: a reallocation would leave secret bytes behind
  // in freed memory.
  out.reserve(kMaxIdentityFileBytes);
  StringSink sink{out};
  Packer pk(sink);
  pk.pack_array(kNodeFields);
  internal::PackStr(pk, kNodeTag);
  pk.pack_uint32(kIdentityFileVersion);
  internal::PackBin(pk, id.keys.signing.secret_key.data(), kEd25519SecretKeyBytes);
  internal::PackBin(pk, id.keys.curve.secret_key.data(), kCurveKeyBytes);
  internal::PackBin(pk, cert->data(), cert->size());
  internal::PackBin(pk, id.ca.signing_key);
  internal::PackBin(pk, id.ca.curve_key);
  return AppendChecksum(std::move(out));
}

Result<NodeIdentity> DecodeNodeIdentity(std::string_view bytes) {
  constexpr std::string_view op = "decode node identity";
  msgpack::object_handle handle;
  const internal::Limits limits{kMaxIdentityFileBytes, kNodeFields, 0, 64, kMaxCertificateBytes, 1};
  auto body = CheckChecksum(bytes, op);
  if (!body.ok()) return body.status();
  MESH_RETURN_IF_ERROR(internal::Unpack(*body, limits, op, handle));
  const msgpack::object& root = handle.get();
  FieldReader r(op, root);
  MESH_RETURN_IF_ERROR(CheckTagAndVersion(r, root, op, kNodeTag, kNodeFields));

  NodeIdentity id;
  MESH_RETURN_IF_ERROR(ReadSecret(r, 2, "signing secret key", id.keys.signing.secret_key));
  MESH_RETURN_IF_ERROR(ReadSecret(r, 3, "curve secret key", id.keys.curve.secret_key));
  const msgpack::object& cert_bin = r.at(4);
  if (cert_bin.type != msgpack::type::BIN) return r.Bad("certificate", "is not binary");
  auto cert = DecodeCertificate(std::string_view(cert_bin.via.bin.ptr, cert_bin.via.bin.size));
  if (!cert.ok()) return Status(cert.status());
  id.certificate = std::move(*cert);
  MESH_RETURN_IF_ERROR(r.Bin(5, "CA signing key", id.ca.signing_key));
  MESH_RETURN_IF_ERROR(r.Bin(6, "CA curve key", id.ca.curve_key));

  auto ed_pk = Ed25519PublicFromSecret(id.keys.signing.secret_key);
  if (!ed_pk.ok()) return Status::Corrupt(op, ed_pk.status().message());
  auto curve_pk = CurvePublicFromSecret(id.keys.curve.secret_key);
  if (!curve_pk.ok()) return Status::Corrupt(op, curve_pk.status().message());
  id.keys.signing.public_key = *ed_pk;
  id.keys.curve.public_key = *curve_pk;
  if (id.certificate.signing_key != *ed_pk) {
    return Status::Corrupt(op, "the certificate's signing key is not this node's key");
  }
  if (id.certificate.curve_key != *curve_pk) {
    return Status::Corrupt(op, "the certificate's CURVE key is not this node's key");
  }
  if (Status s = VerifyCertificateSignature(id.ca, id.certificate); !s.ok()) {
    return Status::Corrupt(op, "certificate does not verify against the pinned CA: " + s.message());
  }
  return id;
}

Result<std::string> EncodeCaIdentity(const CertificateAuthority& ca) {
  std::string out;
  // One allocation up front: a reallocation would leave secret bytes behind
  // in freed memory.
  out.reserve(kMaxIdentityFileBytes);
  StringSink sink{out};
  Packer pk(sink);
  pk.pack_array(kCaFields);
  internal::PackStr(pk, kCaTag);
  pk.pack_uint32(kIdentityFileVersion);
  internal::PackBin(pk, ca.signing_keys().secret_key.data(), kEd25519SecretKeyBytes);
  internal::PackBin(pk, ca.curve_keys().secret_key.data(), kCurveKeyBytes);
  return AppendChecksum(std::move(out));
}

Result<CertificateAuthority> DecodeCaIdentity(std::string_view bytes) {
  constexpr std::string_view op = "decode CA identity";
  msgpack::object_handle handle;
  const internal::Limits limits{kMaxIdentityFileBytes, kCaFields, 0, 64, kEd25519SecretKeyBytes, 1};
  auto body = CheckChecksum(bytes, op);
  if (!body.ok()) return body.status();
  MESH_RETURN_IF_ERROR(internal::Unpack(*body, limits, op, handle));
  const msgpack::object& root = handle.get();
  FieldReader r(op, root);
  MESH_RETURN_IF_ERROR(CheckTagAndVersion(r, root, op, kCaTag, kCaFields));
  Ed25519KeyPair signing;
  CurveKeyPair curve;
  MESH_RETURN_IF_ERROR(ReadSecret(r, 2, "CA signing secret key", signing.secret_key));
  MESH_RETURN_IF_ERROR(ReadSecret(r, 3, "CA curve secret key", curve.secret_key));
  auto ed_pk = Ed25519PublicFromSecret(signing.secret_key);
  if (!ed_pk.ok()) return Status::Corrupt(op, ed_pk.status().message());
  auto curve_pk = CurvePublicFromSecret(curve.secret_key);
  if (!curve_pk.ok()) return Status::Corrupt(op, curve_pk.status().message());
  signing.public_key = *ed_pk;
  curve.public_key = *curve_pk;
  return CertificateAuthority::FromKeys(std::move(signing), std::move(curve));
}

Status SaveNodeIdentity(const std::string& state_dir, const NodeIdentity& identity) {
  auto bytes = EncodeNodeIdentity(identity);
  if (!bytes.ok()) return bytes.status();
  WipeOnExit wipe{*bytes};
  MESH_RETURN_IF_ERROR(EnsureDirectory(state_dir, 0700));
  return WriteFileAtomic(state_dir + "/" + kNodeIdentityFileName, *bytes, 0600);
}

Result<NodeIdentity> LoadNodeIdentity(const std::string& state_dir) {
  const std::string path = state_dir + "/" + kNodeIdentityFileName;
  auto bytes = ReadFileLimited(path, kMaxIdentityFileBytes);
  if (!bytes.ok()) return bytes.status();
  WipeOnExit wipe{*bytes};
  MESH_RETURN_IF_ERROR(CheckFileMode(path));
  auto id = DecodeNodeIdentity(*bytes);
  if (!id.ok()) return WithPath(id.status(), path);
  return id;
}

Status SaveCaIdentity(const std::string& state_dir, const CertificateAuthority& ca) {
  auto bytes = EncodeCaIdentity(ca);
  if (!bytes.ok()) return bytes.status();
  WipeOnExit wipe{*bytes};
  MESH_RETURN_IF_ERROR(EnsureDirectory(state_dir, 0700));
  return WriteFileAtomic(state_dir + "/" + kCaIdentityFileName, *bytes, 0600);
}

Result<CertificateAuthority> LoadCaIdentity(const std::string& state_dir) {
  const std::string path = state_dir + "/" + kCaIdentityFileName;
  auto bytes = ReadFileLimited(path, kMaxIdentityFileBytes);
  if (!bytes.ok()) return bytes.status();
  WipeOnExit wipe{*bytes};
  MESH_RETURN_IF_ERROR(CheckFileMode(path));
  auto ca = DecodeCaIdentity(*bytes);
  if (!ca.ok()) return WithPath(ca.status(), path);
  return ca;
}

}  // namespace mesh
