#include "fixed_base.h"

#include <sodium.h>

#include <cstring>
#include <mutex>

// libsodium 1.0.18 internals (src/libsodium/include/sodium/private/ed25519_ref10.h),
// 64-bit limb variant (HAVE_TI_MODE). Exported from libsodium.a, not in its API.
extern "C" {
using fe25519 = std::uint64_t[5];
struct ge25519_p3 {
  fe25519 X, Y, Z, T;
};
struct ge25519_p1p1 {
  fe25519 X, Y, Z, T;
};
struct ge25519_cached {
  fe25519 YplusX, YminusX, Z, T2d;
};
void ge25519_add(ge25519_p1p1* r, const ge25519_p3* p, const ge25519_cached* q);
void ge25519_sub(ge25519_p1p1* r, const ge25519_p3* p, const ge25519_cached* q);
void ge25519_p1p1_to_p3(ge25519_p3* r, const ge25519_p1p1* p);
void ge25519_p3_to_cached(ge25519_cached* r, const ge25519_p3* p);
int ge25519_frombytes(ge25519_p3* h, const unsigned char* s);
int ge25519_frombytes_negate_vartime(ge25519_p3* h, const unsigned char* s);
void ge25519_p3_tobytes(unsigned char* s, const ge25519_p3* h);
int ge25519_has_small_order(const unsigned char s[32]);
int ge25519_is_canonical(const unsigned char s[32]);
int sc25519_is_canonical(const unsigned char s[32]);
}

namespace consensus::internal {

// e[i][j] = (j+1) * 256^i * P (ref10's layout): odd radix-16 digits use row
// (i-1)/2 and the sum is multiplied by 16, even digits use row i/2. Half the
// memory of one row per digit, for four doublings per scalar; with 100 member
// tables the smaller footprint matters more (they stop fitting in cache).
struct KeyTable::Points {
  ge25519_cached e[32][8];
};
static_assert(sizeof(KeyTable::Points) == KeyTable::kBytes);

namespace {

void Identity(ge25519_p3& p) {
  std::memset(&p, 0, sizeof p);
  p.Y[0] = 1;
  p.Z[0] = 1;
}

// p = 2p through the unified addition formula (ref10's ge25519_add is
// complete on Ed25519; its dedicated doubling is not exported).
void Double(ge25519_p3& p) {
  ge25519_cached c;
  ge25519_p1p1 r;
  ge25519_p3_to_cached(&c, &p);
  ge25519_add(&r, &p, &c);
  ge25519_p1p1_to_p3(&p, &r);
}

void BuildPoints(KeyTable::Points& t, const ge25519_p3& p) {
  ge25519_p3 base = p;
  ge25519_p1p1 r;
  for (auto& row : t.e) {
    ge25519_p3_to_cached(&row[0], &base);
    ge25519_p3 cur = base;
    for (int j = 1; j < 8; ++j) {
      ge25519_add(&r, &cur, &row[0]);
      ge25519_p1p1_to_p3(&cur, &r);
      ge25519_p3_to_cached(&row[j], &cur);
    }
    base = cur;  // 8 base -> 256 base
    for (int d = 0; d < 5; ++d) Double(base);
  }
}

// Signed radix-16 digits in [-8, 8] of a scalar < 2^253 (ref10's recoding).
void Digits(signed char e[64], const std::uint8_t a[32]) {
  for (int i = 0; i < 32; ++i) {
    e[2 * i] = static_cast<signed char>(a[i] & 15);
    e[2 * i + 1] = static_cast<signed char>((a[i] >> 4) & 15);
  }
  signed char carry = 0;
  for (int i = 0; i < 63; ++i) {
    e[i] = static_cast<signed char>(e[i] + carry);
    carry = static_cast<signed char>((e[i] + 8) >> 4);
    e[i] = static_cast<signed char>(e[i] - carry * 16);
  }
  e[63] = static_cast<signed char>(e[63] + carry);
}

// Pulls the (up to 64) table entries the digits select into L1 before the
// dependent chain of additions starts: with 100 members the tables (4 MiB) do
// not stay in L2, and independent loads let the core overlap the misses that
// the additions would otherwise take one after another.
std::uint64_t Touch(const KeyTable::Points& t, const signed char e[64]) {
  std::uint64_t sum = 0;
  for (int i = 0; i < 64; ++i) {
    if (e[i] == 0) continue;
    const auto* p = reinterpret_cast<const volatile std::uint64_t*>(
        &t.e[i / 2][(e[i] > 0 ? e[i] : -e[i]) - 1]);
    for (std::size_t w = 0; w < sizeof(ge25519_cached) / 8; w += 8) sum += p[w];
    sum += p[sizeof(ge25519_cached) / 8 - 1];
  }
  return sum;
}

// acc += sum over i = parity, parity+2, ... of e[i] * 256^(i/2) * P.
void AddDigits(ge25519_p3& acc, const KeyTable::Points& t, const signed char e[64], int parity) {
  ge25519_p1p1 r;
  for (int i = parity; i < 64; i += 2) {
    if (e[i] > 0) {
      ge25519_add(&r, &acc, &t.e[i / 2][e[i] - 1]);
      ge25519_p1p1_to_p3(&acc, &r);
    } else if (e[i] < 0) {
      ge25519_sub(&r, &acc, &t.e[i / 2][-e[i] - 1]);
      ge25519_p1p1_to_p3(&acc, &r);
    }
  }
}

// The base point gets a much wider window than member keys: one shared table
// of kBaseRows x kBaseEntries points (220 KiB at w = 6, stays in L2) turns the
// 64 additions of [S]B into 43.
constexpr int kBaseWindow = 6;
constexpr int kBaseRows = (256 + kBaseWindow - 1) / kBaseWindow;  // 43
constexpr int kBaseEntries = 1 << (kBaseWindow - 1);               // 32
// Digits reach +2^(w-1) and live in a signed char (w = 8 would overflow).
static_assert(kBaseWindow >= 2 && kBaseWindow <= 7);
struct BasePoints {
  ge25519_cached e[kBaseRows][kBaseEntries];  // (j+1) * 2^(w*i) * B
};

// Signed radix-2^w digits in [-2^(w-1), 2^(w-1)] of a scalar < 2^253.
void WideDigits(signed char d[kBaseRows], const std::uint8_t a[32]) {
  int carry = 0;
  for (int i = 0; i < kBaseRows; ++i) {
    int bits = 0;
    for (int b = 0; b < kBaseWindow; ++b) {
      const int bit = i * kBaseWindow + b;
      if (bit < 256) bits |= ((a[bit >> 3] >> (bit & 7)) & 1) << b;
    }
    int v = bits + carry;
    carry = 0;
    if (v > kBaseEntries) {
      v -= 1 << kBaseWindow;
      carry = 1;
    }
    d[i] = static_cast<signed char>(v);
  }
}

// As Touch() for the base table (L2-sized, but other processes evict it).
std::uint64_t TouchWide(const BasePoints& t, const signed char d[kBaseRows]) {
  std::uint64_t sum = 0;
  for (int i = 0; i < kBaseRows; ++i) {
    if (d[i] == 0) continue;
    const auto* p = reinterpret_cast<const volatile std::uint64_t*>(
        &t.e[i][(d[i] > 0 ? d[i] : -d[i]) - 1]);
    for (std::size_t w = 0; w < sizeof(ge25519_cached) / 8; w += 8) sum += p[w];
    sum += p[sizeof(ge25519_cached) / 8 - 1];
  }
  return sum;
}

void AddWide(ge25519_p3& acc, const BasePoints& t, const signed char d[kBaseRows]) {
  ge25519_p1p1 r;
  for (int i = 0; i < kBaseRows; ++i) {
    if (d[i] > 0) {
      ge25519_add(&r, &acc, &t.e[i][d[i] - 1]);
      ge25519_p1p1_to_p3(&acc, &r);
    } else if (d[i] < 0) {
      ge25519_sub(&r, &acc, &t.e[i][-d[i] - 1]);
      ge25519_p1p1_to_p3(&acc, &r);
    }
  }
}

const unsigned char kBasePoint[32] = {0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
                                      0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
                                      0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
                                      0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66};

const BasePoints* WideBaseTable() {
  static const BasePoints* table = []() -> const BasePoints* {
    ge25519_p3 base;
    if (ge25519_frombytes(&base, kBasePoint) != 0) return nullptr;
    auto* t = new BasePoints;  // lives for the process
    ge25519_p1p1 r;
    for (auto& row : t->e) {
      ge25519_p3_to_cached(&row[0], &base);
      ge25519_p3 cur = base;
      for (int j = 1; j < kBaseEntries; ++j) {
        ge25519_add(&r, &cur, &row[0]);
        ge25519_p1p1_to_p3(&cur, &r);
        ge25519_p3_to_cached(&row[j], &cur);
      }
      base = cur;  // 2^(w-1) base -> 2^w base
      Double(base);
    }
    return t;
  }();
  return table;
}

// Signs a few messages and checks that both paths agree on valid and broken
// signatures; guards against a libsodium whose internals differ.
bool SelfTest() {
  if (sodium_init() < 0 || WideBaseTable() == nullptr) return false;
  for (int round = 0; round < 4; ++round) {
    unsigned char seed[32] = {static_cast<unsigned char>(round + 1)};
    PublicKey pk;
    unsigned char sk[64];
    crypto_sign_seed_keypair(pk.data(), sk, seed);
    auto table = KeyTable::Build(pk);
    if (table == nullptr) return false;
    unsigned char msg[40] = {static_cast<unsigned char>(round)};
    Signature sig;
    crypto_sign_detached(sig.data(), nullptr, msg, sizeof msg, sk);
    for (int broken = 0; broken < 3; ++broken) {
      Signature s = sig;
      if (broken == 1) s[5] ^= 2;
      if (broken == 2) s[40] ^= 1;
      const bool ref = crypto_sign_verify_detached(s.data(), msg, sizeof msg, pk.data()) == 0;
      if (table->Verify(msg, sizeof msg, s) != ref || ref != (broken == 0)) return false;
    }
  }
  return true;
}

}  // namespace

bool FixedBaseAvailable() {
#if defined(__SIZEOF_INT128__)
  static const bool available = sodium_library_version_major() == 10 &&
                                sodium_library_version_minor() == 3 && SelfTest();
  return available;
#else
  return false;  // libsodium uses 32-bit limbs here; the mirrored layout would be wrong
#endif
}

KeyTable::KeyTable() : points_(std::make_unique<Points>()) {}
KeyTable::~KeyTable() = default;

std::unique_ptr<KeyTable> KeyTable::Build(const PublicKey& key) {
  if (ge25519_is_canonical(key.data()) == 0 || ge25519_has_small_order(key.data()) != 0) {
    return nullptr;
  }
  ge25519_p3 neg_a;
  if (ge25519_frombytes_negate_vartime(&neg_a, key.data()) != 0) return nullptr;
  std::unique_ptr<KeyTable> t(new KeyTable());
  t->key_ = key;
  BuildPoints(*t->points_, neg_a);
  return t;
}

bool KeyTable::Verify(const std::uint8_t* message, std::size_t message_len,
                      const Signature& signature) const {
  const unsigned char* sig = signature.data();
  // libsodium's pre-checks on the signature; the key's passed in Build().
  if (sc25519_is_canonical(sig + 32) == 0 || ge25519_has_small_order(sig) != 0) return false;
  crypto_hash_sha512_state hs;
  unsigned char h[64];
  unsigned char k[32];
  crypto_hash_sha512_init(&hs);
  crypto_hash_sha512_update(&hs, sig, 32);
  crypto_hash_sha512_update(&hs, key_.data(), 32);
  crypto_hash_sha512_update(&hs, message, message_len);
  crypto_hash_sha512_final(&hs, h);
  crypto_core_ed25519_scalar_reduce(k, h);
  // R' = [k](-A) + [S]B
  signed char ek[64];
  signed char es[kBaseRows];
  Digits(ek, k);
  WideDigits(es, sig + 32);
  const BasePoints& base = *WideBaseTable();
  (void)Touch(*points_, ek);
  (void)TouchWide(base, es);
  // R' = [k](-A) with the key's table (odd digits, x16, even digits) + [S]B.
  ge25519_p3 acc;
  Identity(acc);
  AddDigits(acc, *points_, ek, 1);
  for (int d = 0; d < 4; ++d) Double(acc);
  AddDigits(acc, *points_, ek, 0);
  AddWide(acc, base, es);
  unsigned char rcheck[32];
  ge25519_p3_tobytes(rcheck, &acc);
  return sodium_memcmp(rcheck, sig, 32) == 0;
}

}  // namespace consensus::internal
