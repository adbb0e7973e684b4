// Helpers shared by the libFuzzer targets in tests/fuzz.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <sodium.h>

#include "mesh/transport.h"

namespace fuzz {

// Stops the run; libFuzzer reports the abort with the input that caused it.
[[noreturn]] inline void Fail(const char* decoder, const char* what) {
  std::fprintf(stderr, "fuzz check failed: %s: %s\n", decoder, what);
  std::abort();
}

// A value that `decode` accepted must encode, and decode again to an equal
// value: catches encoders and decoders that disagree about a field.
template <typename T, typename Encode, typename Decode>
void CheckRoundTrip(const char* decoder, const T& value, Encode encode, Decode decode) {
  auto bytes = encode(value);
  if (!bytes.ok()) Fail(decoder, "the encoder refuses a value the decoder accepted");
  auto again = decode(*bytes);
  if (!again.ok()) Fail(decoder, "the decoder refuses the encoder's bytes");
  if (!(*again == value)) Fail(decoder, "encode then decode changes the value");
}

// Decodes `bytes` and, when that succeeds, checks the round trip.
template <typename Encode, typename Decode>
void Exercise(const char* decoder, std::string_view bytes, Encode encode, Decode decode) {
  auto value = decode(bytes);
  if (value.ok()) CheckRoundTrip(decoder, *value, encode, decode);
}

// Targets with several decoders: the first byte picks one (modulo `count`),
// the rest is its input. make_seeds.cpp writes seeds in this layout.
struct Selected {
  std::size_t which = 0;
  std::string_view bytes;
};
inline Selected Select(const std::uint8_t* data, std::size_t size, std::size_t count) {
  if (size == 0) return {count, {}};  // nothing to decode
  return {data[0] % count, std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1)};
}

// Fixed transport key pairs for the datagram part of transport_fuzz and its
// seeds: 1 is the receiving member, 2 is "rpi-1" (authorized).
inline mesh::TransportKeyPair DatagramKeys(std::uint8_t which) {
  mesh::TransportKeyPair pair;
  unsigned char seed[crypto_box_SEEDBYTES] = {};
  seed[0] = which;
  if (sodium_init() < 0 ||
      crypto_box_seed_keypair(pair.public_key.data(), pair.secret_key.data(), seed) != 0) {
    Fail("datagram keys", "crypto_box_seed_keypair failed");
  }
  return pair;
}

}  // namespace fuzz
