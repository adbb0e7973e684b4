// Ed25519 verification with per-key fixed-base tables: the same verdicts as
// libsodium 1.0.18's crypto_sign_verify_detached, about twice as fast for keys
// that verify many signatures (cluster members): ~21 us instead of ~49 us on
// the 2-core build VM, 100 member tables in use (docs/PERFORMANCE.md).
// Each key gets 40 KiB of multiples of -A; the base point B has one shared
// 220 KiB window-6 table.
//
// Why it is exact, not a probabilistic batch check: it runs libsodium's own
// pre-checks (canonical S, small-order R and A, canonical A, A decodes) and
// computes the same group element R' = [S]B + [k](-A) with the same k, only
// with precomputed multiples of -A and B instead of a doubling chain, then
// compares encode(R') with R bytes as libsodium does. A point has one
// canonical encoding, so the verdict is identical. (Random-linear-combination
// batch verification is not: with libsodium's cofactorless rule it can accept
// signatures whose R differs by a small-order point.)
//
// It calls libsodium's internal, exported-but-private ge25519_* functions and
// mirrors their struct layouts, so it is enabled only for the libsodium it was
// written against (library version 10.3 = 1.0.18, 64-bit limbs) and after a
// self-test; otherwise Available() is false and callers use libsodium's API.
//
// Thread safety: a KeyTable is immutable after Build() and may be read from
// any thread. Available() is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "consensus/types.h"

namespace consensus::internal {

// True when this libsodium is the one the table code matches and the self-test passed.
bool FixedBaseAvailable();

class KeyTable {
 public:
  // nullptr when libsodium rejects `key` outright (non-canonical, small order,
  // not on the curve): such a key never verifies, use the plain path.
  static std::unique_ptr<KeyTable> Build(const PublicKey& key);
  ~KeyTable();
  KeyTable(const KeyTable&) = delete;
  KeyTable& operator=(const KeyTable&) = delete;

  const PublicKey& key() const { return key_; }

  // crypto_sign_verify_detached(signature, message, key()) == 0, computed faster.
  bool Verify(const std::uint8_t* message, std::size_t message_len, const Signature& signature) const;

  static constexpr std::size_t kBytes = 32 * 8 * 4 * 5 * 8;  // 40 KiB of precomputed points
  struct Points;  // defined in fixed_base.cpp (libsodium's point layout)

 private:
  KeyTable();
  PublicKey key_{};
  std::unique_ptr<Points> points_;
};

}  // namespace consensus::internal
