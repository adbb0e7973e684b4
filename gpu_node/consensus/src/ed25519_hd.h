// Ed25519 signature verification as SS_HD functions: one code path that the
// CUDA kernel (cuda_verifier.cu) runs on the GPU and ed25519_hd_host.cpp runs
// on the CPU, so the arithmetic is tested against libsodium on every machine,
// GPU or not.
//
// The verdict is libsodium 1.0.18's crypto_sign_verify_detached(), rule for
// rule (see consensus/verifier.h): S < L; R and A not on the small-order
// blacklist (y compared with the sign bit masked, non-canonical y = p, p + 1
// included); A's y canonical (< p, sign bit ignored); A decodes; then
// encode([S]B + [k](-A)) == R bytes with k = SHA-512(R || A || M) mod L, the
// cofactorless equation. Any correct group arithmetic gives the same point,
// so the double-scalar multiplication need not mirror libsodium's, only the
// checks around it must.
//
// Field elements mod p = 2^255 - 19 use ten signed 32-bit limbs in radix
// 2^25.5 (26, 25, 26, ... bits): products are 32x32 -> 64-bit multiplies,
// which both the CPU and the GPU (one IMAD.WIDE) do natively. Every operation
// leaves its result carried (|limb| <= 2^26 + 2^15), which keeps the sums in
// FeMul below 2^61.
//
// Variable time, like libsodium's verify: everything here is public data.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sha512_hd.h"

// Fully unrolled, the limb loops below become straight-line multiply-adds
// with their branches resolved at compile time (about twice as fast).
#if defined(__CUDA_ARCH__) || defined(__clang__)
#define SS_UNROLL _Pragma("unroll")
#elif defined(__GNUC__) && !defined(__CUDACC__)  // nvcc's host pass never runs these
#define SS_UNROLL _Pragma("GCC unroll 10")
#else
#define SS_UNROLL
#endif

namespace consensus::ed25519_hd {

// ---------------------------------------------------------------------------
// Field arithmetic mod p.

struct Fe {
  std::int32_t v[10];
};

SS_HD inline int FeLimbBits(int i) { return (i & 1) ? 25 : 26; }

// Carries 64-bit limb sums into `out` (2^255 folds back as 19).
SS_HD inline void FeCarry(std::int64_t h[10], Fe& out) {
  SS_UNROLL
  for (int i = 0; i < 10; ++i) {
    const int bits = FeLimbBits(i);
    const std::int64_t c = h[i] >> bits;  // floor: limbs end up non-negative
    h[i] -= c * (std::int64_t{1} << bits);
    if (i < 9) {
      h[i + 1] += c;
    } else {
      h[0] += 19 * c;
    }
  }
  const std::int64_t c = h[0] >> 26;
  h[0] -= c * (std::int64_t{1} << 26);
  h[1] += c;
  SS_UNROLL
  for (int i = 0; i < 10; ++i) out.v[i] = static_cast<std::int32_t>(h[i]);
}

SS_HD inline void FeSet(Fe& out, std::int32_t small) {
  out.v[0] = small;
  for (int i = 1; i < 10; ++i) out.v[i] = 0;
}

SS_HD inline void FeAdd(Fe& out, const Fe& f, const Fe& g) {
  std::int64_t h[10];
  for (int i = 0; i < 10; ++i) h[i] = std::int64_t{f.v[i]} + g.v[i];
  FeCarry(h, out);
}

SS_HD inline void FeSub(Fe& out, const Fe& f, const Fe& g) {
  std::int64_t h[10];
  for (int i = 0; i < 10; ++i) h[i] = std::int64_t{f.v[i]} - g.v[i];
  FeCarry(h, out);
}

SS_HD inline void FeNeg(Fe& out, const Fe& f) {
  std::int64_t h[10];
  for (int i = 0; i < 10; ++i) h[i] = -std::int64_t{f.v[i]};
  FeCarry(h, out);
}

// Limb i has weight 2^ceil(25.5 i): two odd limbs multiply to twice the
// weight of limb i + j, and weight 2^255 and above wraps around times 19.
SS_HD inline void FeMul(Fe& out, const Fe& f, const Fe& g) {
  std::int64_t h[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  SS_UNROLL
  for (int i = 0; i < 10; ++i) {
    const std::int32_t fi = f.v[i];
    const std::int32_t fi2 = (i & 1) ? 2 * fi : fi;
    SS_UNROLL
    for (int j = 0; j < 10; ++j) {
      const std::int32_t a = (j & 1) ? fi2 : fi;
      if (i + j < 10) {
        h[i + j] += std::int64_t{a} * g.v[j];
      } else {
        h[i + j - 10] += std::int64_t{a} * (19 * g.v[j]);
      }
    }
  }
  FeCarry(h, out);
}

// FeMul(out, f, f) with each cross product computed once and doubled
// (|2 * 2 * f_i| < 2^29, |19 f_j| < 2^31, at most six terms per limb).
SS_HD inline void FeSq(Fe& out, const Fe& f) {
  std::int64_t h[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  SS_UNROLL
  for (int i = 0; i < 10; ++i) {
    SS_UNROLL
    for (int j = i; j < 10; ++j) {
      std::int32_t a = f.v[i];
      if (j != i) a *= 2;
      if ((i & 1) && (j & 1)) a *= 2;
      if (i + j < 10) {
        h[i + j] += std::int64_t{a} * f.v[j];
      } else {
        h[i + j - 10] += std::int64_t{a} * (19 * f.v[j]);
      }
    }
  }
  FeCarry(h, out);
}

// out = f^(2^n)
SS_HD inline void FeSqTimes(Fe& out, const Fe& f, int n) {
  FeSq(out, f);
  for (int i = 1; i < n; ++i) FeSq(out, out);
}

// Little-endian, the top bit ignored (as libsodium's fe25519_frombytes):
// values in [p, 2^255) are accepted unreduced.
SS_HD inline void FeFromBytes(Fe& out, const std::uint8_t s[32]) {
  std::uint64_t acc = 0;
  int acc_bits = 0;
  int next = 0;
  for (int i = 0; i < 10; ++i) {
    const int bits = FeLimbBits(i);
    while (acc_bits < bits) {
      acc |= std::uint64_t{s[next++]} << acc_bits;
      acc_bits += 8;
    }
    out.v[i] = static_cast<std::int32_t>(acc & ((std::uint64_t{1} << bits) - 1));
    acc >>= bits;
    acc_bits -= bits;
  }
}

// The canonical encoding (value reduced into [0, p)).
SS_HD inline void FeToBytes(std::uint8_t s[32], const Fe& f) {
  std::int64_t h[10];
  for (int i = 0; i < 10; ++i) h[i] = f.v[i];
  // Carry until nothing wraps around: then every limb is in [0, 2^bits) and
  // the value in [0, 2^255). At most three rounds (a wrap moves the value by
  // 2^255 - 19 and leaves it within 19 of the range).
  for (;;) {
    std::int64_t c = 0;
    for (int i = 0; i < 10; ++i) {
      const int bits = FeLimbBits(i);
      h[i] += c;
      c = h[i] >> bits;
      h[i] -= c * (std::int64_t{1} << bits);
    }
    if (c == 0) break;
    h[0] += 19 * c;
  }
  // [p, 2^255): h0 >= 2^26 - 19 and every other limb all ones.
  bool at_least_p = h[0] >= (std::int64_t{1} << 26) - 19;
  for (int i = 1; i < 10 && at_least_p; ++i) {
    at_least_p = h[i] == (std::int64_t{1} << FeLimbBits(i)) - 1;
  }
  if (at_least_p) {
    h[0] -= (std::int64_t{1} << 26) - 19;
    for (int i = 1; i < 10; ++i) h[i] = 0;
  }
  std::uint64_t acc = 0;
  int acc_bits = 0;
  int next = 0;
  for (int i = 0; i < 10; ++i) {
    acc |= static_cast<std::uint64_t>(h[i]) << acc_bits;
    acc_bits += FeLimbBits(i);
    while (acc_bits >= 8) {
      s[next++] = static_cast<std::uint8_t>(acc);
      acc >>= 8;
      acc_bits -= 8;
    }
  }
  s[31] = static_cast<std::uint8_t>(acc);  // the last 7 bits; the top bit is 0
}

SS_HD inline bool FeIsZero(const Fe& f) {
  std::uint8_t s[32];
  FeToBytes(s, f);
  std::uint8_t any = 0;
  for (int i = 0; i < 32; ++i) any |= s[i];
  return any == 0;
}

// The "sign" of RFC 8032: the low bit of the canonical encoding.
SS_HD inline int FeIsNegative(const Fe& f) {
  std::uint8_t s[32];
  FeToBytes(s, f);
  return s[0] & 1;
}

// f^(2^250 - 1), the common prefix of the two exponentiation chains below;
// also returns f^11.
SS_HD inline void FePow2250m1(Fe& out, Fe& f11, const Fe& f) {
  Fe f2, f9, t, f2_5, f2_10, f2_20, f2_50, f2_100;
  FeSq(f2, f);          // 2
  FeSqTimes(t, f2, 2);  // 8
  FeMul(f9, t, f);      // 9
  FeMul(f11, f9, f2);   // 11
  FeSq(t, f11);         // 22
  FeMul(f2_5, t, f9);   // 31 = 2^5 - 1
  FeSqTimes(t, f2_5, 5);
  FeMul(f2_10, t, f2_5);  // 2^10 - 1
  FeSqTimes(t, f2_10, 10);
  FeMul(f2_20, t, f2_10);  // 2^20 - 1
  FeSqTimes(t, f2_20, 20);
  FeMul(t, t, f2_20);  // 2^40 - 1
  FeSqTimes(t, t, 10);
  FeMul(f2_50, t, f2_10);  // 2^50 - 1
  FeSqTimes(t, f2_50, 50);
  FeMul(f2_100, t, f2_50);  // 2^100 - 1
  FeSqTimes(t, f2_100, 100);
  FeMul(t, t, f2_100);  // 2^200 - 1
  FeSqTimes(t, t, 50);
  FeMul(out, t, f2_50);  // 2^250 - 1
}

// f^(p - 2) = f^(2^255 - 21) = 1/f (0 for 0).
SS_HD inline void FeInvert(Fe& out, const Fe& f) {
  Fe t, f11;
  FePow2250m1(t, f11, f);
  FeSqTimes(t, t, 5);  // 2^255 - 32
  FeMul(out, t, f11);  // 2^255 - 21
}

// f^((p - 5) / 8) = f^(2^252 - 3), for the square root in point decoding.
SS_HD inline void FePow22523(Fe& out, const Fe& f) {
  Fe t, f11;
  FePow2250m1(t, f11, f);
  FeSqTimes(t, t, 2);  // 2^252 - 4
  FeMul(out, t, f);    // 2^252 - 3
}

// Curve constants as little-endian encodings (decoded on use: a decode is a
// few shifts, cheaper than keeping limb tables in sync with the radix).
enum class Constant { kD, kD2, kSqrtM1, kBaseX, kBaseY };

SS_HD inline void FeConstant(Fe& out, Constant which) {
  static const std::uint8_t kBytes[5][32] = {
      // d = -121665 / 121666
      {0xa3, 0x78, 0x59, 0x13, 0xca, 0x4d, 0xeb, 0x75, 0xab, 0xd8, 0x41,
       0x41, 0x4d, 0x0a, 0x70, 0x00, 0x98, 0xe8, 0x79, 0x77, 0x79, 0x40,
       0xc7, 0x8c, 0x73, 0xfe, 0x6f, 0x2b, 0xee, 0x6c, 0x03, 0x52},
      // 2d
      {0x59, 0xf1, 0xb2, 0x26, 0x94, 0x9b, 0xd6, 0xeb, 0x56, 0xb1, 0x83,
       0x82, 0x9a, 0x14, 0xe0, 0x00, 0x30, 0xd1, 0xf3, 0xee, 0xf2, 0x80,
       0x8e, 0x19, 0xe7, 0xfc, 0xdf, 0x56, 0xdc, 0xd9, 0x06, 0x24},
      // sqrt(-1) = 2^((p - 1) / 4)
      {0xb0, 0xa0, 0x0e, 0x4a, 0x27, 0x1b, 0xee, 0xc4, 0x78, 0xe4, 0x2f,
       0xad, 0x06, 0x18, 0x43, 0x2f, 0xa7, 0xd7, 0xfb, 0x3d, 0x99, 0x00,
       0x4d, 0x2b, 0x0b, 0xdf, 0xc1, 0x4f, 0x80, 0x24, 0x83, 0x2b},
      // base point x (the even root)
      {0x1a, 0xd5, 0x25, 0x8f, 0x60, 0x2d, 0x56, 0xc9, 0xb2, 0xa7, 0x25,
       0x95, 0x60, 0xc7, 0x2c, 0x69, 0x5c, 0xdc, 0xd6, 0xfd, 0x31, 0xe2,
       0xa4, 0xc0, 0xfe, 0x53, 0x6e, 0xcd, 0xd3, 0x36, 0x69, 0x21},
      // base point y = 4/5
      {0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
       0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
       0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66},
  };
  FeFromBytes(out, kBytes[static_cast<int>(which)]);
}

// ---------------------------------------------------------------------------
// Points on -x^2 + y^2 = 1 + d x^2 y^2, extended coordinates (Hisil, Wong,
// Carter, Dawson 2008): x = X/Z, y = Y/Z, T = XY/Z. The a = -1 formulas
// below are complete, so torsion components need no special case.

struct Point {
  Fe X, Y, Z, T;
};

// A point ready to be added: (Y + X, Y - X, 2Z, 2dT).
struct Cached {
  Fe y_plus_x, y_minus_x, z2, t2d;
};

SS_HD inline void PointIdentity(Point& p) {
  FeSet(p.X, 0);
  FeSet(p.Y, 1);
  FeSet(p.Z, 1);
  FeSet(p.T, 0);
}

SS_HD inline void PointToCached(Cached& c, const Point& p) {
  Fe d2;
  FeConstant(d2, Constant::kD2);
  FeAdd(c.y_plus_x, p.Y, p.X);
  FeSub(c.y_minus_x, p.Y, p.X);
  FeAdd(c.z2, p.Z, p.Z);
  FeMul(c.t2d, p.T, d2);
}

// r = p + q (add-2008-hwcd-3), or p - q when `subtract`.
SS_HD inline void PointAdd(Point& r, const Point& p, const Cached& q, bool subtract = false) {
  Fe a, b, c, d, e, f, g, h, t;
  FeSub(t, p.Y, p.X);
  FeMul(a, t, subtract ? q.y_plus_x : q.y_minus_x);
  FeAdd(t, p.Y, p.X);
  FeMul(b, t, subtract ? q.y_minus_x : q.y_plus_x);
  FeMul(c, p.T, q.t2d);
  FeMul(d, p.Z, q.z2);
  FeSub(e, b, a);
  if (subtract) {
    FeAdd(f, d, c);
    FeSub(g, d, c);
  } else {
    FeSub(f, d, c);
    FeAdd(g, d, c);
  }
  FeAdd(h, b, a);
  FeMul(r.X, e, f);
  FeMul(r.Y, g, h);
  FeMul(r.Z, f, g);
  FeMul(r.T, e, h);
}

// r = 2p (dbl-2008-hwcd with a = -1, every intermediate negated, which
// leaves the products unchanged).
SS_HD inline void PointDouble(Point& r, const Point& p) {
  Fe a, b, c, e, f, g, h, t;
  FeSq(a, p.X);
  FeSq(b, p.Y);
  FeSq(t, p.Z);
  FeAdd(c, t, t);
  FeAdd(h, a, b);
  FeAdd(t, p.X, p.Y);
  FeSq(t, t);
  FeSub(e, h, t);
  FeSub(g, a, b);
  FeAdd(f, c, g);
  FeMul(r.X, e, f);
  FeMul(r.Y, g, h);
  FeMul(r.Z, f, g);
  FeMul(r.T, e, h);
}

SS_HD inline void PointEncode(std::uint8_t s[32], const Point& p) {
  Fe zinv, x, y;
  FeInvert(zinv, p.Z);
  FeMul(x, p.X, zinv);
  FeMul(y, p.Y, zinv);
  FeToBytes(s, y);
  s[31] = static_cast<std::uint8_t>(s[31] | (FeIsNegative(x) << 7));
}

// Decodes `s` and negates it (the verifier needs -A), as libsodium's
// ge25519_frombytes_negate_vartime: y taken mod 2^255 without a range check
// (the caller checks canonicity), x = sqrt((y^2 - 1) / (d y^2 + 1)) with the
// sign bit picking the root; a "negative zero" x is accepted. False when no
// root exists (not a curve point).
SS_HD inline bool PointDecodeNegate(Point& p, const std::uint8_t s[32]) {
  Fe d, u, v, v3, vxx, check, one;
  FeConstant(d, Constant::kD);
  FeSet(one, 1);
  FeFromBytes(p.Y, s);
  FeSet(p.Z, 1);
  FeSq(u, p.Y);
  FeMul(v, u, d);
  FeSub(u, u, one);  // y^2 - 1
  FeAdd(v, v, one);  // d y^2 + 1
  // Candidate root x = u v^3 (u v^7)^((p - 5) / 8).
  FeSq(v3, v);
  FeMul(v3, v3, v);
  FeSq(p.X, v3);
  FeMul(p.X, p.X, v);
  FeMul(p.X, p.X, u);
  FePow22523(p.X, p.X);
  FeMul(p.X, p.X, v3);
  FeMul(p.X, p.X, u);
  FeSq(vxx, p.X);
  FeMul(vxx, vxx, v);
  FeSub(check, vxx, u);
  if (!FeIsZero(check)) {
    FeAdd(check, vxx, u);
    if (!FeIsZero(check)) return false;
    Fe sqrt_m1;
    FeConstant(sqrt_m1, Constant::kSqrtM1);
    FeMul(p.X, p.X, sqrt_m1);
  }
  // Keep the root whose sign differs from the encoded one: that is -A.
  if (FeIsNegative(p.X) == (s[31] >> 7)) FeNeg(p.X, p.X);
  FeMul(p.T, p.X, p.Y);
  return true;
}

// ---------------------------------------------------------------------------
// Scalars mod L = 2^252 + 27742317777372353535851937790883648493, as four
// little-endian 64-bit words.

SS_HD inline void ScLoad(std::uint64_t out[4], const std::uint8_t s[32]) {
  for (int i = 0; i < 4; ++i) {
    std::uint64_t w = 0;
    for (int j = 7; j >= 0; --j) w = (w << 8) | s[8 * i + j];
    out[i] = w;
  }
}

// r -= L when r >= L; returns whether it subtracted.
SS_HD inline bool ScSubtractLIfAtLeast(std::uint64_t r[4]) {
  const std::uint64_t kL[4] = {0x5812631a5cf5d3edULL, 0x14def9dea2f79cd6ULL, 0,
                               0x1000000000000000ULL};
  std::uint64_t t[4];
  std::uint64_t borrow = 0;
  for (int i = 0; i < 4; ++i) {
    const std::uint64_t sub = kL[i] + borrow;
    const std::uint64_t next_borrow = (r[i] < sub || (borrow && sub == 0)) ? 1 : 0;
    t[i] = r[i] - sub;
    borrow = next_borrow;
  }
  if (borrow) return false;
  for (int i = 0; i < 4; ++i) r[i] = t[i];
  return true;
}

// S < L, as libsodium's sc25519_is_canonical.
SS_HD inline bool ScIsCanonical(const std::uint8_t s[32]) {
  std::uint64_t r[4];
  ScLoad(r, s);
  return !ScSubtractLIfAtLeast(r);
}

// A 512-bit little-endian number (the SHA-512 digest) mod L, one bit at a
// time from the top: r = 2r + bit stays below 2L, so one conditional
// subtraction per bit keeps r < L. 512 cheap steps, small next to the
// scalar multiplication.
SS_HD inline void ScReduce512(std::uint64_t r[4], const std::uint8_t h[64]) {
  for (int i = 0; i < 4; ++i) r[i] = 0;
  for (int bit = 511; bit >= 0; --bit) {
    const std::uint64_t in = (h[bit >> 3] >> (bit & 7)) & 1;
    r[3] = (r[3] << 1) | (r[2] >> 63);
    r[2] = (r[2] << 1) | (r[1] >> 63);
    r[1] = (r[1] << 1) | (r[0] >> 63);
    r[0] = (r[0] << 1) | in;
    ScSubtractLIfAtLeast(r);
  }
}

SS_HD inline int ScNibble(const std::uint64_t s[4], int i) {
  return static_cast<int>((s[i >> 4] >> (4 * (i & 15))) & 15);
}

// ---------------------------------------------------------------------------
// The checks and the equation.

// Whether y (sign bit masked) is one of libsodium 1.0.18's blacklisted
// small-order encodings: 0, 1, the two y of the order-8 points, p - 1, p, p + 1.
SS_HD inline bool HasSmallOrder(const std::uint8_t s[32]) {
  static const std::uint8_t kOrder8[2][32] = {
      {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
       0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
       0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
      {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
       0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
       0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
  };
  const std::uint8_t top = s[31] & 0x7f;
  for (int k = 0; k < 2; ++k) {
    bool same = top == kOrder8[k][31];
    for (int i = 0; i < 31 && same; ++i) same = s[i] == kOrder8[k][i];
    if (same) return true;
  }
  // 0 and 1: bytes 1..31 zero, byte 0 in {0, 1}.
  bool zeros = top == 0;
  for (int i = 1; i < 31 && zeros; ++i) zeros = s[i] == 0;
  if (zeros && s[0] <= 1) return true;
  // p - 1, p, p + 1: bytes 1..30 0xff, top 0x7f, byte 0 in {0xec, 0xed, 0xee}.
  bool ones = top == 0x7f;
  for (int i = 1; i < 31 && ones; ++i) ones = s[i] == 0xff;
  return ones && s[0] >= 0xec && s[0] <= 0xee;
}

// y < p with the sign bit ignored, as libsodium's ge25519_is_canonical.
SS_HD inline bool IsCanonicalY(const std::uint8_t s[32]) {
  if ((s[31] & 0x7f) != 0x7f || s[0] < 0xed) return true;
  for (int i = 1; i < 31; ++i) {
    if (s[i] != 0xff) return true;
  }
  return false;
}

// [a]P + [b]Q with 4-bit fixed windows: 15 multiples of each point, then
// four doublings and at most two additions per window.
SS_HD inline void DoubleScalarMul(Point& r, const std::uint64_t a[4], const Point& p,
                                  const std::uint64_t b[4], const Point& q) {
  // tp[i] = (i + 1) P, tq[i] = (i + 1) Q.
  Cached tp[15], tq[15];
  PointToCached(tp[0], p);
  PointToCached(tq[0], q);
  Point cp = p, cq = q;
  for (int i = 1; i < 15; ++i) {
    PointAdd(cp, cp, tp[0]);
    PointToCached(tp[i], cp);
    PointAdd(cq, cq, tq[0]);
    PointToCached(tq[i], cq);
  }
  PointIdentity(r);
  bool started = false;
  for (int w = 63; w >= 0; --w) {
    if (started) {
      for (int k = 0; k < 4; ++k) PointDouble(r, r);
    }
    const int na = ScNibble(a, w);
    const int nb = ScNibble(b, w);
    if (na != 0) {
      PointAdd(r, r, tp[na - 1]);
      started = true;
    }
    if (nb != 0) {
      PointAdd(r, r, tq[nb - 1]);
      started = true;
    }
  }
}

SS_HD inline void BasePoint(Point& b) {
  FeConstant(b.X, Constant::kBaseX);
  FeConstant(b.Y, Constant::kBaseY);
  FeSet(b.Z, 1);
  FeMul(b.T, b.X, b.Y);
}

// crypto_sign_verify_detached(signature, message, public_key) == 0 of
// libsodium 1.0.18, bit for bit.
SS_HD inline bool Verify(const std::uint8_t* message, std::size_t message_len,
                         const std::uint8_t signature[64], const std::uint8_t public_key[32]) {
  const std::uint8_t* r_bytes = signature;
  const std::uint8_t* s_bytes = signature + 32;
  if (!ScIsCanonical(s_bytes) || HasSmallOrder(r_bytes)) return false;
  if (!IsCanonicalY(public_key) || HasSmallOrder(public_key)) return false;
  Point neg_a;
  if (!PointDecodeNegate(neg_a, public_key)) return false;

  Sha512State hs;
  Sha512Init(hs);
  Sha512Update(hs, r_bytes, 32);
  Sha512Update(hs, public_key, 32);
  Sha512Update(hs, message, message_len);
  std::uint8_t digest[64];
  Sha512Final(hs, digest);
  std::uint64_t k[4], s[4];
  ScReduce512(k, digest);
  ScLoad(s, s_bytes);

  Point base, check;
  BasePoint(base);
  DoubleScalarMul(check, k, neg_a, s, base);
  std::uint8_t encoded[32];
  PointEncode(encoded, check);
  std::uint8_t diff = 0;
  for (int i = 0; i < 32; ++i) diff |= encoded[i] ^ r_bytes[i];
  return diff == 0;
}

}  // namespace consensus::ed25519_hd
