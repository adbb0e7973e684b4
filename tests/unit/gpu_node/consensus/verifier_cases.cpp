#include "verifier_cases.h"

#include <sodium.h>

#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

#include "consensus/types.h"

namespace consensus_test {
namespace {

using consensus::PublicKey;
using consensus::Signature;
using consensus::SignedMessage;

struct Case {
  std::string message;
  Signature signature{};
  PublicKey key{};
};

SignedMessage View(const Case& c) {
  return {reinterpret_cast<const std::uint8_t*>(c.message.data()), c.message.size(), &c.signature,
          &c.key};
}

bool Libsodium(const Case& c) {
  return crypto_sign_verify_detached(c.signature.data(),
                                     reinterpret_cast<const unsigned char*>(c.message.data()),
                                     c.message.size(), c.key.data()) == 0;
}

void CheckBatch(consensus::VoteVerifier& verifier, const std::vector<Case>& cases,
                std::size_t* valid_seen, std::size_t* invalid_seen) {
  std::vector<SignedMessage> items;
  for (const Case& c : cases) items.push_back(View(c));
  std::vector<std::uint8_t> verdicts(items.size(), 7);
  REQUIRE(verifier.Verify(items, verdicts).ok());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const bool expected = Libsodium(cases[i]);
    if (static_cast<bool>(verdicts[i]) != expected || verdicts[i] > 1) {
      FAIL_CHECK("item " << i << ": verifier says " << int{verdicts[i]} << ", libsodium "
                         << expected);
    }
    ++(expected ? *valid_seen : *invalid_seen);
  }
}

}  // namespace

void CheckRandomAgainstLibsodium(consensus::VoteVerifier& verifier, std::size_t count,
                                 std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<consensus::KeyPair> keys;
  for (int i = 0; i < 16; ++i) keys.push_back(consensus::GenerateKeyPair());
  std::size_t done = 0, valid = 0, invalid = 0;
  std::size_t corruption_counts[5] = {};
  while (done < count) {
    const std::size_t batch = 1 + rng() % 600;
    std::vector<Case> cases(batch);
    for (Case& c : cases) {
      const auto& kp = keys[rng() % keys.size()];
      c.message.resize(rng() % 200);
      for (char& ch : c.message) ch = static_cast<char>(rng());
      c.key = kp.public_key;
      crypto_sign_detached(c.signature.data(), nullptr,
                           reinterpret_cast<const unsigned char*>(c.message.data()),
                           c.message.size(), kp.secret_key.data());
      const std::size_t kind = rng() % 5;  // 0 valid, 1 message, 2 R, 3 S, 4 key
      ++corruption_counts[kind];
      switch (kind) {
        case 1:
          if (c.message.empty()) c.message.push_back('\0');
          c.message[rng() % c.message.size()] ^= static_cast<char>(1u << (rng() % 8));
          break;
        case 2: c.signature[rng() % 32] ^= static_cast<std::uint8_t>(1u << (rng() % 8)); break;
        case 3: c.signature[32 + rng() % 32] ^= static_cast<std::uint8_t>(1u << (rng() % 8)); break;
        case 4: c.key[rng() % 32] ^= static_cast<std::uint8_t>(1u << (rng() % 8)); break;
        default: break;
      }
    }
    CheckBatch(verifier, cases, &valid, &invalid);
    done += batch;
  }
  INFO("valid " << valid << ", invalid " << invalid);
  CHECK(valid >= count / 6);
  CHECK(invalid >= count / 2);
  for (std::size_t n : corruption_counts) CHECK(n > count / 8);
}

void CheckEdgeCases(consensus::VoteVerifier& verifier) {
  const auto kp = consensus::GenerateKeyPair();
  auto signed_case = [&](std::string msg) {
    Case c;
    c.message = std::move(msg);
    c.key = kp.public_key;
    crypto_sign_detached(c.signature.data(), nullptr,
                         reinterpret_cast<const unsigned char*>(c.message.data()),
                         c.message.size(), kp.secret_key.data());
    return c;
  };
  std::vector<Case> cases;
  cases.push_back(signed_case(""));  // empty message, valid
  cases.push_back(signed_case("x"));
  {
    // Non-canonical S: S + L verifies mathematically but libsodium refuses it.
    Case c = signed_case("malleable");
    static const std::uint8_t kL[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
                                        0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
                                        0,    0,    0,    0,    0,    0,    0,    0,
                                        0,    0,    0,    0,    0,    0,    0,    0x10};
    unsigned carry = 0;
    for (int i = 0; i < 32; ++i) {
      const unsigned sum = c.signature[32 + i] + kL[i] + carry;
      c.signature[32 + i] = static_cast<std::uint8_t>(sum);
      carry = sum >> 8;
    }
    cases.push_back(c);
  }
  {
    Case c = signed_case("small-order R");
    c.signature.fill(0);
    c.signature[0] = 1;  // R = identity
    cases.push_back(c);
  }
  {
    Case c = signed_case("small-order A");
    c.key.fill(0);
    c.key[0] = 1;  // A = identity
    cases.push_back(c);
  }
  {
    Case c = signed_case("non-canonical A");
    c.key.fill(0xff);
    c.key[31] = 0x7f;  // y = 2^255 - 1 >= p
    cases.push_back(c);
  }
  {
    Case c = signed_case("zero signature");
    c.signature.fill(0);
    cases.push_back(c);
  }
  // The same valid and invalid items repeated across a long batch.
  const std::size_t base = cases.size();
  for (int rep = 0; rep < 40; ++rep) {
    for (std::size_t i = 0; i < base; ++i) cases.push_back(cases[i]);
  }
  std::size_t valid = 0, invalid = 0;
  CheckBatch(verifier, cases, &valid, &invalid);
  CHECK(valid == 41 * 2);
  CHECK(invalid == 41 * (base - 2));
}

void CheckContract(consensus::VoteVerifier& verifier) {
  std::vector<SignedMessage> none;
  std::vector<std::uint8_t> no_verdicts;
  CHECK(verifier.Verify(none, no_verdicts).ok());
  Case c;
  std::vector<SignedMessage> one{View(c)};
  std::vector<std::uint8_t> two(2);
  CHECK(verifier.Verify(one, two).code() == mesh::StatusCode::kInvalidArgument);
  CHECK_FALSE(verifier.Name().empty());
}

}  // namespace consensus_test
