#include "mesh/member_list_delta.h"

#include <catch2/catch.hpp>
#include <msgpack.hpp>

#include "identity_fixtures.h"

using mesh::MemberList;
using mesh::MemberListDelta;
using mesh::StatusCode;

namespace {

// `base` changed by `edit`, re-signed at the next epoch.
template <typename Edit>
MemberList Next(const mesh::CertificateAuthority& ca, const MemberList& base, Edit edit) {
  MemberList l = base;
  l.epoch = base.epoch + 1;
  l.issued_ns = base.issued_ns + 1000;
  edit(l);
  REQUIRE(ca.SignMemberList(l).ok());
  return l;
}

mesh::Member NewMember(int i) {
  mesh::Member m;
  m.node_id = "n-new-" + std::to_string(i);
  m.name = "rpi-new-" + std::to_string(i);
  m.signing_key.fill(static_cast<std::uint8_t>(0x80 + i));
  m.curve_key.fill(static_cast<std::uint8_t>(0x80 + i));
  m.endpoint = "tcp://10.1.0." + std::to_string(i + 1) + ":7946";
  return m;
}

// Sends `delta` over the wire and applies it to `base`.
mesh::Result<MemberList> OverTheWire(const mesh::CertificateAuthority& ca, const MemberList& base,
                                     const MemberListDelta& delta) {
  auto bytes = mesh::EncodeMemberListDelta(delta);
  REQUIRE(bytes.ok());
  auto back = mesh::DecodeMemberListDelta(*bytes);
  REQUIRE(back.ok());
  CHECK(*back == delta);
  return mesh::ApplyMemberListDelta(ca.public_keys(), base, *back);
}

}  // namespace

TEST_CASE("MemberListDelta: add, change, remove, move rebuild the signed list byte for byte",
          "[mesh][members][delta]") {
  const auto ca = mesh_test::NewCa();
  const MemberList base = mesh_test::SignedList(ca, 6);
  const std::vector<std::pair<const char*, std::function<void(MemberList&)>>> edits = {
      {"add at the end", [](MemberList& l) { l.members.push_back(NewMember(1)); }},
      {"add in the middle", [](MemberList& l) { l.members.insert(l.members.begin() + 2, NewMember(1)); }},
      {"add two", [](MemberList& l) {
         l.members.insert(l.members.begin(), NewMember(1));
         l.members.push_back(NewMember(2));
       }},
      {"endpoint changed", [](MemberList& l) { l.members[3].endpoint = "tcp://10.9.9.9:7000"; }},
      {"keys changed", [](MemberList& l) { l.members[4].curve_key.fill(0x77); }},
      {"removed", [](MemberList& l) { l.members.erase(l.members.begin() + 1); }},
      {"removed all but one", [](MemberList& l) { l.members.resize(1); }},
      {"rejoined (moved to the end, new endpoint)",
       [](MemberList& l) {
         mesh::Member m = l.members[1];
         m.endpoint = "tcp://10.0.0.200:7946";
         l.members.erase(l.members.begin() + 1);
         l.members.push_back(m);
       }},
      {"reversed", [](MemberList& l) { std::reverse(l.members.begin(), l.members.end()); }},
      {"nothing but the epoch", [](MemberList&) {}},
  };
  for (const auto& [what, edit] : edits) {
    INFO(what);
    const MemberList next = Next(ca, base, edit);
    auto delta = mesh::MakeMemberListDelta(base, next);
    REQUIRE(delta.ok());
    auto applied = OverTheWire(ca, base, *delta);
    REQUIRE(applied.ok());
    CHECK(*applied == next);
    CHECK(*mesh::EncodeMemberList(*applied) == *mesh::EncodeMemberList(next));
  }
  // A join sends one member, not the list.
  const MemberList joined = Next(ca, base, [](MemberList& l) { l.members.push_back(NewMember(1)); });
  auto delta = mesh::MakeMemberListDelta(base, joined);
  REQUIRE(delta.ok());
  CHECK(delta->upserts.size() == 1);
  CHECK(delta->upserts[0].index == 6);
  CHECK(delta->removed.empty());
  CHECK(mesh::EncodeMemberListDelta(*delta)->size() * 3 < mesh::EncodeMemberList(joined)->size());
  const MemberList removed = Next(ca, base, [](MemberList& l) { l.members.erase(l.members.begin() + 2); });
  delta = mesh::MakeMemberListDelta(base, removed);
  REQUIRE(delta.ok());
  CHECK(delta->upserts.empty());
  CHECK(delta->removed == std::vector<std::string>{"n-2"});
}

TEST_CASE("MemberListDelta: a delta for another epoch is refused (ask for the full list)",
          "[mesh][members][delta]") {
  const auto ca = mesh_test::NewCa();
  const MemberList e7 = mesh_test::SignedList(ca, 4);
  const MemberList e8 = Next(ca, e7, [](MemberList& l) { l.members.push_back(NewMember(1)); });
  const MemberList e9 = Next(ca, e8, [](MemberList& l) { l.members.push_back(NewMember(2)); });
  auto d89 = mesh::MakeMemberListDelta(e8, e9);
  REQUIRE(d89.ok());
  // A member still at 7 (missed 8) and one already at 9.
  CHECK(mesh::ApplyMemberListDelta(ca.public_keys(), e7, *d89).status().code() ==
        StatusCode::kUnavailable);
  CHECK(mesh::ApplyMemberListDelta(ca.public_keys(), e9, *d89).status().code() ==
        StatusCode::kUnavailable);
  // Old list newer than new, or the same epoch: no delta.
  CHECK(mesh::MakeMemberListDelta(e9, e8).status().code() == StatusCode::kInvalidArgument);
  CHECK(mesh::MakeMemberListDelta(e8, e8).status().code() == StatusCode::kInvalidArgument);
  // Skipping an epoch works when the sender made it from that base.
  auto d79 = mesh::MakeMemberListDelta(e7, e9);
  REQUIRE(d79.ok());
  CHECK(*mesh::ApplyMemberListDelta(ca.public_keys(), e7, *d79) == e9);
}

TEST_CASE("MemberListDelta: forged or altered deltas fail verification", "[mesh][members][delta]") {
  const auto ca = mesh_test::NewCa();
  const MemberList base = mesh_test::SignedList(ca, 5);
  const MemberList next = Next(ca, base, [](MemberList& l) {
    l.members.push_back(NewMember(1));
    l.members.erase(l.members.begin() + 3);
  });
  const MemberListDelta good = *mesh::MakeMemberListDelta(base, next);
  REQUIRE(mesh::ApplyMemberListDelta(ca.public_keys(), base, good).ok());
  const std::vector<std::pair<const char*, std::function<void(MemberListDelta&)>>> edits = {
      {"epoch", [](MemberListDelta& d) { d.epoch += 1; }},
      {"issued_ns", [](MemberListDelta& d) { d.issued_ns += 1; }},
      {"upserted key", [](MemberListDelta& d) { d.upserts[0].member.curve_key[3] ^= 1; }},
      {"upserted endpoint", [](MemberListDelta& d) { d.upserts[0].member.endpoint = "tcp://6.6.6.6:1"; }},
      {"intruder added",
       [](MemberListDelta& d) { d.upserts.push_back({6, NewMember(9)}); }},
      {"removal dropped", [](MemberListDelta& d) { d.removed.clear(); }},
      {"another removed", [](MemberListDelta& d) { d.removed.push_back("n-1"); }},
      {"index moved", [](MemberListDelta& d) { d.upserts[0].index = 0; }},
      {"signature", [](MemberListDelta& d) { d.signature[0] ^= 1; }},
  };
  for (const auto& [what, edit] : edits) {
    INFO("altered: " << what);
    MemberListDelta d = good;
    edit(d);
    CHECK(mesh::ApplyMemberListDelta(ca.public_keys(), base, d).status().code() ==
          StatusCode::kCorrupt);
  }
  // Another CA's delta, even over the same members.
  const auto other = mesh_test::NewCa();
  MemberList forged = next;
  REQUIRE(other.SignMemberList(forged).ok());
  MemberListDelta f = good;
  f.issuer = forged.issuer;
  f.signature = forged.signature;
  CHECK(mesh::ApplyMemberListDelta(ca.public_keys(), base, f).status().code() ==
        StatusCode::kPermissionDenied);
  // Ids that are not there, past-the-end indices: Corrupt before any signature work.
  MemberListDelta gone = good;
  gone.removed = {"n-nobody"};
  CHECK_THAT(mesh::ApplyMemberListDelta(ca.public_keys(), base, gone).status().message(),
             Catch::Contains("not in epoch"));
  MemberListDelta past = good;
  past.upserts[0].index = 50;
  CHECK_THAT(mesh::ApplyMemberListDelta(ca.public_keys(), base, past).status().message(),
             Catch::Contains("past the list's end"));
}

TEST_CASE("MemberListDelta: the codec refuses bad shapes and limits", "[mesh][members][delta]") {
  const auto ca = mesh_test::NewCa();
  const MemberList base = mesh_test::SignedList(ca, 3);
  const MemberList next = Next(ca, base, [](MemberList& l) { l.members.push_back(NewMember(1)); });
  const MemberListDelta good = *mesh::MakeMemberListDelta(base, next);
  const std::string bytes = *mesh::EncodeMemberListDelta(good);

  // Every truncation, trailing bytes, empty input.
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    CHECK(mesh::DecodeMemberListDelta(bytes.substr(0, n)).status().code() == StatusCode::kCorrupt);
  }
  CHECK(mesh::DecodeMemberListDelta(bytes + '\x00').status().code() == StatusCode::kCorrupt);

  // Encoder refusals (the decoder refuses the same values).
  const std::vector<std::pair<const char*, std::function<void(MemberListDelta&)>>> bad = {
      {"epoch not after base", [](MemberListDelta& d) { d.epoch = d.base_epoch; }},
      {"indices not increasing", [](MemberListDelta& d) { d.upserts.push_back(d.upserts[0]); }},
      {"index out of range", [](MemberListDelta& d) { d.upserts[0].index = mesh::kMaxMembers; }},
      {"removed and upserted", [](MemberListDelta& d) { d.removed.push_back(d.upserts[0].member.node_id); }},
      {"removed twice", [](MemberListDelta& d) { d.removed = {"n-1", "n-1"}; }},
      {"bad removed id", [](MemberListDelta& d) { d.removed = {"bad id"}; }},
      {"bad endpoint", [](MemberListDelta& d) { d.upserts[0].member.endpoint = "udp://x"; }},
  };
  for (const auto& [what, edit] : bad) {
    INFO(what);
    MemberListDelta d = good;
    edit(d);
    CHECK(mesh::EncodeMemberListDelta(d).status().code() == StatusCode::kInvalidArgument);
  }
  MemberListDelta v2 = good;
  v2.version = 2;
  CHECK(mesh::EncodeMemberListDelta(v2).status().code() == StatusCode::kUnsupported);

  // Hand-made hostile bytes.
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  auto decode = [&] { return mesh::DecodeMemberListDelta({buf.data(), buf.size()}); };
  // An array header claiming 2^31 upserts: refused unread, nothing allocated.
  pk.pack_array(8);
  pk.pack_uint32(1);
  pk.pack_uint64(1);
  pk.pack_uint64(2);
  pk.pack_int64(0);
  pk.pack_array(0x7fffffff);
  CHECK(decode().status().code() == StatusCode::kCorrupt);
  buf.clear();
  pk.pack_array(3);
  pk.pack_uint32(2);
  pk.pack_uint64(1);
  pk.pack_uint64(2);
  CHECK(decode().status().code() == StatusCode::kUnsupported);
  buf.clear();
  pk.pack_array(8);  // upsert index as a string
  pk.pack_uint32(1);
  pk.pack_uint64(1);
  pk.pack_uint64(2);
  pk.pack_int64(0);
  pk.pack_array(1);
  pk.pack_array(2);
  pk.pack_str(1);
  pk.pack_str_body("0", 1);
  CHECK(decode().status().code() == StatusCode::kCorrupt);
  buf.clear();
  pk.pack_map(0);
  CHECK(decode().status().code() == StatusCode::kCorrupt);
  // Oversized input is refused before parsing.
  CHECK(mesh::DecodeMemberListDelta(std::string(mesh::kMaxMemberListDeltaBytes + 1, '\x90'))
            .status()
            .code() == StatusCode::kCorrupt);
}

TEST_CASE("MemberListRequest: round trip and refusals", "[mesh][members][delta]") {
  for (std::uint64_t e : {std::uint64_t{0}, std::uint64_t{7}, ~std::uint64_t{0}}) {
    for (bool full : {false, true}) {
      auto bytes = mesh::EncodeMemberListRequest({e, full});
      REQUIRE(bytes.ok());
      CHECK(bytes->size() <= mesh::kMaxMemberListRequestBytes);
      auto back = mesh::DecodeMemberListRequest(*bytes);
      REQUIRE(back.ok());
      CHECK(*back == mesh::MemberListRequest{e, full});
    }
  }
  const std::string good = *mesh::EncodeMemberListRequest({7, true});
  CHECK(good == std::string("\x93\x01\x07\xc3", 4));
  for (std::size_t n = 0; n < good.size(); ++n) {
    CHECK(mesh::DecodeMemberListRequest(good.substr(0, n)).status().code() == StatusCode::kCorrupt);
  }
  CHECK(mesh::DecodeMemberListRequest(good + '\x01').status().code() == StatusCode::kCorrupt);
  CHECK(mesh::DecodeMemberListRequest("\x93\x02\x07\xc2").status().code() == StatusCode::kUnsupported);
  CHECK(mesh::DecodeMemberListRequest("\x93\x01\xff\xc2").status().code() == StatusCode::kCorrupt);
  CHECK(mesh::DecodeMemberListRequest("\x93\x01\x07\x07").status().code() == StatusCode::kCorrupt);
  CHECK(mesh::DecodeMemberListRequest("\x92\x01\x07").status().code() == StatusCode::kCorrupt);
}
