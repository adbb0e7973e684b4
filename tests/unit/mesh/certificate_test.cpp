#include "mesh/certificate.h"

#include <catch2/catch.hpp>
#include <functional>
#include <msgpack.hpp>

#include "identity_fixtures.h"
#include "mesh/certificate_authority.h"

using mesh::CertificateVerdict;
using mesh::NodeCertificate;
using mesh::StatusCode;
using mesh_test::kExpiresNs;
using mesh_test::kIssuedNs;

namespace {

constexpr std::int64_t kMidNs = kIssuedNs + 3'600'000'000'000;  // an hour in

}  // namespace

TEST_CASE("Certificate: a signed certificate verifies and round trips", "[mesh][cert]") {
  const auto ca = mesh_test::NewCa();
  const auto keys = mesh_test::NewKeys();
  const NodeCertificate cert = mesh_test::SignedCertFor(ca, keys);
  CHECK(cert.issuer == ca.fingerprint());

  auto check = mesh::CheckCertificate(ca.public_keys(), cert, kMidNs);
  CHECK(check.verdict == CertificateVerdict::kValid);
  CHECK(check.status.ok());

  auto bytes = mesh::EncodeCertificate(cert);
  REQUIRE(bytes.ok());
  auto back = mesh::DecodeCertificate(*bytes);
  REQUIRE(back.ok());
  CHECK(*back == cert);
  CHECK(mesh::VerifyCertificate(ca.public_keys(), *back, kMidNs).ok());
  // The window is [not_before, not_after).
  CHECK(mesh::VerifyCertificate(ca.public_keys(), cert, kIssuedNs).ok());
  CHECK(mesh::VerifyCertificate(ca.public_keys(), cert, kExpiresNs - 1).ok());
}

TEST_CASE("Certificate: expired says when and how to rejoin", "[mesh][cert]") {
  const auto ca = mesh_test::NewCa();
  const NodeCertificate cert = mesh_test::SignedCertFor(ca, mesh_test::NewKeys());
  for (std::int64_t now : {kExpiresNs, kExpiresNs + 86'400'000'000'000}) {
    auto check = mesh::CheckCertificate(ca.public_keys(), cert, now);
    CHECK(check.verdict == CertificateVerdict::kExpired);
    CHECK(check.status.code() == StatusCode::kPermissionDenied);
    CHECK(check.status.message() ==
          "certificate for rpi-1: expired at 2026-11-27T10:00:00Z; rejoin with a new token: "
          "swarmlet join --token <TOKEN>");
  }
  // Signature-only verification still accepts it (the node can renew).
  CHECK(mesh::VerifyCertificateSignature(ca.public_keys(), cert).ok());
}

TEST_CASE("Certificate: not yet valid points at the clock", "[mesh][cert]") {
  const auto ca = mesh_test::NewCa();
  const NodeCertificate cert = mesh_test::SignedCertFor(ca, mesh_test::NewKeys());
  auto check = mesh::CheckCertificate(ca.public_keys(), cert, kIssuedNs - 1);
  CHECK(check.verdict == CertificateVerdict::kNotYetValid);
  CHECK(check.status.code() == StatusCode::kUnavailable);
  CHECK_THAT(check.status.message(),
             Catch::Contains("not valid before 2026-11-26T10:00:00Z") && Catch::Contains("clock"));
}

TEST_CASE("Certificate: another cluster's CA is refused", "[mesh][cert]") {
  const auto ca = mesh_test::NewCa();
  const auto other = mesh_test::NewCa();
  const NodeCertificate cert = mesh_test::SignedCertFor(other, mesh_test::NewKeys());
  auto check = mesh::CheckCertificate(ca.public_keys(), cert, kMidNs);
  CHECK(check.verdict == CertificateVerdict::kWrongCa);
  CHECK(check.status.code() == StatusCode::kPermissionDenied);
  CHECK_THAT(check.status.message(), Catch::Contains("certificate for rpi-1") &&
                                         Catch::Contains(other.FingerprintHex().substr(0, 16)) &&
                                         Catch::Contains(ca.FingerprintHex().substr(0, 16)));

  // Signed by another CA but claiming ours as issuer: a forgery.
  NodeCertificate forged = cert;
  forged.issuer = ca.fingerprint();
  auto forged_check = mesh::CheckCertificate(ca.public_keys(), forged, kMidNs);
  CHECK(forged_check.verdict == CertificateVerdict::kBadSignature);
  CHECK(forged_check.status.code() == StatusCode::kCorrupt);

  // Same Ed25519 key but another CURVE key is another cluster identity.
  mesh::CaPublicKeys swapped = ca.public_keys();
  swapped.curve_key = other.public_keys().curve_key;
  CHECK(mesh::CheckCertificate(swapped, mesh_test::SignedCertFor(ca, mesh_test::NewKeys()), kMidNs)
            .verdict == CertificateVerdict::kWrongCa);
}

TEST_CASE("Certificate: tampering with any field breaks it", "[mesh][cert]") {
  const auto ca = mesh_test::NewCa();
  const auto keys = mesh_test::NewKeys();
  const auto other_keys = mesh_test::NewKeys();
  const NodeCertificate good = mesh_test::SignedCertFor(ca, keys);

  const std::vector<std::pair<const char*, std::function<void(NodeCertificate&)>>> edits = {
      {"node_id", [](NodeCertificate& c) { c.node_id = "n-rpi-2"; }},
      {"name", [](NodeCertificate& c) { c.name = "rpi-2"; }},
      {"role", [](NodeCertificate& c) { c.role = mesh::NodeRole::kPrimary; }},
      {"label value", [](NodeCertificate& c) { c.labels["zone"] = "shelf-3"; }},
      {"label added", [](NodeCertificate& c) { c.labels["gpu"] = "true"; }},
      {"label removed", [](NodeCertificate& c) { c.labels.erase("arch"); }},
      {"signing key", [&](NodeCertificate& c) { c.signing_key = other_keys.signing.public_key; }},
      {"curve key", [&](NodeCertificate& c) { c.curve_key = other_keys.curve.public_key; }},
      {"not_before", [](NodeCertificate& c) { c.not_before_ns -= 1; }},
      {"not_after", [](NodeCertificate& c) { c.not_after_ns += 365LL * 86'400'000'000'000; }},
      {"signature", [](NodeCertificate& c) { c.signature[63] ^= 0x01; }},
  };
  for (const auto& [what, edit] : edits) {
    INFO("tampered: " << what);
    NodeCertificate c = good;
    edit(c);
    auto check = mesh::CheckCertificate(ca.public_keys(), c, kMidNs);
    CHECK(check.verdict == CertificateVerdict::kBadSignature);
    CHECK(check.status.code() == StatusCode::kCorrupt);
    CHECK_THAT(check.status.message(), Catch::Contains("tampered"));
    // The same after a trip over the wire.
    auto back = mesh::DecodeCertificate(*mesh::EncodeCertificate(c));
    REQUIRE(back.ok());
    CHECK_FALSE(mesh::VerifyCertificate(ca.public_keys(), *back, kMidNs).ok());
  }
  NodeCertificate issuer = good;
  issuer.issuer[0] ^= 0x01;
  CHECK(mesh::CheckCertificate(ca.public_keys(), issuer, kMidNs).verdict ==
        CertificateVerdict::kWrongCa);
}

TEST_CASE("Certificate: no single-byte change of the encoding verifies", "[mesh][cert]") {
  const auto ca = mesh_test::NewCa();
  const std::string bytes =
      *mesh::EncodeCertificate(mesh_test::SignedCertFor(ca, mesh_test::NewKeys()));
  int decoded = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (std::uint8_t mask : {0x01, 0x80, 0xff}) {
      std::string b = bytes;
      b[i] = static_cast<char>(b[i] ^ mask);
      auto c = mesh::DecodeCertificate(b);
      if (!c.ok()) continue;
      ++decoded;
      INFO("byte " << i << " mask " << int(mask));
      CHECK_FALSE(mesh::VerifyCertificate(ca.public_keys(), *c, kMidNs).ok());
    }
  }
  CHECK(decoded > 0);  // most flips inside keys still decode: the signature is what catches them
}

TEST_CASE("Certificate: garbage, truncation and wrong shapes are Corrupt", "[mesh][cert]") {
  const auto ca = mesh_test::NewCa();
  const std::string bytes =
      *mesh::EncodeCertificate(mesh_test::SignedCertFor(ca, mesh_test::NewKeys()));
  CHECK(mesh::DecodeCertificate("").status().code() == StatusCode::kCorrupt);
  CHECK(mesh::DecodeCertificate("garbage").status().code() == StatusCode::kCorrupt);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    INFO("prefix " << n);
    CHECK(mesh::DecodeCertificate(std::string_view(bytes).substr(0, n)).status().code() ==
          StatusCode::kCorrupt);
  }
  CHECK(mesh::DecodeCertificate(bytes + '\0').status().code() == StatusCode::kCorrupt);
  CHECK(mesh::DecodeCertificate(std::string(mesh::kMaxCertificateBytes + 1, '\x90'))
            .status()
            .code() == StatusCode::kCorrupt);

  // Another version is Unsupported, not Corrupt.
  msgpack::sbuffer v2;
  msgpack::packer<msgpack::sbuffer> pk(v2);
  pk.pack_array(3);
  pk.pack(2u);
  pk.pack(std::string("x"));
  pk.pack(std::string("y"));
  CHECK(mesh::DecodeCertificate({v2.data(), v2.size()}).status().code() ==
        StatusCode::kUnsupported);

  // A label map with a repeated key.
  auto obj = msgpack::unpack(bytes.data(), bytes.size());
  msgpack::sbuffer dup;
  msgpack::packer<msgpack::sbuffer> dpk(dup);
  const auto& f = obj.get().via.array;
  dpk.pack_array(11);
  for (std::uint32_t i = 0; i < 11; ++i) {
    if (i == 4) {
      dpk.pack_map(2);
      dpk.pack(std::string("zone"));
      dpk.pack(std::string("a"));
      dpk.pack(std::string("zone"));
      dpk.pack(std::string("b"));
    } else {
      dpk.pack(f.ptr[i]);
    }
  }
  auto r = mesh::DecodeCertificate({dup.data(), dup.size()});
  CHECK(r.status().code() == StatusCode::kCorrupt);
  CHECK_THAT(r.status().message(), Catch::Contains("repeat"));
}

TEST_CASE("Certificate: the CA refuses to sign malformed fields", "[mesh][cert]") {
  const auto ca = mesh_test::NewCa();
  const auto keys = mesh_test::NewKeys();
  const std::vector<std::pair<const char*, std::function<void(NodeCertificate&)>>> bad = {
      {"empty name", [](NodeCertificate& c) { c.name.clear(); }},
      {"name with space", [](NodeCertificate& c) { c.name = "rpi 1"; }},
      {"long node id", [](NodeCertificate& c) { c.node_id.assign(65, 'a'); }},
      {"label key with =", [](NodeCertificate& c) { c.labels["a=b"] = "x"; }},
      {"label value with newline", [](NodeCertificate& c) { c.labels["a"] = "x\ny"; }},
      {"too many labels",
       [](NodeCertificate& c) {
         for (int i = 0; i < 40; ++i) c.labels["k" + std::to_string(i)] = "v";
       }},
      {"empty window", [](NodeCertificate& c) { c.not_after_ns = c.not_before_ns; }},
  };
  for (const auto& [what, edit] : bad) {
    INFO(what);
    NodeCertificate c = mesh_test::CertFor(keys);
    edit(c);
    const NodeCertificate before = c;
    CHECK(ca.SignCertificate(c).code() == StatusCode::kInvalidArgument);
    CHECK(c == before);
    CHECK(mesh::EncodeCertificate(c).status().code() == StatusCode::kInvalidArgument);
    CHECK(mesh::CheckCertificate(ca.public_keys(), c, kMidNs).verdict ==
          CertificateVerdict::kMalformed);
  }
}

TEST_CASE("Certificate: CA fingerprint is BLAKE2b of both public keys", "[mesh][cert]") {
  const auto ca = mesh_test::NewCa();
  auto expected = mesh::Hash({ca.public_keys().signing_key, ca.public_keys().curve_key});
  REQUIRE(expected.ok());
  CHECK(ca.fingerprint() == *expected);
  CHECK(ca.FingerprintHex().size() == 64);
  CHECK(*mesh::ParseFingerprintHex(ca.FingerprintHex()) == ca.fingerprint());
  CHECK(mesh_test::NewCa().fingerprint() != ca.fingerprint());
  // FromKeys refuses mismatched halves.
  auto other = mesh_test::NewCa();
  mesh::Ed25519KeyPair mixed = ca.signing_keys();
  mixed.public_key = other.signing_keys().public_key;
  CHECK(mesh::CertificateAuthority::FromKeys(mixed, ca.curve_keys()).status().code() ==
        StatusCode::kCorrupt);
}

TEST_CASE("Certificate: roles and wall-time formatting", "[mesh][cert]") {
  CHECK(*mesh::ParseNodeRole("worker") == mesh::NodeRole::kWorker);
  CHECK(*mesh::ParseNodeRole("primary") == mesh::NodeRole::kPrimary);
  CHECK_FALSE(mesh::ParseNodeRole("manager").ok());
  CHECK(mesh::FormatWallTime(0) == "1970-01-01T00:00:00Z");
  CHECK(mesh::FormatWallTime(kExpiresNs) == "2026-11-27T10:00:00Z");
  CHECK(mesh::FormatWallTime(-1) == "1969-12-31T23:59:59Z");
}

TEST_CASE("Node names: valid ones log as they are, others only as safe characters", "[mesh][cert]") {
  CHECK(mesh::IsValidNodeName("rpi-1.lab_2"));
  CHECK_FALSE(mesh::IsValidNodeName(""));
  CHECK_FALSE(mesh::IsValidNodeName("rpi 1"));
  CHECK_FALSE(mesh::IsValidNodeName(std::string(65, 'a')));
  CHECK(mesh::LoggableName("rpi-1") == "rpi-1");
  CHECK(mesh::LoggableName("evil\n[timing] join.admit\x1b[31m") == "evil??timing??join.admit??31m");
  CHECK(mesh::LoggableName("") == "?");
  CHECK(mesh::LoggableName(std::string(100, 'x') + "\n") == std::string(64, 'x') + "...");
}
