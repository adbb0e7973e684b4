// Why consensus does not use random-linear-combination batch verification:
// measures libsodium 1.0.18's own point operations (thread CPU time, so other
// load on the machine barely matters) and prints what a Straus batch verifier
// built from them would cost per signature, with and without the per-R
// prime-order-subgroup check that exact libsodium verdicts would need.
//   ed25519_batch_estimate
// Uses libsodium internals (exported from libsodium.a, private API, 64-bit
// limb layout); see gpu_node/consensus/src/fixed_base.h.
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef uint64_t fe25519[5];
typedef struct { fe25519 X, Y, Z, T; } ge25519_p3;
typedef struct { fe25519 X, Y, Z, T; } ge25519_p1p1;
typedef struct { fe25519 YplusX, YminusX, Z, T2d; } ge25519_cached;
void ge25519_add(ge25519_p1p1 *r, const ge25519_p3 *p, const ge25519_cached *q);
void ge25519_p1p1_to_p3(ge25519_p3 *r, const ge25519_p1p1 *p);
void ge25519_p3_to_cached(ge25519_cached *r, const ge25519_p3 *p);
int ge25519_frombytes(ge25519_p3 *h, const unsigned char *s);
int ge25519_is_on_main_subgroup(const ge25519_p3 *p);

static double cpu_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(void) {
  if (sodium_init() < 0) return 1;
  if (sodium_library_version_major() != 10 || sodium_library_version_minor() != 3) {
    fprintf(stderr, "needs libsodium 1.0.18 (library version 10.3)\n");
    return 1;
  }
  unsigned char pk[32], sk[64], sig[64], m[126];
  memset(m, 7, sizeof m);
  crypto_sign_keypair(pk, sk);
  crypto_sign_detached(sig, NULL, m, sizeof m, sk);
  ge25519_p3 a, acc;
  ge25519_cached c;
  ge25519_p1p1 t;
  if (ge25519_frombytes(&a, pk) != 0) return 1;
  acc = a;
  ge25519_p3_to_cached(&c, &a);
  volatile int sink = 0;
  const int n_add = 200000, n = 20000;
  double t0 = cpu_ns();
  for (int i = 0; i < n_add; i++) {
    ge25519_add(&t, &acc, &c);
    ge25519_p1p1_to_p3(&acc, &t);
  }
  const double add = (cpu_ns() - t0) / n_add;
  t0 = cpu_ns();
  for (int i = 0; i < n_add; i++) ge25519_p3_to_cached(&c, &acc);
  const double to_cached = (cpu_ns() - t0) / n_add;
  t0 = cpu_ns();
  for (int i = 0; i < n; i++) sink += ge25519_frombytes(&a, sig);
  const double decompress = (cpu_ns() - t0) / n;
  t0 = cpu_ns();
  for (int i = 0; i < n / 10; i++) sink += ge25519_is_on_main_subgroup(&a);
  const double subgroup = (cpu_ns() - t0) / (n / 10);
  unsigned char h[64];
  t0 = cpu_ns();
  for (int i = 0; i < n; i++) crypto_hash_sha512(h, m, sizeof m + 64);
  const double sha = (cpu_ns() - t0) / n;
  t0 = cpu_ns();
  for (int i = 0; i < n; i++) sink += crypto_sign_verify_detached(sig, m, sizeof m, pk);
  const double verify = (cpu_ns() - t0) / n;

  // Straus / wNAF width 5 over the batch equation
  //   [sum z_i S_i]B = sum [z_i]R_i + sum [z_i k_i]A_i,
  // z_i 128-bit: per signature a table of 8 odd multiples of R_i (1 doubling +
  // 7 additions + 8 conversions), ~22 additions for z_i and ~43 for z_i k_i
  // (A_i's table cached per member), R_i decompressed, one SHA-512. The 253
  // shared doublings and the B term are negligible at batch 100.
  const double straus = decompress + sha + (8 + 22 + 43) * add + 8 * to_cached;
  printf("thread CPU time, libsodium %s\n", sodium_version_string());
  printf("  crypto_sign_verify_detached   %8.0f ns\n", verify);
  printf("  point addition (add+to_p3)    %8.0f ns\n", add);
  printf("  p3 -> cached                  %8.0f ns\n", to_cached);
  printf("  decompress a point            %8.0f ns\n", decompress);
  printf("  prime-order subgroup check    %8.0f ns\n", subgroup);
  printf("  SHA-512 of 190 bytes          %8.0f ns\n", sha);
  printf("estimated batch verification per signature:\n");
  printf("  probabilistic (not libsodium's verdicts) %8.0f ns  (%.1fx faster)\n", straus,
         verify / straus);
  printf("  exact (plus R subgroup check)           %8.0f ns  (%.1fx faster)\n", straus + subgroup,
         verify / (straus + subgroup));
  return sink == 12345 ? 2 : 0;
}
