// Crypto primitives for identities, certificates and member lists: the one
// place StratoSwarm talks to libsodium (mesh/src/crypto.cpp is the only file
// that includes <sodium.h>; its failures become mesh::Status here).
//
//   Ed25519  signing keys: certificates, member lists, consensus votes
//   X25519   CURVE keys, byte-for-byte what zmq_curve_keypair() makes, so a key
//            pair from here can be handed to libzmq's ZMQ_CURVE_* options
//   BLAKE2b  (crypto_generichash, 32 bytes) for fingerprints
//   Z85      libzmq's text form of a 32-byte key (40 characters)
//
// Every function initialises libsodium on first use (once per process,
// thread-safe); SodiumInit() exists so a program can fail early and clearly.
//
// Secret keys live in SecretBytes, which wipes its memory when destroyed.
//
// Thread safety: all functions may be called from any thread; key objects are
// values (distinct objects from distinct threads).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "mesh/status.h"

namespace mesh {

inline constexpr std::size_t kEd25519PublicKeyBytes = 32;
inline constexpr std::size_t kEd25519SecretKeyBytes = 64;  // libsodium layout: seed || public key
inline constexpr std::size_t kEd25519SignatureBytes = 64;
inline constexpr std::size_t kCurveKeyBytes = 32;
inline constexpr std::size_t kCurveZ85Chars = 40;
inline constexpr std::size_t kFingerprintBytes = 32;

using Ed25519PublicKey = std::array<std::uint8_t, kEd25519PublicKeyBytes>;
using Ed25519Signature = std::array<std::uint8_t, kEd25519SignatureBytes>;
using CurvePublicKey = std::array<std::uint8_t, kCurveKeyBytes>;
using Fingerprint = std::array<std::uint8_t, kFingerprintBytes>;

// Overwrites `len` bytes at `p` in a way the compiler cannot optimise away.
void SecureZero(void* p, std::size_t len);
// Constant-time comparison of two equally long byte ranges.
bool ConstantTimeEquals(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

// Fixed-size secret bytes that are wiped on destruction and compared in
// constant time. Copies are deliberate (saving an identity needs one).
template <std::size_t N>
class SecretBytes {
 public:
  SecretBytes() = default;
  SecretBytes(const SecretBytes&) = default;
  SecretBytes& operator=(const SecretBytes&) = default;
  ~SecretBytes() { SecureZero(bytes_.data(), N); }

  static constexpr std::size_t size() { return N; }
  std::uint8_t* data() { return bytes_.data(); }
  const std::uint8_t* data() const { return bytes_.data(); }
  std::span<const std::uint8_t, N> span() const { return std::span<const std::uint8_t, N>(bytes_); }

  bool operator==(const SecretBytes& other) const {
    return ConstantTimeEquals(span(), other.span());
  }

 private:
  std::array<std::uint8_t, N> bytes_{};
};

using Ed25519SecretKey = SecretBytes<kEd25519SecretKeyBytes>;
using CurveSecretKey = SecretBytes<kCurveKeyBytes>;

struct Ed25519KeyPair {
  Ed25519PublicKey public_key{};
  Ed25519SecretKey secret_key;
  bool operator==(const Ed25519KeyPair&) const = default;
};

struct CurveKeyPair {
  CurvePublicKey public_key{};
  CurveSecretKey secret_key;
  bool operator==(const CurveKeyPair&) const = default;
};

// Initialises libsodium once per process. Internal error when it cannot
// (no entropy source); every other function here returns that same error.
Status SodiumInit();

Result<Ed25519KeyPair> GenerateEd25519KeyPair();
// X25519 key pair for CURVE (crypto_box_keypair, as zmq_curve_keypair does).
Result<CurveKeyPair> GenerateCurveKeyPair();

// The public halves derived from secrets: used to check that a stored key
// pair is consistent (a flipped bit in a key file is caught here).
Result<Ed25519PublicKey> Ed25519PublicFromSecret(const Ed25519SecretKey& secret);
Result<CurvePublicKey> CurvePublicFromSecret(const CurveSecretKey& secret);

// Ed25519 detached signature of `message`.
Result<Ed25519Signature> Sign(const Ed25519SecretKey& secret, std::string_view message);
// OK, or Corrupt("verify signature", ...) when `signature` is not `key`'s over `message`.
Status VerifySignature(const Ed25519PublicKey& key, std::string_view message,
                       const Ed25519Signature& signature);

// BLAKE2b-256 of the concatenation of `parts` (crypto_generichash).
Result<Fingerprint> Hash(std::initializer_list<std::span<const std::uint8_t>> parts);

// Fills `out` with cryptographically secure random bytes.
Status RandomBytes(std::span<std::uint8_t> out);

// Lowercase hex, and its strict inverse (even length, [0-9a-fA-F] only).
std::string ToHex(std::span<const std::uint8_t> bytes);
Result<std::string> FromHex(std::string_view hex);
Result<Fingerprint> ParseFingerprintHex(std::string_view hex);

// libzmq's Z85 text form of a 32-byte key (40 characters), e.g. for
// ZMQ_CURVE_SERVERKEY or for TXT records. Decode refuses anything but exactly
// 40 valid Z85 characters.
std::string Z85EncodeKey(std::span<const std::uint8_t, kCurveKeyBytes> key);
Result<CurvePublicKey> Z85DecodeKey(std::string_view text);

}  // namespace mesh
