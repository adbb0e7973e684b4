#include "swarmlet/join_protocol.h"

#include <catch2/catch.hpp>
#include <random>

#include "mesh/certificate_authority.h"
#include "mesh/crypto.h"
#include "mesh/identity_store.h"

using namespace swarmlet;

namespace {

JoinRequest SampleRequest() {
  JoinRequest q;
  q.token_secret = std::string(32, 'q');
  q.nonce.fill(7);
  q.sent_ns = 1'764'000'000'000'000'000;
  q.name = "rpi-1";
  q.labels = {{"zone", "a"}};
  q.signing_key.fill(1);
  q.curve_key.fill(2);
  q.mesh_endpoint = "tcp://10.0.0.11:7946";
  q.profile.arch = "aarch64";
  q.profile.model = "Raspberry Pi 4 Model B Rev 1.4";
  q.profile.cores = 4;
  q.profile.memory_mb = 3793;
  q.profile.cgroup_mode = CgroupMode::kUnified;
  q.signature.fill(3);
  return q;
}

}  // namespace

TEST_CASE("join protocol: bootstrap line and TXT records round trip", "[swarmlet][join]") {
  auto ca = *mesh::CertificateAuthority::Create();
  BootstrapInfo info{ca.public_keys(), 17947, 17946};
  auto back = ParseBootstrapLine(EncodeBootstrapLine(info));
  REQUIRE(back.ok());
  CHECK(back->keys == info.keys);
  CHECK(back->join_port == 17947);
  CHECK(back->mesh_port == 17946);
  auto txt = BootstrapTxt(info);
  CHECK(txt["fp"] == ca.FingerprintHex().substr(0, 16));
  auto from_txt = BootstrapFromTxt(txt);
  REQUIRE(from_txt.ok());
  CHECK(from_txt->keys == info.keys);

  CHECK(ParseBootstrapLine("HTTP/1.1 400 Bad Request\r\n").status().code() == mesh::StatusCode::kCorrupt);
  CHECK(ParseBootstrapLine("STRATOSWARM-BOOTSTRAP 2 a b 1 2\n").status().code() ==
        mesh::StatusCode::kUnsupported);
  txt["join"] = "99999";
  CHECK_FALSE(BootstrapFromTxt(txt).ok());
}

TEST_CASE("join protocol: the token's fingerprint pins the cluster", "[swarmlet][join]") {
  auto ours = *mesh::CertificateAuthority::Create();
  auto theirs = *mesh::CertificateAuthority::Create();
  CHECK(CheckFingerprint(ours.public_keys(), ours.FingerprintHex()).ok());
  auto refused = CheckFingerprint(theirs.public_keys(), ours.FingerprintHex());
  CHECK(refused.code() == mesh::StatusCode::kPermissionDenied);
  CHECK_THAT(refused.message(), Catch::Contains("not those of the cluster in the token"));
}

TEST_CASE("join protocol: request and response round trip", "[swarmlet][join]") {
  const JoinRequest q = SampleRequest();
  auto bytes = EncodeJoinRequest(q);
  REQUIRE(bytes.ok());
  auto back = DecodeJoinRequest(*bytes);
  REQUIRE(back.ok());
  CHECK(*back == q);
  // The signed bytes change with every field.
  JoinRequest other = q;
  other.name = "rpi-2";
  CHECK(*JoinRequestSignedBytes(q) != *JoinRequestSignedBytes(other));

  auto ca = *mesh::CertificateAuthority::Create();
  auto keys = *mesh::GenerateNodeKeys();
  JoinResponse a;
  a.accepted = true;
  a.cluster_id = ca.FingerprintHex().substr(0, 12);
  a.certificate.node_id = "node-1";
  a.certificate.name = "rpi-1";
  a.certificate.signing_key = keys.signing.public_key;
  a.certificate.curve_key = keys.curve.public_key;
  a.certificate.not_before_ns = 1;
  a.certificate.not_after_ns = 2;
  REQUIRE(ca.SignCertificate(a.certificate).ok());
  a.members.epoch = 3;
  a.members.members = {mesh::MemberFromCertificate(a.certificate, "tcp://10.0.0.11:7946")};
  REQUIRE(ca.SignMemberList(a.members).ok());
  auto rb = DecodeJoinResponse(*EncodeJoinResponse(a));
  REQUIRE(rb.ok());
  CHECK(*rb == a);

  JoinResponse refused{false, "token expired", "", {}, {}};
  auto rr = DecodeJoinResponse(*EncodeJoinResponse(refused));
  REQUIRE(rr.ok());
  CHECK_FALSE(rr->accepted);
  CHECK(rr->error == "token expired");
}

TEST_CASE("join protocol: garbage and mutations never crash the decoders", "[swarmlet][join]") {
  const std::string valid = *EncodeJoinRequest(SampleRequest());
  std::mt19937 rng(42);
  for (int i = 0; i < 20000; ++i) {
    std::string buf = valid;
    for (int f = 0; f < 1 + i % 3; ++f) buf[rng() % buf.size()] = static_cast<char>(rng());
    if (i % 5 == 0) buf.resize(rng() % buf.size());
    (void)DecodeJoinRequest(buf);
    (void)DecodeJoinResponse(buf);
  }
  CHECK_FALSE(DecodeJoinRequest("").ok());
  CHECK_FALSE(DecodeJoinResponse(valid).ok());
}

TEST_CASE("join protocol: labels", "[swarmlet][join]") {
  auto l = ParseLabels("zone=a,disk=ssd,empty=");
  REQUIRE(l.ok());
  CHECK(l->size() == 3);
  CHECK((*l)["disk"] == "ssd");
  CHECK(ParseLabels("").ok());
  CHECK_FALSE(ParseLabels("novalue").ok());
  CHECK_FALSE(ParseLabels("=x").ok());
}
