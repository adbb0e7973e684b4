// Feeds ≥100k random and mutated buffers to each decoder that reads bytes
// from the wire or disk: envelope, certificate, member list, identity files.
// Whatever decodes must re-encode to something that decodes identically.
// Run under the asan preset this is the in-tree fuzz check; tests/fuzz/ has
// the coverage-guided libFuzzer targets.
#include <catch2/catch.hpp>
#include <functional>
#include <random>

#include "identity_fixtures.h"
#include "mesh/envelope.h"

namespace {

constexpr int kBuffersPerDecoder = 100'000;

// Bytes that are msgpack type headers or boundary values: mutating into them
// reaches the decoder's size and type checks far more often than random bytes.
constexpr std::uint8_t kInteresting[] = {
    0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xc4, 0xc5, 0xc6,
    0xca, 0xcb, 0xcc, 0xcf, 0xd0, 0xd3, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff};

class Mutator {
 public:
  Mutator(std::vector<std::string> seeds, std::uint64_t seed)
      : seeds_(std::move(seeds)), rng_(seed) {}

  std::string Next(int i) {
    if (i % 5 == 0) {  // pure noise
      std::string b(rng_() % 300, '\0');
      for (auto& c : b) c = static_cast<char>(rng_());
      return b;
    }
    std::string b = seeds_[rng_() % seeds_.size()];
    const int n = 1 + static_cast<int>(rng_() % 6);
    for (int k = 0; k < n && !b.empty(); ++k) Mutate(b);
    return b;
  }

 private:
  void Mutate(std::string& b) {
    const std::size_t pos = rng_() % b.size();
    switch (rng_() % 8) {
      case 0:
        b[pos] = static_cast<char>(b[pos] ^ (1u << (rng_() % 8)));
        break;
      case 1:
        b[pos] = static_cast<char>(rng_());
        break;
      case 2:
        b[pos] = static_cast<char>(kInteresting[rng_() % sizeof kInteresting]);
        break;
      case 3:
        b.insert(pos, 1, static_cast<char>(kInteresting[rng_() % sizeof kInteresting]));
        break;
      case 4:
        b.erase(pos, 1 + rng_() % 8);
        break;
      case 5:
        b.resize(pos);
        break;
      case 6: {  // repeat a chunk
        const std::size_t len = 1 + rng_() % 16;
        b.insert(pos, b.substr(pos, len));
        break;
      }
      default: {  // splice with another seed
        const std::string& other = seeds_[rng_() % seeds_.size()];
        b = b.substr(0, pos) + other.substr(rng_() % other.size());
        break;
      }
    }
  }

  std::vector<std::string> seeds_;
  std::mt19937_64 rng_;
};

// Runs the decoder over kBuffersPerDecoder buffers; returns how many decoded.
template <typename Decode, typename Encode>
int Hammer(const std::vector<std::string>& seeds, std::uint64_t seed, Decode decode,
           Encode encode) {
  for (const auto& s : seeds) REQUIRE(decode(s).ok());
  Mutator m(seeds, seed);
  int decoded = 0;
  for (int i = 0; i < kBuffersPerDecoder; ++i) {
    const std::string buf = m.Next(i);
    auto r = decode(buf);
    if (!r.ok()) {
      REQUIRE_FALSE(r.status().message().empty());
      continue;
    }
    ++decoded;
    auto again = encode(*r);
    REQUIRE(again.ok());
    auto twice = decode(*again);
    REQUIRE(twice.ok());
    REQUIRE(*twice == *r);
  }
  return decoded;
}

}  // namespace

TEST_CASE("Robustness: envelope decoder survives 100k random and mutated buffers", "[mesh][fuzz]") {
  std::vector<std::string> seeds;
  for (std::uint16_t t = 1; t <= mesh::kLastMsgType; ++t) {
    mesh::Envelope e;
    e.type = static_cast<mesh::MsgType>(t);
    e.sender = "rpi-" + std::to_string(t);
    e.seq = t * 1000003ULL;
    e.sent_ns = t % 2 == 0 ? -t : 1'764'000'000'000'000'000LL + t;
    e.payload.assign(t * 7, static_cast<char>(t));
    seeds.push_back(*mesh::Encode(e));
  }
  const int decoded = Hammer(
      seeds, 1, [](std::string_view b) { return mesh::Decode(b); },
      [](const mesh::Envelope& e) { return mesh::Encode(e); });
  CHECK(decoded > 0);
}

TEST_CASE("Robustness: certificate decoder survives 100k random and mutated buffers",
          "[mesh][fuzz]") {
  const auto ca = mesh_test::NewCa();
  std::vector<std::string> seeds;
  for (const char* name : {"rpi-1", "primary-gpu", "x"}) {
    auto c = mesh_test::CertFor(mesh_test::NewKeys(), name);
    if (std::string(name) == "x") c.labels.clear();
    REQUIRE(ca.SignCertificate(c).ok());
    seeds.push_back(*mesh::EncodeCertificate(c));
  }
  const int decoded = Hammer(
      seeds, 2, [](std::string_view b) { return mesh::DecodeCertificate(b); },
      [](const mesh::NodeCertificate& c) { return mesh::EncodeCertificate(c); });
  CHECK(decoded > 0);
}

TEST_CASE("Robustness: member-list decoder survives 100k random and mutated buffers",
          "[mesh][fuzz]") {
  const auto ca = mesh_test::NewCa();
  std::vector<std::string> seeds;
  for (int n : {0, 1, 3, 6}) seeds.push_back(*mesh::EncodeMemberList(mesh_test::SignedList(ca, n)));
  const int decoded = Hammer(
      seeds, 3, [](std::string_view b) { return mesh::DecodeMemberList(b); },
      [](const mesh::MemberList& l) { return mesh::EncodeMemberList(l); });
  CHECK(decoded > 0);
}

TEST_CASE("Robustness: identity-file decoders survive 100k random and mutated buffers",
          "[mesh][fuzz]") {
  const auto ca = mesh_test::NewCa();
  mesh::NodeIdentity id;
  id.keys = mesh_test::NewKeys();
  id.certificate = mesh_test::SignedCertFor(ca, id.keys);
  id.ca = ca.public_keys();
  const std::vector<std::string> seeds = {*mesh::EncodeNodeIdentity(id),
                                          *mesh::EncodeCaIdentity(ca)};
  // Both decoders see both kinds of file; the checksum means almost nothing
  // mutated decodes, so the point is only that nothing crashes or leaks.
  Mutator m(seeds, 4);
  for (int i = 0; i < kBuffersPerDecoder / 2; ++i) {
    const std::string buf = m.Next(i);
    auto node = mesh::DecodeNodeIdentity(buf);
    auto cad = mesh::DecodeCaIdentity(buf);
    if (node.ok()) REQUIRE(*mesh::DecodeNodeIdentity(*mesh::EncodeNodeIdentity(*node)) == *node);
    if (cad.ok())
      REQUIRE(mesh::DecodeCaIdentity(*mesh::EncodeCaIdentity(*cad))->fingerprint() ==
              cad->fingerprint());
  }
}
