#include "mesh/certificate.h"

#include <ctime>

#include "mesh/msgpack_strict.h"
#include "name_rules.h"

namespace mesh {
namespace {

using internal::FieldReader;
using internal::Packer;
using internal::StringSink;

constexpr std::size_t kSignedFields = 10;
constexpr std::size_t kAllFields = 11;
// Domain separation: a certificate signature can never be replayed as a
// member-list or vote signature made with the same CA key.
constexpr std::string_view kSignatureDomain{"stratoswarm/node-certificate/v1\0", 32};

constexpr std::string_view kDecodeOp = "decode certificate";

void PackSignedFields(Packer& pk, const NodeCertificate& c) {
  pk.pack_uint32(c.version);
  internal::PackStr(pk, c.node_id);
  internal::PackStr(pk, c.name);
  internal::PackStr(pk, NodeRoleName(c.role));
  pk.pack_map(static_cast<std::uint32_t>(c.labels.size()));
  for (const auto& [k, v] : c.labels) {
    internal::PackStr(pk, k);
    internal::PackStr(pk, v);
  }
  internal::PackBin(pk, c.signing_key);
  internal::PackBin(pk, c.curve_key);
  pk.pack_int64(c.not_before_ns);
  pk.pack_int64(c.not_after_ns);
  internal::PackBin(pk, c.issuer);
}

// Who the message is about: the node's name when it is printable, else a
// generic operation name.
std::string Subject(const NodeCertificate& cert) {
  if (internal::IsValidName(cert.name, kMaxNodeNameBytes)) return "certificate for " + cert.name;
  return "verify certificate";
}

std::string ShortFingerprint(const Fingerprint& fp) {
  return ToHex(std::span<const std::uint8_t>(fp.data(), 8));
}

}  // namespace

std::string_view NodeRoleName(NodeRole role) {
  switch (role) {
    case NodeRole::kWorker:
      return "worker";
    case NodeRole::kPrimary:
      return "primary";
  }
  return "unknown";
}

bool IsValidNodeName(std::string_view name) { return internal::IsValidName(name, kMaxNodeNameBytes); }

std::string LoggableName(std::string_view name) {
  if (IsValidNodeName(name)) return std::string(name);
  std::string out(name.substr(0, 64));
  for (char& c : out) {
    if (!internal::IsNameChar(c)) c = '?';
  }
  if (out.empty()) out = "?";
  if (name.size() > 64) out += "...";
  return out;
}

Result<NodeRole> ParseNodeRole(std::string_view name) {
  if (name == "worker") return NodeRole::kWorker;
  if (name == "primary") return NodeRole::kPrimary;
  return Status::InvalidArgument("parse node role", "unknown role '" + internal::Printable(name) +
                                                        "' (expected worker or primary)");
}

Result<Fingerprint> CaPublicKeys::ComputeFingerprint() const {
  return Hash(
      {std::span<const std::uint8_t>(signing_key), std::span<const std::uint8_t>(curve_key)});
}

Status ValidateCertificateFields(const NodeCertificate& c) {
  constexpr std::string_view op = "certificate";
  if (c.version != kCertificateVersion) {
    return Status::Unsupported(op, "version " + std::to_string(c.version) + " (this build speaks " +
                                       std::to_string(kCertificateVersion) + ")");
  }
  if (!internal::IsValidName(c.node_id, kMaxNodeIdBytes)) {
    return Status::InvalidArgument(op, "node id must be 1.." + std::to_string(kMaxNodeIdBytes) +
                                           " characters of [A-Za-z0-9._-]");
  }
  if (!internal::IsValidName(c.name, kMaxNodeNameBytes)) {
    return Status::InvalidArgument(op, "name must be 1.." + std::to_string(kMaxNodeNameBytes) +
                                           " characters of [A-Za-z0-9._-]");
  }
  if (NodeRoleName(c.role) == "unknown") return Status::InvalidArgument(op, "unknown role");
  if (c.labels.size() > kMaxLabels) {
    return Status::InvalidArgument(op, "more than " + std::to_string(kMaxLabels) + " labels");
  }
  for (const auto& [k, v] : c.labels) {
    if (!internal::IsValidLabelKey(k, kMaxLabelKeyBytes)) {
      return Status::InvalidArgument(op, "label key '" + internal::Printable(k) + "' must be 1.." +
                                             std::to_string(kMaxLabelKeyBytes) +
                                             " characters of [A-Za-z0-9._/-]");
    }
    if (!internal::IsPrintable(v, kMaxLabelValueBytes)) {
      return Status::InvalidArgument(op, "label '" + k + "' value must be at most " +
                                             std::to_string(kMaxLabelValueBytes) +
                                             " printable bytes");
    }
  }
  if (c.not_before_ns >= c.not_after_ns) {
    return Status::InvalidArgument(op, "not_before must be earlier than not_after");
  }
  return Status::Ok();
}

Result<std::string> CertificateSignedBytes(const NodeCertificate& cert) {
  MESH_RETURN_IF_ERROR(ValidateCertificateFields(cert));
  std::string out(kSignatureDomain);
  StringSink sink{out};
  Packer pk(sink);
  pk.pack_array(kSignedFields);
  PackSignedFields(pk, cert);
  return out;
}

Result<std::string> EncodeCertificate(const NodeCertificate& cert) {
  MESH_RETURN_IF_ERROR(ValidateCertificateFields(cert));
  std::string out;
  out.reserve(256);
  StringSink sink{out};
  Packer pk(sink);
  pk.pack_array(kAllFields);
  PackSignedFields(pk, cert);
  internal::PackBin(pk, cert.signature);
  return out;
}

Result<NodeCertificate> DecodeCertificate(std::string_view bytes) {
  msgpack::object_handle handle;
  // Strings are bounded by the label value limit (the longest field); the
  // bins by the signature.
  const internal::Limits limits{kMaxCertificateBytes,   kAllFields, kMaxLabels, kMaxLabelValueBytes,
                                kEd25519SignatureBytes, 2};
  MESH_RETURN_IF_ERROR(internal::Unpack(bytes, limits, kDecodeOp, handle));
  const msgpack::object& root = handle.get();
  FieldReader r(kDecodeOp, root);
  if (root.type != msgpack::type::ARRAY || root.via.array.size == 0) {
    return Status::Corrupt(kDecodeOp, "not a non-empty array");
  }
  std::uint64_t version = 0;
  MESH_RETURN_IF_ERROR(r.Uint(0, "version", version));
  if (version != kCertificateVersion) {
    return Status::Unsupported(kDecodeOp, "certificate version " + std::to_string(version) +
                                              " (this build speaks " +
                                              std::to_string(kCertificateVersion) + ")");
  }
  MESH_RETURN_IF_ERROR(r.ExpectArray(kAllFields, "certificate"));

  NodeCertificate c;
  c.version = static_cast<std::uint32_t>(version);
  MESH_RETURN_IF_ERROR(r.Str(1, "node id", kMaxNodeIdBytes, c.node_id));
  MESH_RETURN_IF_ERROR(r.Str(2, "name", kMaxNodeNameBytes, c.name));
  std::string role;
  MESH_RETURN_IF_ERROR(r.Str(3, "role", 16, role));
  auto parsed_role = ParseNodeRole(role);
  if (!parsed_role.ok()) return Status::Corrupt(kDecodeOp, parsed_role.status().message());
  c.role = *parsed_role;

  const msgpack::object& labels = r.at(4);
  if (labels.type != msgpack::type::MAP) return r.Bad("labels", "is not a map");
  for (std::uint32_t i = 0; i < labels.via.map.size; ++i) {
    std::string k, v;
    MESH_RETURN_IF_ERROR(r.StrOf(labels.via.map.ptr[i].key, "label key", kMaxLabelKeyBytes, k));
    MESH_RETURN_IF_ERROR(r.StrOf(labels.via.map.ptr[i].val, "label value", kMaxLabelValueBytes, v));
    if (!c.labels.emplace(std::move(k), std::move(v)).second)
      return r.Bad("labels", "repeat a key");
  }
  MESH_RETURN_IF_ERROR(r.Bin(5, "signing key", c.signing_key));
  MESH_RETURN_IF_ERROR(r.Bin(6, "curve key", c.curve_key));
  MESH_RETURN_IF_ERROR(r.Int(7, "not_before", c.not_before_ns));
  MESH_RETURN_IF_ERROR(r.Int(8, "not_after", c.not_after_ns));
  MESH_RETURN_IF_ERROR(r.Bin(9, "issuer", c.issuer));
  MESH_RETURN_IF_ERROR(r.Bin(10, "signature", c.signature));

  if (Status s = ValidateCertificateFields(c); !s.ok())
    return Status::Corrupt(kDecodeOp, s.message());
  return c;
}

CertificateCheck CheckCertificate(const CaPublicKeys& ca, const NodeCertificate& cert,
                                  std::int64_t now_wall_ns) {
  const std::string subject = Subject(cert);
  auto signed_bytes = CertificateSignedBytes(cert);
  if (!signed_bytes.ok()) {
    return {CertificateVerdict::kMalformed,
            Status::Corrupt(subject, signed_bytes.status().message())};
  }
  auto ca_fp = ca.ComputeFingerprint();
  if (!ca_fp.ok()) return {CertificateVerdict::kMalformed, ca_fp.status()};
  if (!ConstantTimeEquals(cert.issuer, *ca_fp)) {
    return {
        CertificateVerdict::kWrongCa,
        Status::PermissionDenied(
            subject, "issued by CA " + ShortFingerprint(cert.issuer) + "…, not this cluster's CA " +
                         ShortFingerprint(*ca_fp) + "…; join with a token from this cluster")};
  }
  if (!VerifySignature(ca.signing_key, *signed_bytes, cert.signature).ok()) {
    return {CertificateVerdict::kBadSignature,
            Status::Corrupt(subject, "CA signature does not verify (tampered or forged)")};
  }
  if (now_wall_ns < cert.not_before_ns) {
    return {CertificateVerdict::kNotYetValid,
            Status::Unavailable(subject, "not valid before " + FormatWallTime(cert.not_before_ns) +
                                             " (now " + FormatWallTime(now_wall_ns) +
                                             "); check this machine's clock")};
  }
  if (now_wall_ns >= cert.not_after_ns) {
    return {CertificateVerdict::kExpired,
            Status::PermissionDenied(
                subject, "expired at " + FormatWallTime(cert.not_after_ns) +
                             "; rejoin with a new token: swarmlet join --token <TOKEN>")};
  }
  return {CertificateVerdict::kValid, Status::Ok()};
}

Status VerifyCertificate(const CaPublicKeys& ca, const NodeCertificate& cert,
                         std::int64_t now_wall_ns) {
  return CheckCertificate(ca, cert, now_wall_ns).status;
}

Status VerifyCertificateSignature(const CaPublicKeys& ca, const NodeCertificate& cert) {
  // Any instant inside the window passes the time checks.
  CertificateCheck check = CheckCertificate(ca, cert, cert.not_before_ns);
  return check.status;
}

std::string FormatWallTime(std::int64_t wall_ns) {
  std::int64_t secs = wall_ns / 1'000'000'000;
  if (wall_ns % 1'000'000'000 < 0) --secs;  // floor, for instants before 1970
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return std::to_string(wall_ns) + "ns";
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (n == 0) return std::to_string(wall_ns) + "ns";
  return std::string(buf, n);
}

}  // namespace mesh
