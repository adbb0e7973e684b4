#include "mesh/crypto.h"

#include <zmq.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <thread>
#include <vector>

using mesh::StatusCode;

namespace {

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace

TEST_CASE("Crypto: SodiumInit is safe to race from many threads", "[mesh][crypto]") {
  std::vector<std::thread> threads;
  std::vector<int> ok(8, 0);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&ok, i] { ok[i] = mesh::SodiumInit().ok() ? 1 : 0; });
  }
  for (auto& t : threads) t.join();
  for (int v : ok) CHECK(v == 1);
}

TEST_CASE("Crypto: our CURVE keys are what libzmq derives", "[mesh][crypto][zmq]") {
  auto pair = mesh::GenerateCurveKeyPair();
  REQUIRE(pair.ok());
  // libzmq derives the public key from our secret key to the same bytes.
  const std::string secret_z85 = mesh::Z85EncodeKey(pair->secret_key.span());
  char public_z85[41];
  REQUIRE(zmq_curve_public(public_z85, secret_z85.c_str()) == 0);
  CHECK(std::string(public_z85) == mesh::Z85EncodeKey(pair->public_key));

  // And a libzmq key pair decodes into keys we agree on.
  char zpub[41], zsec[41];
  REQUIRE(zmq_curve_keypair(zpub, zsec) == 0);
  auto pub = mesh::Z85DecodeKey(zpub);
  auto sec = mesh::Z85DecodeKey(zsec);
  REQUIRE(pub.ok());
  REQUIRE(sec.ok());
  mesh::CurveSecretKey secret;
  std::memcpy(secret.data(), sec->data(), secret.size());
  auto derived = mesh::CurvePublicFromSecret(secret);
  REQUIRE(derived.ok());
  CHECK(*derived == *pub);
}

TEST_CASE("Crypto: Z85 round trip and strict decoding", "[mesh][crypto]") {
  mesh::CurvePublicKey key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(i * 7 + 1);
  const std::string text = mesh::Z85EncodeKey(key);
  CHECK(text.size() == mesh::kCurveZ85Chars);
  auto back = mesh::Z85DecodeKey(text);
  REQUIRE(back.ok());
  CHECK(*back == key);

  CHECK(mesh::Z85DecodeKey(text.substr(0, 39)).status().code() == StatusCode::kInvalidArgument);
  CHECK(mesh::Z85DecodeKey(text + "a").status().code() == StatusCode::kInvalidArgument);
  std::string bad = text;
  bad[5] = '"';  // not in the Z85 alphabet
  CHECK(mesh::Z85DecodeKey(bad).status().code() == StatusCode::kInvalidArgument);
  bad = text;
  bad[5] = '\0';
  CHECK(mesh::Z85DecodeKey(bad).status().code() == StatusCode::kInvalidArgument);
  // "#####" encodes more than 2^32-1 in one group.
  CHECK_FALSE(mesh::Z85DecodeKey(std::string(40, '#')).ok());
}

TEST_CASE("Crypto: sign and verify, tampering detected", "[mesh][crypto]") {
  auto pair = mesh::GenerateEd25519KeyPair();
  REQUIRE(pair.ok());
  auto sig = mesh::Sign(pair->secret_key, "vote: node rpi-2 failed");
  REQUIRE(sig.ok());
  CHECK(mesh::VerifySignature(pair->public_key, "vote: node rpi-2 failed", *sig).ok());
  auto bad = mesh::VerifySignature(pair->public_key, "vote: node rpi-3 failed", *sig);
  CHECK(bad.code() == StatusCode::kCorrupt);
  auto other = mesh::GenerateEd25519KeyPair();
  REQUIRE(other.ok());
  CHECK_FALSE(mesh::VerifySignature(other->public_key, "vote: node rpi-2 failed", *sig).ok());
  mesh::Ed25519Signature flipped = *sig;
  flipped[10] ^= 1;
  CHECK_FALSE(mesh::VerifySignature(pair->public_key, "vote: node rpi-2 failed", flipped).ok());
}

TEST_CASE("Crypto: public keys re-derived from secrets, damage detected", "[mesh][crypto]") {
  auto ed = mesh::GenerateEd25519KeyPair();
  REQUIRE(ed.ok());
  auto pk = mesh::Ed25519PublicFromSecret(ed->secret_key);
  REQUIRE(pk.ok());
  CHECK(*pk == ed->public_key);
  mesh::Ed25519SecretKey damaged = ed->secret_key;
  damaged.data()[40] ^= 0x10;  // the stored public half
  CHECK(mesh::Ed25519PublicFromSecret(damaged).status().code() == StatusCode::kCorrupt);

  auto curve = mesh::GenerateCurveKeyPair();
  REQUIRE(curve.ok());
  auto cpk = mesh::CurvePublicFromSecret(curve->secret_key);
  REQUIRE(cpk.ok());
  CHECK(*cpk == curve->public_key);
}

TEST_CASE("Crypto: Hash is BLAKE2b-256 over the concatenated parts", "[mesh][crypto]") {
  // RFC 7693 / reference BLAKE2b-256 of the empty string.
  auto empty = mesh::Hash({});
  REQUIRE(empty.ok());
  CHECK(mesh::ToHex(*empty) == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
  auto split = mesh::Hash({Bytes("ab"), Bytes("c")});
  auto whole = mesh::Hash({Bytes("abc")});
  REQUIRE(split.ok());
  REQUIRE(whole.ok());
  CHECK(*split == *whole);
  CHECK(mesh::ToHex(*whole) == "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
}

TEST_CASE("Crypto: hex encoding is strict", "[mesh][crypto]") {
  const std::string raw("\x00\x01\xab\xff", 4);
  CHECK(mesh::ToHex(Bytes(raw)) == "0001abff");
  CHECK(*mesh::FromHex("0001ABff") == raw);
  CHECK(mesh::FromHex("abc").status().code() == StatusCode::kInvalidArgument);
  CHECK(mesh::FromHex("zz").status().code() == StatusCode::kInvalidArgument);
  CHECK(mesh::ParseFingerprintHex(std::string(64, 'a')).ok());
  CHECK_FALSE(mesh::ParseFingerprintHex(std::string(62, 'a')).ok());
  CHECK_FALSE(mesh::ParseFingerprintHex(std::string(63, 'a') + "g").ok());
}

TEST_CASE("Crypto: secret bytes compare by value and random bytes differ", "[mesh][crypto]") {
  mesh::CurveSecretKey a, b;
  CHECK(a == b);
  b.data()[31] = 1;
  CHECK_FALSE(a == b);
  std::array<std::uint8_t, 32> r1{}, r2{};
  REQUIRE(mesh::RandomBytes(r1).ok());
  REQUIRE(mesh::RandomBytes(r2).ok());
  CHECK(r1 != r2);
}
