// The libsodium translation point (see mesh/crypto.h).
#include "mesh/crypto.h"

#include <sodium.h>
#include <zmq.h>

#include <cstring>
#include <mutex>

namespace mesh {
namespace {

static_assert(kEd25519PublicKeyBytes == crypto_sign_PUBLICKEYBYTES);
static_assert(kEd25519SecretKeyBytes == crypto_sign_SECRETKEYBYTES);
static_assert(kEd25519SignatureBytes == crypto_sign_BYTES);
static_assert(kCurveKeyBytes == crypto_box_PUBLICKEYBYTES);
static_assert(kCurveKeyBytes == crypto_box_SECRETKEYBYTES);
static_assert(kCurveKeyBytes == crypto_scalarmult_BYTES);
static_assert(kFingerprintBytes >= crypto_generichash_BYTES_MIN &&
              kFingerprintBytes <= crypto_generichash_BYTES_MAX);

Status InitOnce() {
  static std::once_flag once;
  static int rc = 0;
  std::call_once(once, [] { rc = sodium_init(); });
  // 0: initialised now, 1: already initialised (by us or by libzmq), -1: failed.
  if (rc < 0)
    return Status::Internal("sodium_init", "libsodium could not initialise (no entropy source?)");
  return Status::Ok();
}

}  // namespace

void SecureZero(void* p, std::size_t len) { sodium_memzero(p, len); }

bool ConstantTimeEquals(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

Status SodiumInit() { return InitOnce(); }

Result<Ed25519KeyPair> GenerateEd25519KeyPair() {
  MESH_RETURN_IF_ERROR(InitOnce());
  Ed25519KeyPair pair;
  if (crypto_sign_keypair(pair.public_key.data(), pair.secret_key.data()) != 0) {
    return Status::Internal("crypto_sign_keypair", "failed");
  }
  return pair;
}

Result<CurveKeyPair> GenerateCurveKeyPair() {
  MESH_RETURN_IF_ERROR(InitOnce());
  CurveKeyPair pair;
  if (crypto_box_keypair(pair.public_key.data(), pair.secret_key.data()) != 0) {
    return Status::Internal("crypto_box_keypair", "failed");
  }
  return pair;
}

Result<Ed25519PublicKey> Ed25519PublicFromSecret(const Ed25519SecretKey& secret) {
  MESH_RETURN_IF_ERROR(InitOnce());
  // The libsodium secret key is seed || public key; re-deriving from the seed
  // (rather than copying the stored half) is what catches a damaged key.
  Ed25519PublicKey pk{};
  Ed25519SecretKey rederived;
  if (crypto_sign_seed_keypair(pk.data(), rederived.data(), secret.data()) != 0) {
    return Status::Internal("crypto_sign_seed_keypair", "failed");
  }
  if (!(rederived == secret)) {
    return Status::Corrupt("ed25519 secret key", "public half does not match the seed");
  }
  return pk;
}

Result<CurvePublicKey> CurvePublicFromSecret(const CurveSecretKey& secret) {
  MESH_RETURN_IF_ERROR(InitOnce());
  CurvePublicKey pk{};
  if (crypto_scalarmult_base(pk.data(), secret.data()) != 0) {
    return Status::Corrupt("curve secret key", "not a usable X25519 scalar");
  }
  return pk;
}

Result<Ed25519Signature> Sign(const Ed25519SecretKey& secret, std::string_view message) {
  MESH_RETURN_IF_ERROR(InitOnce());
  Ed25519Signature sig{};
  if (crypto_sign_detached(sig.data(), nullptr,
                           reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                           secret.data()) != 0) {
    return Status::Internal("crypto_sign_detached", "failed");
  }
  return sig;
}

Status VerifySignature(const Ed25519PublicKey& key, std::string_view message,
                       const Ed25519Signature& signature) {
  MESH_RETURN_IF_ERROR(InitOnce());
  if (crypto_sign_verify_detached(signature.data(),
                                  reinterpret_cast<const unsigned char*>(message.data()),
                                  message.size(), key.data()) != 0) {
    return Status::Corrupt("verify signature", "Ed25519 signature does not match the signed bytes");
  }
  return Status::Ok();
}

Result<Fingerprint> Hash(std::initializer_list<std::span<const std::uint8_t>> parts) {
  MESH_RETURN_IF_ERROR(InitOnce());
  crypto_generichash_state state;
  if (crypto_generichash_init(&state, nullptr, 0, kFingerprintBytes) != 0) {
    return Status::Internal("crypto_generichash_init", "failed");
  }
  for (const auto& part : parts) {
    if (crypto_generichash_update(&state, part.data(), part.size()) != 0) {
      return Status::Internal("crypto_generichash_update", "failed");
    }
  }
  Fingerprint out{};
  if (crypto_generichash_final(&state, out.data(), out.size()) != 0) {
    return Status::Internal("crypto_generichash_final", "failed");
  }
  return out;
}

Status RandomBytes(std::span<std::uint8_t> out) {
  MESH_RETURN_IF_ERROR(InitOnce());
  randombytes_buf(out.data(), out.size());
  return Status::Ok();
}

std::string ToHex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Result<std::string> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return Status::InvalidArgument("parse hex", "odd number of digits");
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = HexValue(hex[i]);
    const int lo = HexValue(hex[i + 1]);
    if (hi < 0 || lo < 0) return Status::InvalidArgument("parse hex", "not a hex digit");
    out.push_back(static_cast<char>((hi << 4) | lo));
  }
  return out;
}

Result<Fingerprint> ParseFingerprintHex(std::string_view hex) {
  if (hex.size() != kFingerprintBytes * 2) {
    return Status::InvalidArgument("parse fingerprint",
                                   "expected " + std::to_string(kFingerprintBytes * 2) +
                                       " hex digits, got " + std::to_string(hex.size()));
  }
  auto raw = FromHex(hex);
  if (!raw.ok()) return Status::InvalidArgument("parse fingerprint", "not a hex digit");
  Fingerprint fp{};
  std::memcpy(fp.data(), raw->data(), fp.size());
  return fp;
}

std::string Z85EncodeKey(std::span<const std::uint8_t, kCurveKeyBytes> key) {
  char text[kCurveZ85Chars + 1];
  zmq_z85_encode(text, key.data(), key.size());  // cannot fail: 32 is a multiple of 4
  return std::string(text, kCurveZ85Chars);
}

Result<CurvePublicKey> Z85DecodeKey(std::string_view text) {
  if (text.size() != kCurveZ85Chars) {
    return Status::InvalidArgument("decode Z85 key",
                                   "expected 40 characters, got " + std::to_string(text.size()));
  }
  char buf[kCurveZ85Chars + 1];
  std::memcpy(buf, text.data(), kCurveZ85Chars);
  buf[kCurveZ85Chars] = '\0';
  if (std::strlen(buf) != kCurveZ85Chars)
    return Status::InvalidArgument("decode Z85 key", "embedded NUL");
  CurvePublicKey key{};
  if (zmq_z85_decode(key.data(), buf) == nullptr) {
    return Status::InvalidArgument("decode Z85 key", "not valid Z85");
  }
  return key;
}

}  // namespace mesh
