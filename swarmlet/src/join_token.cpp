#include "swarmlet/join_token.h"

#include <array>
#include <cstdint>

#include "mesh/crypto.h"

namespace swarmlet {
namespace {

constexpr std::string_view kBase32 = "abcdefghijklmnopqrstuvwxyz234567";

bool AllOf(std::string_view s, std::string_view alphabet) {
  return s.find_first_not_of(alphabet) == std::string_view::npos;
}

mesh::Status NotAToken(std::string_view why) {
  return mesh::Status::InvalidArgument(
      "parse join token", std::string(why) + " (expected SWMTKN-1-<64 hex>-<32 base32>, as printed "
                                             "by 'stratoswarm cluster create-join-token')");
}

}  // namespace

std::string JoinToken::ToString() const {
  return std::string(kJoinTokenPrefix) + fingerprint_hex + "-" + secret;
}

mesh::Result<std::string> JoinToken::SecretHashHex() const {
  const auto* p = reinterpret_cast<const std::uint8_t*>(secret.data());
  auto hash = mesh::Hash({std::span<const std::uint8_t>(p, secret.size())});
  if (!hash.ok()) return hash.status();
  return mesh::ToHex(*hash);
}

mesh::Result<JoinToken> ParseJoinToken(std::string_view text) {
  if (!text.starts_with(kJoinTokenPrefix)) return NotAToken("no SWMTKN-1- prefix");
  text.remove_prefix(kJoinTokenPrefix.size());
  const auto dash = text.find('-');
  if (dash == std::string_view::npos) return NotAToken("missing the secret part");
  JoinToken t{std::string(text.substr(0, dash)), std::string(text.substr(dash + 1))};
  if (t.fingerprint_hex.size() != kTokenFingerprintChars ||
      !AllOf(t.fingerprint_hex, "0123456789abcdef")) {
    return NotAToken("the fingerprint is not 64 lowercase hex characters");
  }
  if (t.secret.size() != kTokenSecretChars || !AllOf(t.secret, kBase32)) {
    return NotAToken("the secret is not 32 base32 characters");
  }
  return t;
}

mesh::Result<JoinToken> NewJoinToken(std::string_view fingerprint_hex) {
  std::array<std::uint8_t, 20> random{};  // 160 bits = 32 base32 chars
  MESH_RETURN_IF_ERROR(mesh::RandomBytes(random));
  JoinToken t{std::string(fingerprint_hex), {}};
  // 5 bytes -> 8 chars, four times.
  for (std::size_t i = 0; i < random.size(); i += 5) {
    std::uint64_t block = 0;
    for (std::size_t j = 0; j < 5; ++j) block = block << 8 | random[i + j];
    for (int shift = 35; shift >= 0; shift -= 5) t.secret += kBase32[(block >> shift) & 31];
  }
  mesh::SecureZero(random.data(), random.size());
  // Validates the fingerprint the caller passed.
  auto parsed = ParseJoinToken(t.ToString());
  if (!parsed.ok()) return parsed.status();
  return t;
}

}  // namespace swarmlet
