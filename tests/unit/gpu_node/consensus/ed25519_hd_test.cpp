// The CUDA verifier's arithmetic (src/ed25519_hd.h), run on the CPU through its
// host twin, against libsodium 1.0.18: every verdict must be identical. This
// is what checks the kernel's code on machines without a GPU.
#include <sodium.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "consensus/types.h"
#include "consensus/verifier.h"
#include "ed25519_hd_host.h"

namespace {

using consensus::PublicKey;
using consensus::Signature;

constexpr std::uint8_t kL[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                 0xa2, 0xde, 0xf9, 0xde, 0x14, 0,    0,    0,    0,    0,    0,
                                 0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};

// libsodium 1.0.18's small-order blacklist (y with the sign bit clear).
std::vector<std::array<std::uint8_t, 32>> SmallOrderEncodings() {
  std::vector<std::array<std::uint8_t, 32>> out;
  std::array<std::uint8_t, 32> y{};
  out.push_back(y);  // 0
  y[0] = 1;
  out.push_back(y);  // 1
  out.push_back({0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
                 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
                 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05});
  out.push_back({0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
                 0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
                 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a});
  for (std::uint8_t low : {0xec, 0xed, 0xee}) {  // p - 1, p, p + 1
    y.fill(0xff);
    y[31] = 0x7f;
    y[0] = low;
    out.push_back(y);
  }
  return out;
}

// How many random items each part runs: >= 10k valid and >= 10k corrupted in
// the normal build; fewer under ASan and qemu, where the same code is only
// checked for memory errors and the other architecture.
std::size_t ItemCount() {
  if (const char* env = std::getenv("STRATOSWARM_ED25519_HD_ITEMS")) return std::stoul(env);
  if (std::getenv("STRATOSWARM_TEST_EMULATOR") != nullptr) return 1000;
#if defined(__SANITIZE_ADDRESS__)
  return 3000;
#else
  return 10000;
#endif
}

struct Item {
  std::vector<std::uint8_t> message;
  Signature signature{};
  PublicKey key{};
};

struct Tally {
  std::size_t accepted = 0, rejected = 0, mismatches = 0;
};

void Check(const Item& item, Tally& tally, const char* what) {
  const bool expected = crypto_sign_verify_detached(item.signature.data(), item.message.data(),
                                                    item.message.size(), item.key.data()) == 0;
  const consensus::SignedMessage m{item.message.data(), item.message.size(), &item.signature,
                                   &item.key};
  const bool got = consensus::internal::HostEd25519Verify(m);
  if (got != expected) {
    ++tally.mismatches;
    if (tally.mismatches <= 10) {
      FAIL_CHECK(what << ": host twin says " << got << ", libsodium " << expected);
    }
  }
  ++(expected ? tally.accepted : tally.rejected);
}

Item SignedItem(std::mt19937_64& rng, const consensus::KeyPair& kp, std::size_t max_len) {
  Item item;
  item.message.resize(rng() % (max_len + 1));
  for (auto& b : item.message) b = static_cast<std::uint8_t>(rng());
  item.key = kp.public_key;
  crypto_sign_detached(item.signature.data(), nullptr, item.message.data(), item.message.size(),
                       kp.secret_key.data());
  return item;
}

void FlipBit(std::mt19937_64& rng, std::uint8_t* bytes, std::size_t len) {
  bytes[rng() % len] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
}

}  // namespace

TEST_CASE("ed25519_hd SHA-512 matches libsodium", "[consensus][verifier][cuda-twin]") {
  std::mt19937_64 rng(11);
  std::vector<std::uint8_t> data(1200);
  for (auto& b : data) b = static_cast<std::uint8_t>(rng());
  for (std::size_t len = 0; len <= data.size(); len += (len < 300 ? 1 : 97)) {
    std::uint8_t want[64], got[64];
    crypto_hash_sha512(want, data.data(), len);
    consensus::internal::HostSha512(data.data(), len, got);
    INFO("length " << len);
    CHECK(std::memcmp(want, got, 64) == 0);
  }
}

TEST_CASE("ed25519_hd host twin matches libsodium on random valid and corrupted signatures",
          "[consensus][verifier][cuda-twin]") {
  REQUIRE(sodium_init() >= 0);
  const std::size_t n = ItemCount();
  std::mt19937_64 rng(2024);
  std::vector<consensus::KeyPair> keys;
  for (int i = 0; i < 32; ++i) keys.push_back(consensus::GenerateKeyPair());
  auto key = [&]() -> const consensus::KeyPair& { return keys[rng() % keys.size()]; };

  Tally valid;
  for (std::size_t i = 0; i < n; ++i) Check(SignedItem(rng, key(), 300), valid, "valid");
  INFO("valid: " << valid.accepted << " accepted, " << valid.rejected << " rejected");
  CHECK(valid.mismatches == 0);
  CHECK(valid.accepted == n);

  // One bit flipped in R, S, A or M; n in all.
  Tally flipped;
  for (std::size_t i = 0; i < n; ++i) {
    Item item = SignedItem(rng, key(), 300);
    switch (i % 4) {
      case 0:
        FlipBit(rng, item.signature.data(), 32);
        break;
      case 1:
        FlipBit(rng, item.signature.data() + 32, 32);
        break;
      case 2:
        FlipBit(rng, item.key.data(), 32);
        break;
      default:
        if (item.message.empty()) item.message.push_back(0);
        FlipBit(rng, item.message.data(), item.message.size());
    }
    Check(item, flipped, "one bit flipped");
  }
  INFO("flipped: " << flipped.accepted << " accepted, " << flipped.rejected << " rejected");
  CHECK(flipped.mismatches == 0);
  CHECK(flipped.rejected == n);
}

TEST_CASE("ed25519_hd host twin matches libsodium on crafted edge cases",
          "[consensus][verifier][cuda-twin]") {
  REQUIRE(sodium_init() >= 0);
  const std::size_t n = ItemCount();
  std::mt19937_64 rng(77);
  const consensus::KeyPair kp = consensus::GenerateKeyPair();
  const auto small_order = SmallOrderEncodings();
  Tally t;
  std::size_t checked = 0;

  // S >= L: S + L (still satisfies the equation), L itself, L + small, random top bits.
  for (std::size_t i = 0; i < n / 8; ++i) {
    Item item = SignedItem(rng, kp, 150);
    std::uint8_t* s = item.signature.data() + 32;
    switch (i % 4) {
      case 0: {
        unsigned carry = 0;
        for (int b = 0; b < 32; ++b) {
          const unsigned sum = s[b] + kL[b] + carry;
          s[b] = static_cast<std::uint8_t>(sum);
          carry = sum >> 8;
        }
        break;
      }
      case 1:
        std::memcpy(s, kL, 32);
        s[0] = static_cast<std::uint8_t>(s[0] + rng() % 3);
        break;
      case 2:
        s[31] |= static_cast<std::uint8_t>(0x10 << (rng() % 4));
        break;
      default:
        std::memcpy(s, kL, 32);
        s[0] = static_cast<std::uint8_t>(s[0] - 1);  // L - 1: canonical
    }
    Check(item, t, "non-canonical S");
    ++checked;
  }

  // Small-order R and A, each blacklisted y with either sign bit, with a real
  // signature, with S = 0, and against each other (S = 0 makes several of these
  // satisfy the bare equation, so only the blacklist rejects them).
  for (const auto& y : small_order) {
    for (std::uint8_t sign : {0x00, 0x80}) {
      std::array<std::uint8_t, 32> enc = y;
      enc[31] |= sign;
      for (int rep = 0; rep < 4; ++rep) {
        Item r_bad = SignedItem(rng, kp, 64);
        std::memcpy(r_bad.signature.data(), enc.data(), 32);
        Check(r_bad, t, "small-order R");
        Item a_bad = SignedItem(rng, kp, 64);
        std::memcpy(a_bad.key.data(), enc.data(), 32);
        Check(a_bad, t, "small-order A");
        if (rep == 0) std::memset(a_bad.signature.data() + 32, 0, 32);
        Check(a_bad, t, "small-order A, S = 0");
        checked += 3;
      }
      for (const auto& y2 : small_order) {
        Item both;
        both.message = {1, 2, 3};
        std::memcpy(both.key.data(), enc.data(), 32);
        std::memcpy(both.signature.data(), y2.data(), 32);  // S = 0
        Check(both, t, "small-order R and A");
        ++checked;
      }
    }
  }

  // Non-canonical A: y in [p, 2^255), either sign bit; p and p + 1 are also
  // blacklisted, the rest fail only the canonical check.
  for (int k = 0; k < 19; ++k) {
    for (std::uint8_t sign : {0x00, 0x80}) {
      Item item = SignedItem(rng, kp, 64);
      item.key.fill(0xff);
      item.key[31] = static_cast<std::uint8_t>(0x7f | sign);
      item.key[0] = static_cast<std::uint8_t>(0xed + k);
      Check(item, t, "non-canonical A");
      ++checked;
    }
  }

  // The identity as R and as A, and the encoding of -0 (x = 0, sign bit set).
  {
    Item item = SignedItem(rng, kp, 16);
    item.signature.fill(0);
    item.signature[0] = 1;
    Check(item, t, "R = identity, S = 0");
    item.key.fill(0);
    item.key[0] = 1;
    Check(item, t, "R = A = identity, S = 0");
    item.key[31] = 0x80;
    Check(item, t, "A = -0 identity");
    checked += 3;
  }

  // Random 32-byte strings as A (about half are not on the curve), and as R.
  for (std::size_t i = 0; i < n / 4; ++i) {
    Item item = SignedItem(rng, kp, 100);
    std::uint8_t* target = i % 2 ? item.key.data() : item.signature.data();  // A or R
    for (int b = 0; b < 32; ++b) target[b] = static_cast<std::uint8_t>(rng());
    Check(item, t, "random A or R");
    ++checked;
  }

  // Mixed-order keys A' = A + T (T of order 2, 4 or 8): not blacklisted, so
  // libsodium runs the cofactorless equation; a signature made for A' passes
  // exactly when [k]T is the identity. Exercises decoding and the group law
  // on torsion components.
  {
    std::vector<std::array<std::uint8_t, 32>> torsion;
    for (const auto& y : small_order) {
      for (std::uint8_t sign : {0x00, 0x80}) {
        std::array<std::uint8_t, 32> e = y;
        e[31] |= sign;
        if (e[0] >= 0xec && e[1] == 0xff) continue;  // non-canonical encodings
        torsion.push_back(e);
      }
    }
    std::size_t mixed = 0;
    for (std::size_t i = 0; i < n / 4; ++i) {
      std::uint8_t a[32], r[32], big_a[32], big_r[32];
      crypto_core_ed25519_scalar_random(a);
      crypto_core_ed25519_scalar_random(r);
      REQUIRE(crypto_scalarmult_ed25519_base_noclamp(big_a, a) == 0);
      REQUIRE(crypto_scalarmult_ed25519_base_noclamp(big_r, r) == 0);
      Item item;
      item.message.resize(rng() % 130);
      for (auto& b : item.message) b = static_cast<std::uint8_t>(rng());
      const auto& tp = torsion[i % torsion.size()];
      if (crypto_core_ed25519_add(item.key.data(), big_a, tp.data()) != 0) {
        std::memcpy(item.key.data(), big_a, 32);
      }
      std::memcpy(item.signature.data(), big_r, 32);
      // S = r + k a with k = H(R || A' || M) mod L.
      std::uint8_t h[64], k[32], ka[32];
      crypto_hash_sha512_state hs;
      crypto_hash_sha512_init(&hs);
      crypto_hash_sha512_update(&hs, item.signature.data(), 32);
      crypto_hash_sha512_update(&hs, item.key.data(), 32);
      crypto_hash_sha512_update(&hs, item.message.data(), item.message.size());
      crypto_hash_sha512_final(&hs, h);
      crypto_core_ed25519_scalar_reduce(k, h);
      crypto_core_ed25519_scalar_mul(ka, k, a);
      crypto_core_ed25519_scalar_add(item.signature.data() + 32, r, ka);
      Tally before = t;
      Check(item, t, "mixed-order A");
      mixed += t.accepted - before.accepted;
      ++checked;
    }
    INFO("mixed-order keys accepted: " << mixed << " of " << n / 4);
    CHECK(mixed > 0);      // [k]T = identity happens (T of order <= 2 always)
    CHECK(mixed < n / 4);  // and the other cases are rejected
  }

  INFO(checked << " items: " << t.accepted << " accepted, " << t.rejected << " rejected");
  CHECK(t.mismatches == 0);
  CHECK(checked >= n / 2);
}
