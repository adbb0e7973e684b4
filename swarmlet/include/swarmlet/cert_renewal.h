// Certificate renewal over the mesh (docs/wire_format.md, types 20 and 21).
//
// A node's certificate is valid for `serve --cert-ttl` (30 days by default).
// Two thirds into that lifetime the swarmlet asks the GPU peer, over its
// authenticated mesh connection, to sign the same keys again with a new
// validity (kCertRenew); the GPU peer answers with the certificate or why not
// (kCertRenewed): a removed (revoked) or unknown node is refused. The node
// checks the new certificate against its pinned CA and its own keys, then
// replaces its identity file atomically. A node that was offline past the
// expiry rejoins with a token (swarmlet join --token), as before.
//
// Encodings are strict msgpack; the decoders never throw.
//
// Thread safety: values and free functions; a CertRenewal belongs to the
// agent loop's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mesh/certificate.h"
#include "mesh/clock.h"
#include "mesh/identity_store.h"
#include "mesh/status.h"

namespace swarmlet {

// The GPU peer backdates a certificate's not_before by this much, so that a
// node whose clock is behind (no real-time clock, NTP not there yet) accepts
// it; the lifetime granted is therefore not_after - not_before - kCertBackdate.
inline constexpr std::chrono::seconds kCertBackdate{300};

// kCertRenew: the node's current certificate expiry (the GPU peer logs it;
// the request itself is authenticated by the mesh connection).
struct CertRenewRequest {
  std::int64_t not_after_ns = 0;
  bool operator==(const CertRenewRequest&) const = default;
};

// kCertRenewed: exactly one of `error` (one line) or `certificate`.
struct CertRenewResponse {
  std::string error;
  std::optional<mesh::NodeCertificate> certificate;
  bool operator==(const CertRenewResponse&) const = default;
};

mesh::Result<std::string> EncodeCertRenew(const CertRenewRequest& request);
mesh::Result<CertRenewRequest> DecodeCertRenew(std::string_view bytes);
mesh::Result<std::string> EncodeCertRenewed(const CertRenewResponse& response);
mesh::Result<CertRenewResponse> DecodeCertRenewed(std::string_view bytes);

// When the node asks: two thirds of the way from the issue time
// (not_before + kCertBackdate) to not_after, on the node's wall clock.
std::int64_t RenewalDueNs(const mesh::NodeCertificate& cert);
// How long the node waits for an answer before asking again:
// lifetime / 20, between 1 s and 60 s.
std::chrono::milliseconds RenewalRetryInterval(const mesh::NodeCertificate& cert);

// The node's side of renewal for the identity it runs with.
class CertRenewal {
 public:
  CertRenewal(mesh::NodeIdentity& identity, std::string state_dir)
      : identity_(identity), state_dir_(std::move(state_dir)) {}

  // The kCertRenew payload when a request is due (wall clock) and none was
  // sent within the retry interval (monotonic clock); nullopt otherwise.
  std::optional<std::string> Due(std::int64_t wall_ns, mesh::MonoTime now);

  // A kCertRenewed from the GPU peer: the refusal, or a certificate that is
  // not signed by the pinned CA, not for this node's keys or not newer, is an
  // error; otherwise the identity (in memory and in <state_dir>/node.identity,
  // atomically) now holds it, and it is returned.
  mesh::Result<mesh::NodeCertificate> Accept(std::string_view payload, std::int64_t peer_wall_ns);

  // Since the first request of this renewal was sent; 0 when none is out
  // (Accept ends the renewal: ask before).
  double PendingMs(mesh::MonoTime now) const;

 private:
  mesh::NodeIdentity& identity_;
  const std::string state_dir_;
  std::optional<mesh::MonoTime> first_sent_;
  std::optional<mesh::MonoTime> last_sent_;
};

}  // namespace swarmlet
