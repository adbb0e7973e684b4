// Join tokens: `SWMTKN-1-<fingerprint>-<secret>`.
//
//   fingerprint  64 lowercase hex chars: the cluster's fingerprint,
//                BLAKE2b-256(CA Ed25519 key || primary CURVE key)
//                (mesh::CaPublicKeys::ComputeFingerprint). The swarmlet refuses
//                any primary whose keys do not hash to it (no man in the middle).
//   secret       32 lowercase base32 chars (160 random bits), shown once; the
//                primary keeps only its hash (SecretHashHex).
//
// Thread safety: values and free functions.
#pragma once

#include <string>
#include <string_view>

#include "mesh/status.h"

namespace swarmlet {

inline constexpr std::string_view kJoinTokenPrefix = "SWMTKN-1-";
inline constexpr std::size_t kTokenFingerprintChars = 64;
inline constexpr std::size_t kTokenSecretChars = 32;

struct JoinToken {
  std::string fingerprint_hex;
  std::string secret;

  std::string ToString() const;
  // Public handle of the token for lists and revocation: its first 8 secret
  // chars (40 bits; the remaining 120 bits stay secret).
  std::string Id() const { return secret.substr(0, 8); }
  // What the primary stores: BLAKE2b-256 of the secret, hex.
  mesh::Result<std::string> SecretHashHex() const;
};

// InvalidArgument saying what is wrong for anything that is not a token.
mesh::Result<JoinToken> ParseJoinToken(std::string_view text);

// A fresh token for the cluster with this fingerprint (hex, 64 chars).
mesh::Result<JoinToken> NewJoinToken(std::string_view fingerprint_hex);

}  // namespace swarmlet
