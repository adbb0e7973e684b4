#include "mesh/member_list.h"

#include <catch2/catch.hpp>
#include <functional>

#include "identity_fixtures.h"

using mesh::MemberList;
using mesh::StatusCode;

TEST_CASE("MemberList: sign, encode, decode, verify", "[mesh][members]") {
  const auto ca = mesh_test::NewCa();
  const MemberList list = mesh_test::SignedList(ca, 5);
  CHECK(list.issuer == ca.fingerprint());
  CHECK(mesh::VerifyMemberList(ca.public_keys(), list).ok());
  auto bytes = mesh::EncodeMemberList(list);
  REQUIRE(bytes.ok());
  auto back = mesh::DecodeMemberList(*bytes);
  REQUIRE(back.ok());
  CHECK(*back == list);
  CHECK(mesh::VerifyMemberList(ca.public_keys(), *back).ok());

  REQUIRE(back->FindById("n-3") != nullptr);
  CHECK(back->FindById("n-3")->name == "rpi-3");
  CHECK(back->FindById("n-9") == nullptr);
  REQUIRE(back->FindByCurveKey(list.members[2].curve_key) != nullptr);
  CHECK(back->FindByCurveKey(list.members[2].curve_key)->node_id == "n-2");
  mesh::CurvePublicKey unknown{};
  unknown.fill(0xee);
  CHECK(back->FindByCurveKey(unknown) == nullptr);
}

TEST_CASE("MemberList: an empty list and a certificate-made member are fine", "[mesh][members]") {
  const auto ca = mesh_test::NewCa();
  MemberList list = mesh_test::SignedList(ca, 0);
  CHECK(mesh::VerifyMemberList(ca.public_keys(),
                               *mesh::DecodeMemberList(*mesh::EncodeMemberList(list)))
            .ok());
  const auto cert = mesh_test::SignedCertFor(ca, mesh_test::NewKeys());
  list.members.push_back(mesh::MemberFromCertificate(cert, "tcp://[fd00::2]:7946"));
  REQUIRE(ca.SignMemberList(list).ok());
  CHECK(mesh::VerifyMemberList(ca.public_keys(), list).ok());
  CHECK(list.members[0].curve_key == cert.curve_key);
  CHECK(list.members[0].name == "rpi-1");
}

TEST_CASE("MemberList: tampering is detected", "[mesh][members]") {
  const auto ca = mesh_test::NewCa();
  const MemberList good = mesh_test::SignedList(ca, 4);
  const std::vector<std::pair<const char*, std::function<void(MemberList&)>>> edits = {
      {"epoch", [](MemberList& l) { l.epoch += 1; }},
      {"issued_ns", [](MemberList& l) { l.issued_ns += 1; }},
      {"member removed", [](MemberList& l) { l.members.pop_back(); }},
      {"member added",
       [](MemberList& l) {
         mesh::Member m = l.members.back();
         m.node_id = "n-intruder";
         m.curve_key.fill(0x42);
         l.members.push_back(m);
       }},
      {"order", [](MemberList& l) { std::swap(l.members[1], l.members[2]); }},
      {"node id", [](MemberList& l) { l.members[1].node_id = "n-x"; }},
      {"name", [](MemberList& l) { l.members[1].name = "rpi-x"; }},
      {"role", [](MemberList& l) { l.members[1].role = mesh::NodeRole::kPrimary; }},
      {"signing key", [](MemberList& l) { l.members[1].signing_key[5] ^= 1; }},
      {"curve key", [](MemberList& l) { l.members[1].curve_key[5] ^= 1; }},
      {"endpoint", [](MemberList& l) { l.members[1].endpoint = "tcp://10.0.0.99:7946"; }},
      {"signature", [](MemberList& l) { l.signature[0] ^= 1; }},
  };
  for (const auto& [what, edit] : edits) {
    INFO("tampered: " << what);
    MemberList l = good;
    edit(l);
    auto s = mesh::VerifyMemberList(ca.public_keys(), l);
    CHECK(s.code() == StatusCode::kCorrupt);
    CHECK_THAT(s.message(), Catch::Contains("tampered"));
  }
  MemberList wrong_issuer = good;
  wrong_issuer.issuer[0] ^= 1;
  CHECK(mesh::VerifyMemberList(ca.public_keys(), wrong_issuer).code() ==
        StatusCode::kPermissionDenied);
  CHECK(mesh::VerifyMemberList(mesh_test::NewCa().public_keys(), good).code() ==
        StatusCode::kPermissionDenied);
}

TEST_CASE("MemberList: no single-byte change of the encoding verifies", "[mesh][members]") {
  const auto ca = mesh_test::NewCa();
  const std::string bytes = *mesh::EncodeMemberList(mesh_test::SignedList(ca, 3));
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (std::uint8_t mask : {0x01, 0xff}) {
      std::string b = bytes;
      b[i] = static_cast<char>(b[i] ^ mask);
      auto l = mesh::DecodeMemberList(b);
      if (!l.ok()) continue;
      INFO("byte " << i << " mask " << int(mask));
      CHECK_FALSE(mesh::VerifyMemberList(ca.public_keys(), *l).ok());
    }
  }
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    CHECK(mesh::DecodeMemberList(std::string_view(bytes).substr(0, n)).status().code() ==
          StatusCode::kCorrupt);
  }
}

TEST_CASE("MemberList: duplicates and bad endpoints are refused", "[mesh][members]") {
  const auto ca = mesh_test::NewCa();
  MemberList l = mesh_test::SignedList(ca, 3);
  MemberList dup_id = l;
  dup_id.members[2].node_id = dup_id.members[1].node_id;
  CHECK(ca.SignMemberList(dup_id).code() == StatusCode::kInvalidArgument);
  MemberList dup_key = l;
  dup_key.members[2].curve_key = dup_key.members[0].curve_key;
  CHECK(ca.SignMemberList(dup_key).code() == StatusCode::kInvalidArgument);
  CHECK(mesh::EncodeMemberList(dup_key).status().code() == StatusCode::kInvalidArgument);
  CHECK(mesh::VerifyMemberList(ca.public_keys(), dup_key).code() == StatusCode::kCorrupt);
}

TEST_CASE("MemberList: endpoint syntax", "[mesh][members]") {
  for (const char* ok : {"tcp://127.0.0.1:7946", "tcp://10.1.2.3:1", "tcp://192.168.1.20:65535",
                         "tcp://[::1]:7946", "tcp://[fd00::1:2]:80"}) {
    INFO(ok);
    CHECK(mesh::IsValidEndpoint(ok));
  }
  for (const char* bad :
       {"", "tcp://", "tcp://127.0.0.1", "tcp://127.0.0.1:", "tcp://127.0.0.1:0",
        "tcp://127.0.0.1:65536", "tcp://127.0.0.1:07946", "tcp://127.0.0.1:79x6",
        "udp://127.0.0.1:7946", "tcp://rpi-1.local:7946", "tcp://1.2.3:80", "tcp://[::1]7946",
        "tcp://[::1]:", "tcp://::1:7946", "tcp://[zz::1]:80", "tcp://127.0.0.1:7946 "}) {
    INFO(bad);
    CHECK_FALSE(mesh::IsValidEndpoint(bad));
  }
}

TEST_CASE("MemberList: the member limit is enforced both ways", "[mesh][members]") {
  const auto ca = mesh_test::NewCa();
  MemberList big = mesh_test::SignedList(ca, static_cast<int>(mesh::kMaxMembers));
  auto bytes = mesh::EncodeMemberList(big);
  REQUIRE(bytes.ok());
  CHECK(bytes->size() <= mesh::kMaxMemberListBytes);
  auto back = mesh::DecodeMemberList(*bytes);
  REQUIRE(back.ok());
  CHECK(mesh::VerifyMemberList(ca.public_keys(), *back).ok());
  MemberList too_big = big;
  too_big.members.push_back(big.members[0]);
  too_big.members.back().node_id = "n-extra";
  too_big.members.back().curve_key.fill(0xfe);
  CHECK(ca.SignMemberList(too_big).code() == StatusCode::kInvalidArgument);
}
