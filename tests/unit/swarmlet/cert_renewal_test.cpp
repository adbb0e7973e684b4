#include "swarmlet/cert_renewal.h"

#include <catch2/catch.hpp>

#include "../mesh/identity_fixtures.h"

using swarmlet::CertRenewal;
using swarmlet::CertRenewResponse;

namespace {

constexpr std::int64_t kSec = 1'000'000'000;
constexpr std::int64_t kBackdate = 300 * kSec;

// A certificate issued at `issued` for `ttl_s`, backdated as the GPU peer does.
mesh::NodeCertificate Issued(const mesh::CertificateAuthority& ca, const mesh::NodeKeys& keys, std::int64_t issued,
                             std::int64_t ttl_s) {
  mesh::NodeCertificate c = mesh_test::CertFor(keys);
  c.not_before_ns = issued - kBackdate;
  c.not_after_ns = issued + ttl_s * kSec;
  REQUIRE(ca.SignCertificate(c).ok());
  return c;
}

}  // namespace

TEST_CASE("certificate renewal messages round trip and refusals", "[swarmlet][protocol]") {
  auto request = swarmlet::EncodeCertRenew({mesh_test::kExpiresNs});
  REQUIRE(request.ok());
  auto back = swarmlet::DecodeCertRenew(*request);
  REQUIRE(back.ok());
  CHECK(back->not_after_ns == mesh_test::kExpiresNs);

  auto ca = mesh_test::NewCa();
  const auto cert = mesh_test::SignedCertFor(ca, mesh_test::NewKeys());
  for (const CertRenewResponse& r : {CertRenewResponse{"", cert}, CertRenewResponse{"node rpi-1 was removed", {}}}) {
    auto bytes = swarmlet::EncodeCertRenewed(r);
    REQUIRE(bytes.ok());
    auto decoded = swarmlet::DecodeCertRenewed(*bytes);
    REQUIRE(decoded.ok());
    CHECK(*decoded == r);
  }
  CHECK_FALSE(swarmlet::EncodeCertRenewed({"", {}}).ok());
  CHECK_FALSE(swarmlet::EncodeCertRenewed({"both", cert}).ok());
  CHECK(swarmlet::DecodeCertRenew(std::string("\x92\x02\x01", 3)).status().code() == mesh::StatusCode::kUnsupported);
  CHECK_FALSE(swarmlet::DecodeCertRenew("").ok());
  CHECK_FALSE(swarmlet::DecodeCertRenewed(std::string("\x93\x01\xa0\xc4\x00", 5)).ok());  // no error, no cert
  CHECK_FALSE(swarmlet::DecodeCertRenewed(std::string("\x93\x01\xa0\xc4\x03xyz", 8)).ok());  // not a certificate
  CHECK_FALSE(swarmlet::DecodeCertRenewed(std::string(100, '\x93')).ok());
}

TEST_CASE("renewal is due two thirds into the lifetime granted", "[swarmlet]") {
  auto ca = mesh_test::NewCa();
  const auto keys = mesh_test::NewKeys();
  const std::int64_t t0 = mesh_test::kIssuedNs;
  const auto six_s = Issued(ca, keys, t0, 6);
  CHECK(swarmlet::RenewalDueNs(six_s) == t0 + 4 * kSec);
  CHECK(swarmlet::RenewalRetryInterval(six_s) == std::chrono::seconds(1));
  const auto thirty_d = Issued(ca, keys, t0, 30 * 86400);
  CHECK(swarmlet::RenewalDueNs(thirty_d) == t0 + 20 * 86400 * kSec);
  CHECK(swarmlet::RenewalRetryInterval(thirty_d) == std::chrono::seconds(60));
}

TEST_CASE("the node asks when due, again after the retry interval, and saves what it accepts", "[swarmlet]") {
  mesh_test::TempDir dir;
  auto ca = mesh_test::NewCa();
  const auto keys = mesh_test::NewKeys();
  const std::int64_t t0 = mesh_test::kIssuedNs;
  mesh::NodeIdentity identity{keys, Issued(ca, keys, t0, 6), ca.public_keys()};
  CertRenewal renewal(identity, dir.path());
  const mesh::MonoTime m0{};
  CHECK_FALSE(renewal.Due(t0 + 3 * kSec, m0).has_value());
  REQUIRE(renewal.Due(t0 + 4 * kSec, m0).has_value());
  CHECK_FALSE(renewal.Due(t0 + 4 * kSec, m0 + std::chrono::milliseconds(500)).has_value());
  CHECK(renewal.Due(t0 + 5 * kSec, m0 + std::chrono::seconds(1)).has_value());
  CHECK(renewal.PendingMs(m0 + std::chrono::seconds(2)) == Approx(2000));

  // Refused, from another CA, for other keys, not newer: nothing changes.
  auto refused = swarmlet::EncodeCertRenewed({"node rpi-1 was removed from the cluster", {}});
  CHECK(renewal.Accept(*refused, t0).status().message().find("removed") != std::string::npos);
  auto other_ca = mesh_test::NewCa();
  CHECK_FALSE(renewal.Accept(*swarmlet::EncodeCertRenewed({"", Issued(other_ca, keys, t0 + 4 * kSec, 6)}), t0).ok());
  CHECK_FALSE(
      renewal.Accept(*swarmlet::EncodeCertRenewed({"", Issued(ca, mesh_test::NewKeys(), t0 + 4 * kSec, 6)}), t0).ok());
  CHECK_FALSE(renewal.Accept(*swarmlet::EncodeCertRenewed({"", Issued(ca, keys, t0 - 4 * kSec, 6)}), t0).ok());
  CHECK_FALSE(mesh::LoadNodeIdentity(dir.path()).ok());  // nothing written

  const auto fresh = Issued(ca, keys, t0 + 4 * kSec, 6);
  auto accepted = renewal.Accept(*swarmlet::EncodeCertRenewed({"", fresh}), t0 + 4 * kSec);
  REQUIRE(accepted.ok());
  CHECK(identity.certificate == fresh);
  auto saved = mesh::LoadNodeIdentity(dir.path());
  REQUIRE(saved.ok());
  CHECK(saved->certificate == fresh);
  CHECK(renewal.PendingMs(m0 + std::chrono::seconds(3)) == 0);
  CHECK_FALSE(renewal.Due(t0 + 7 * kSec, m0 + std::chrono::seconds(3)).has_value());  // due at t0 + 8 s now
  CHECK(renewal.Due(t0 + 8 * kSec, m0 + std::chrono::seconds(3)).has_value());
}
