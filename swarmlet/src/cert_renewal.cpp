#include "swarmlet/cert_renewal.h"

#include <algorithm>

#include "mesh/msgpack_strict.h"

namespace swarmlet {
namespace {

using mesh::Status;

// docs/wire_format.md ("Certificate renewal"); change both together.
constexpr std::uint64_t kRenewVersion = 1;
constexpr std::size_t kMaxErrorBytes = 1024;
const mesh::internal::Limits kRenewLimits{64, 2, 0, 0, 0, 1};
const mesh::internal::Limits kRenewedLimits{mesh::kMaxCertificateBytes + kMaxErrorBytes + 32, 3, 0,
                                            kMaxErrorBytes, mesh::kMaxCertificateBytes, 1};

constexpr std::int64_t kBackdateNs = std::chrono::duration_cast<std::chrono::nanoseconds>(kCertBackdate).count();

std::int64_t IssuedNs(const mesh::NodeCertificate& cert) {
  // A certificate backdated less than kCertBackdate (or not at all): its
  // not_before is the best guess of its issue time.
  const std::int64_t issued = cert.not_before_ns + kBackdateNs;
  return issued < cert.not_after_ns ? issued : cert.not_before_ns;
}

}  // namespace

mesh::Result<std::string> EncodeCertRenew(const CertRenewRequest& request) {
  std::string out;
  mesh::internal::StringSink sink{out};
  mesh::internal::Packer pk(sink);
  pk.pack_array(2);
  pk.pack_uint64(kRenewVersion);
  pk.pack_int64(request.not_after_ns);
  return out;
}

mesh::Result<CertRenewRequest> DecodeCertRenew(std::string_view bytes) {
  constexpr std::string_view op = "decode certificate renewal request";
  msgpack::object_handle handle;
  MESH_RETURN_IF_ERROR(mesh::internal::Unpack(bytes, kRenewLimits, op, handle));
  mesh::internal::FieldReader r(op, handle.get());
  MESH_RETURN_IF_ERROR(r.ExpectArray(2, "certificate renewal request"));
  std::uint64_t version = 0;
  MESH_RETURN_IF_ERROR(r.Uint(0, "version", version));
  if (version != kRenewVersion) return Status::Unsupported(op, "version " + std::to_string(version));
  CertRenewRequest request;
  MESH_RETURN_IF_ERROR(r.Int(1, "not_after", request.not_after_ns));
  return request;
}

mesh::Result<std::string> EncodeCertRenewed(const CertRenewResponse& response) {
  if (response.certificate.has_value() == !response.error.empty()) {
    return Status::InvalidArgument("encode certificate renewal", "needs exactly one of an error or a certificate");
  }
  if (response.error.size() > kMaxErrorBytes) {
    return Status::InvalidArgument("encode certificate renewal", "error longer than 1024 bytes");
  }
  std::string cert;
  if (response.certificate) {
    auto bytes = mesh::EncodeCertificate(*response.certificate);
    if (!bytes.ok()) return bytes.status();
    cert = std::move(*bytes);
  }
  std::string out;
  mesh::internal::StringSink sink{out};
  mesh::internal::Packer pk(sink);
  pk.pack_array(3);
  pk.pack_uint64(kRenewVersion);
  mesh::internal::PackStr(pk, response.error);
  mesh::internal::PackBin(pk, cert.data(), cert.size());
  return out;
}

mesh::Result<CertRenewResponse> DecodeCertRenewed(std::string_view bytes) {
  constexpr std::string_view op = "decode certificate renewal";
  msgpack::object_handle handle;
  MESH_RETURN_IF_ERROR(mesh::internal::Unpack(bytes, kRenewedLimits, op, handle));
  mesh::internal::FieldReader r(op, handle.get());
  MESH_RETURN_IF_ERROR(r.ExpectArray(3, "certificate renewal"));
  std::uint64_t version = 0;
  MESH_RETURN_IF_ERROR(r.Uint(0, "version", version));
  if (version != kRenewVersion) return Status::Unsupported(op, "version " + std::to_string(version));
  CertRenewResponse response;
  MESH_RETURN_IF_ERROR(r.Str(1, "error", kMaxErrorBytes, response.error));
  const msgpack::object& cert = r.at(2);
  if (cert.type != msgpack::type::BIN) return r.Bad("certificate", "is not bin");
  if (cert.via.bin.size == 0) {
    if (response.error.empty()) return r.Bad("certificate", "is empty and there is no error");
    return response;
  }
  if (!response.error.empty()) return r.Bad("certificate", "comes with an error");
  auto decoded = mesh::DecodeCertificate(std::string_view(cert.via.bin.ptr, cert.via.bin.size));
  if (!decoded.ok()) return decoded.status();
  response.certificate = std::move(*decoded);
  return response;
}

std::int64_t RenewalDueNs(const mesh::NodeCertificate& cert) {
  const std::int64_t issued = IssuedNs(cert);
  return issued + (cert.not_after_ns - issued) / 3 * 2;
}

std::chrono::milliseconds RenewalRetryInterval(const mesh::NodeCertificate& cert) {
  const std::int64_t lifetime_ms = (cert.not_after_ns - IssuedNs(cert)) / 1'000'000;
  return std::chrono::milliseconds(std::clamp<std::int64_t>(lifetime_ms / 20, 1'000, 60'000));
}

std::optional<std::string> CertRenewal::Due(std::int64_t wall_ns, mesh::MonoTime now) {
  if (wall_ns < RenewalDueNs(identity_.certificate)) return std::nullopt;
  if (last_sent_ && now - *last_sent_ < RenewalRetryInterval(identity_.certificate)) return std::nullopt;
  auto bytes = EncodeCertRenew({identity_.certificate.not_after_ns});
  if (!bytes.ok()) return std::nullopt;
  if (!first_sent_) first_sent_ = now;
  last_sent_ = now;
  return std::move(*bytes);
}

mesh::Result<mesh::NodeCertificate> CertRenewal::Accept(std::string_view payload, std::int64_t peer_wall_ns) {
  auto response = DecodeCertRenewed(payload);
  if (!response.ok()) return response.status();
  if (!response->certificate) return Status::PermissionDenied("certificate renewal refused", response->error);
  const mesh::NodeCertificate& cert = *response->certificate;
  const mesh::NodeCertificate& old = identity_.certificate;
  MESH_RETURN_IF_ERROR(mesh::VerifyCertificate(identity_.ca, cert, peer_wall_ns));
  if (cert.node_id != old.node_id || cert.signing_key != old.signing_key || cert.curve_key != old.curve_key) {
    return Status::Corrupt("certificate renewal", "the new certificate is not for this node's keys");
  }
  if (cert.not_after_ns <= old.not_after_ns) {
    return Status::InvalidArgument("certificate renewal", "the new certificate does not last longer");
  }
  mesh::NodeIdentity renewed = identity_;
  renewed.certificate = cert;
  MESH_RETURN_IF_ERROR(mesh::SaveNodeIdentity(state_dir_, renewed));
  identity_.certificate = cert;
  first_sent_.reset();
  last_sent_.reset();
  return cert;
}

double CertRenewal::PendingMs(mesh::MonoTime now) const {
  return first_sent_ ? std::chrono::duration<double, std::milli>(now - *first_sent_).count() : 0.0;
}

}  // namespace swarmlet
