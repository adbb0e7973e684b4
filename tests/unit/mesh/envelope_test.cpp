#include "mesh/envelope.h"

#include <catch2/catch.hpp>
#include <msgpack.hpp>
#include <random>

using mesh::Decode;
using mesh::Encode;
using mesh::Envelope;
using mesh::MsgType;
using mesh::StatusCode;

namespace {

Envelope Sample() {
  Envelope e;
  e.type = MsgType::kHeartbeatAck;
  e.sender = "rpi-1";
  e.seq = 1234567890123ULL;
  e.sent_ns = 1'764'000'000'123'456'789LL;
  e.payload = std::string(100, '\xab');
  return e;
}

// Packs an arbitrary 6-element array, for shapes Encode() refuses to make.
template <typename... Ts>
std::string PackArray(const Ts&... fields) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(sizeof...(fields));
  (pk.pack(fields), ...);
  return {buf.data(), buf.size()};
}

}  // namespace

TEST_CASE("Envelope: round trip keeps every field", "[mesh][envelope]") {
  const Envelope e = Sample();
  auto bytes = Encode(e);
  REQUIRE(bytes.ok());
  auto back = Decode(*bytes);
  REQUIRE(back.ok());
  CHECK(*back == e);
}

TEST_CASE("Envelope: negative timestamps and empty payload round trip", "[mesh][envelope]") {
  Envelope e = Sample();
  e.sent_ns = -42;
  e.payload.clear();
  auto back = Decode(*Encode(e));
  REQUIRE(back.ok());
  CHECK(*back == e);
}

TEST_CASE("Envelope: encode refuses what decode would refuse", "[mesh][envelope]") {
  Envelope e = Sample();
  e.sender.clear();
  CHECK(Encode(e).status().code() == StatusCode::kInvalidArgument);
  e.sender = std::string(mesh::kMaxSenderBytes + 1, 'x');
  CHECK(Encode(e).status().code() == StatusCode::kInvalidArgument);
  e = Sample();
  e.payload.assign(mesh::kMaxPayloadBytes + 1, '\0');
  CHECK(Encode(e).status().code() == StatusCode::kInvalidArgument);
  e = Sample();
  e.type = static_cast<MsgType>(999);
  CHECK(Encode(e).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("Envelope: wrong version and unknown type are Unsupported", "[mesh][envelope]") {
  auto v2 = Decode(PackArray(2u, 1u, std::string("a"), 1u, 5, std::vector<char>{'x'}));
  CHECK(v2.status().code() == StatusCode::kUnsupported);
  CHECK_THAT(v2.status().message(), Catch::Contains("wire version 2"));
  auto bad_type = Decode(PackArray(1u, 999u, std::string("a"), 1u, 5, std::vector<char>{'x'}));
  CHECK(bad_type.status().code() == StatusCode::kUnsupported);
}

TEST_CASE("Envelope: the member-list delta types are the last ones (issue 20)", "[mesh][envelope]") {
  CHECK(mesh::kLastMsgType == 23);
  CHECK(mesh::IsKnownMsgType(21));
  CHECK(mesh::IsKnownMsgType(22));
  CHECK(mesh::IsKnownMsgType(23));
  CHECK_FALSE(mesh::IsKnownMsgType(24));
  CHECK(mesh::MsgTypeName(mesh::MsgType::kCertRenew) == "cert_renew");
  CHECK(mesh::MsgTypeName(mesh::MsgType::kCertRenewed) == "cert_renewed");
  CHECK(mesh::MsgTypeName(mesh::MsgType::kMemberListDelta) == "member_list_delta");
  CHECK(mesh::MsgTypeName(mesh::MsgType::kMemberListRequest) == "member_list_request");
}

TEST_CASE("Envelope: wrong shapes are Corrupt", "[mesh][envelope]") {
  const std::vector<char> p{'x'};
  CHECK(Decode("").status().code() == StatusCode::kCorrupt);
  CHECK(Decode(PackArray(1u, 1u, std::string("a"), 1u, 5)).status().code() == StatusCode::kCorrupt);
  // sender as an int, seq negative, payload as a string rather than bin.
  CHECK(Decode(PackArray(1u, 1u, 7, 1u, 5, p)).status().code() == StatusCode::kCorrupt);
  CHECK(Decode(PackArray(1u, 1u, std::string("a"), -1, 5, p)).status().code() ==
        StatusCode::kCorrupt);
  CHECK(Decode(PackArray(1u, 1u, std::string("a"), 1u, 5, std::string("x"))).status().code() ==
        StatusCode::kCorrupt);
  // A valid envelope followed by junk.
  std::string bytes = *Encode(Sample());
  CHECK(Decode(bytes + "x").status().code() == StatusCode::kCorrupt);
  // A map where the array should be.
  msgpack::sbuffer buf;
  msgpack::pack(buf, std::map<int, int>{{1, 2}});
  CHECK(Decode({buf.data(), buf.size()}).status().code() == StatusCode::kCorrupt);
}

TEST_CASE("Envelope: oversized input refused before parsing", "[mesh][envelope]") {
  std::string huge(mesh::kMaxEnvelopeBytes + 1, '\x90');
  auto r = Decode(huge);
  CHECK(r.status().code() == StatusCode::kCorrupt);
  CHECK_THAT(r.status().message(), Catch::Contains("limit"));
}

TEST_CASE("Envelope: every truncation of a valid message is an error", "[mesh][envelope]") {
  const std::string bytes = *Encode(Sample());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    INFO("prefix length " << n);
    CHECK_FALSE(Decode(std::string_view(bytes).substr(0, n)).ok());
  }
}

TEST_CASE("Envelope: random and mutated buffers never crash", "[mesh][envelope][fuzz]") {
  std::mt19937_64 rng(0x5eed);
  const std::string valid = *Encode(Sample());
  int decoded_ok = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string buf;
    if (i % 2 == 0) {
      buf.resize(rng() % 256);
      for (auto& c : buf) c = static_cast<char>(rng());
    } else {
      buf = valid;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) buf[rng() % buf.size()] = static_cast<char>(rng());
    }
    auto r = Decode(buf);
    if (r.ok()) {
      ++decoded_ok;
      // Whatever decodes must re-encode to a message that decodes identically.
      auto again = Encode(*r);
      REQUIRE(again.ok());
      REQUIRE(*Decode(*again) == *r);
    }
  }
  // Mutating only the payload bytes keeps the message valid: some must survive.
  CHECK(decoded_ok > 0);
}

TEST_CASE("Envelope: a view points into the bytes and agrees with Decode", "[mesh][envelope]") {
  const std::string bytes = *Encode(Sample());
  auto view = mesh::DecodeView(bytes);
  REQUIRE(view.ok());
  const auto inside = [&](std::string_view part) {
    return part.data() >= bytes.data() && part.data() + part.size() <= bytes.data() + bytes.size();
  };
  CHECK(inside(view->sender));
  CHECK(inside(view->payload));
  CHECK(view->ToEnvelope() == Sample());
  CHECK(view->ToEnvelope() == *Decode(bytes));

  // The same refusals as Decode, with the same codes.
  CHECK(mesh::DecodeView("").status().code() == StatusCode::kCorrupt);
  CHECK(mesh::DecodeView(PackArray(2u, 1u, std::string("a"), 1u, 5, std::vector<char>{'x'}))
            .status()
            .code() == StatusCode::kUnsupported);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    CHECK_FALSE(mesh::DecodeView(std::string_view(bytes).substr(0, n)).ok());
  }
}
