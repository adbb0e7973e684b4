#include "mesh/membership_codec.h"

#include <catch2/catch.hpp>
#include <msgpack.hpp>
#include <random>

#include "mesh/envelope.h"

using namespace mesh;

namespace {

template <typename... Ts>
std::string Pack(const Ts&... fields) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(sizeof...(fields));
  (pk.pack(fields), ...);
  return {buf.data(), buf.size()};
}

GossipBody SampleGossip() {
  GossipBody g;
  g.rumors.push_back(Rumor{RumorKind::kSuspect, "rpi-2", 7, "rpi-1"});
  g.rumors.push_back(Rumor{RumorKind::kAlive, "rpi-3", 0, "rpi-3"});
  g.rumors.push_back(Rumor{RumorKind::kConfirm, "primary-gpu", 18446744073709551615ULL, "rpi-4"});
  return g;
}

// Every decoder on the same bytes: none may throw or crash.
void DecodeAll(std::string_view bytes) {
  (void)DecodeHeartbeat(bytes);
  (void)DecodeHeartbeatAck(bytes);
  (void)DecodeIndirectProbe(bytes);
  (void)DecodeIndirectProbeAck(bytes);
  (void)DecodeGossip(bytes);
}

}  // namespace

TEST_CASE("MembershipCodec: every body round trips", "[mesh][fd][codec]") {
  auto hb = DecodeHeartbeat(*EncodeHeartbeat({42}));
  REQUIRE(hb.ok());
  CHECK(hb->probe_id == 42);
  auto ack = DecodeHeartbeatAck(*EncodeHeartbeatAck({UINT64_MAX}));
  REQUIRE(ack.ok());
  CHECK(ack->probe_id == UINT64_MAX);
  const IndirectProbeBody ip{9, "rpi-2"};
  auto ip_back = DecodeIndirectProbe(*EncodeIndirectProbe(ip));
  REQUIRE(ip_back.ok());
  CHECK(*ip_back == ip);
  for (bool alive : {true, false}) {
    const IndirectProbeAckBody a{9, "rpi-2", alive};
    auto back = DecodeIndirectProbeAck(*EncodeIndirectProbeAck(a));
    REQUIRE(back.ok());
    CHECK(*back == a);
  }
  const GossipBody g = SampleGossip();
  auto g_back = DecodeGossip(*EncodeGossip(g));
  REQUIRE(g_back.ok());
  CHECK(*g_back == g);
  auto empty = DecodeGossip(*EncodeGossip({}));
  REQUIRE(empty.ok());
  CHECK(empty->rumors.empty());
}

TEST_CASE("MembershipCodec: encoders refuse what decoders would refuse", "[mesh][fd][codec]") {
  CHECK(EncodeIndirectProbe({1, ""}).status().code() == StatusCode::kInvalidArgument);
  CHECK(EncodeIndirectProbeAck({1, std::string(kMaxSenderBytes + 1, 'x'), true}).status().code() ==
        StatusCode::kInvalidArgument);
  GossipBody g;
  g.rumors.assign(kMaxRumorsPerMessage + 1, Rumor{RumorKind::kAlive, "a", 0, "a"});
  CHECK_FALSE(EncodeGossip(g).ok());
  g.rumors.assign(1, Rumor{RumorKind::kAlive, "a", 0, ""});
  CHECK_FALSE(EncodeGossip(g).ok());
}

TEST_CASE("MembershipCodec: wrong shapes are Corrupt", "[mesh][fd][codec]") {
  auto corrupt = [](const auto& r) { return r.status().code() == StatusCode::kCorrupt; };
  CHECK(corrupt(DecodeHeartbeat("")));
  CHECK(corrupt(DecodeHeartbeat(Pack(-1))));                // negative id
  CHECK(corrupt(DecodeHeartbeat(Pack(1, 2))));              // too many fields
  CHECK(corrupt(DecodeHeartbeat(Pack(std::string("x")))));  // wrong type
  std::string trailing = *EncodeHeartbeat({1});
  trailing.push_back('x');
  CHECK(corrupt(DecodeHeartbeat(trailing)));  // trailing bytes
  CHECK(corrupt(DecodeHeartbeatAck(Pack(1.5))));
  CHECK(corrupt(DecodeIndirectProbe(Pack(1, std::string("")))));  // empty target
  CHECK(corrupt(DecodeIndirectProbe(Pack(1, std::string(kMaxSenderBytes + 1, 'x')))));
  CHECK(corrupt(DecodeIndirectProbe(Pack(1, 2))));
  CHECK(corrupt(DecodeIndirectProbeAck(Pack(1, std::string("b"), 1))));  // alive not bool
  CHECK(corrupt(DecodeGossip(Pack(1))));
  CHECK(corrupt(DecodeGossip(Pack(std::vector<int>{1, 2}))));
  // Rumor kind out of range, wrong rumor arity, bad ids.
  {
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk(buf);
    pk.pack_array(1);
    pk.pack_array(1);
    pk.pack_array(4);
    pk.pack(3);
    pk.pack(std::string("a"));
    pk.pack(0);
    pk.pack(std::string("b"));
    CHECK(corrupt(DecodeGossip({buf.data(), buf.size()})));
  }
  {
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk(buf);
    pk.pack_array(1);
    pk.pack_array(1);
    pk.pack_array(3);
    pk.pack(0);
    pk.pack(std::string("a"));
    pk.pack(0);
    CHECK(corrupt(DecodeGossip({buf.data(), buf.size()})));
  }
  // A map where an array belongs; deep nesting.
  {
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk(buf);
    pk.pack_map(1);
    pk.pack(1);
    pk.pack(2);
    CHECK(corrupt(DecodeHeartbeat({buf.data(), buf.size()})));
  }
  CHECK(corrupt(DecodeGossip(std::string(100, '\x91'))));
  // More rumors than allowed (array header says 65).
  {
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk(buf);
    pk.pack_array(1);
    pk.pack_array(kMaxRumorsPerMessage + 1);
    for (std::size_t i = 0; i <= kMaxRumorsPerMessage; ++i) {
      pk.pack_array(4);
      pk.pack(0);
      pk.pack(std::string("a"));
      pk.pack(0);
      pk.pack(std::string("a"));
    }
    CHECK(corrupt(DecodeGossip({buf.data(), buf.size()})));
  }
}

TEST_CASE("MembershipCodec: random and mutated buffers never crash decoders", "[mesh][fd][codec]") {
  std::mt19937_64 rng(4);
  std::vector<std::string> seeds = {*EncodeHeartbeat({77}), *EncodeIndirectProbe({5, "rpi-1"}),
                                    *EncodeIndirectProbeAck({5, "rpi-1", true}),
                                    *EncodeGossip(SampleGossip())};
  int accepted_mutants = 0;
  for (int i = 0; i < 50000; ++i) {
    std::string buf;
    if (i % 2 == 0) {
      buf.resize(rng() % 64);
      for (char& c : buf) c = static_cast<char>(rng());
    } else {
      buf = seeds[rng() % seeds.size()];
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        switch (rng() % 3) {
          case 0:
            buf[rng() % buf.size()] = static_cast<char>(rng());
            break;
          case 1:
            buf.resize(rng() % (buf.size() + 1));
            break;
          default:
            buf.insert(buf.begin() + static_cast<long>(rng() % (buf.size() + 1)),
                       static_cast<char>(rng()));
        }
        if (buf.empty()) buf.assign(1, '\xc1');  // never-used msgpack byte
      }
      if (DecodeGossip(buf).ok()) ++accepted_mutants;
    }
    DecodeAll(buf);
  }
  // Some mutants are still valid msgpack of the right shape; most are not.
  CHECK(accepted_mutants < 25000);
}
