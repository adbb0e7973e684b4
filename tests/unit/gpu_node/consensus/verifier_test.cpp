#include <catch2/catch.hpp>
#include <vector>

#include "consensus/types.h"
#include "consensus/verifier.h"
#include "test_support.h"
#include "verifier_cases.h"

namespace {

consensus::CpuVerifier::Options CpuOptions(unsigned threads, bool key_tables) {
  consensus::CpuVerifier::Options o;
  o.threads = threads;
  o.key_tables = key_tables;
  return o;
}

}  // namespace

TEST_CASE("CpuVerifier uses key tables with this libsodium", "[consensus][verifier]") {
  consensus::CpuVerifier with(CpuOptions(1, true));
  consensus::CpuVerifier without(CpuOptions(1, false));
  // Tables are written against libsodium 1.0.18 (Debian 12); another version
  // turns them off, which is safe but slower, so say so loudly.
  CHECK(with.key_tables());
  CHECK_FALSE(without.key_tables());
  CHECK(with.Name() != without.Name());
}

TEST_CASE("CpuVerifier matches libsodium on 12k random valid and corrupted signatures",
          "[consensus][verifier]") {
  for (bool tables : {true, false}) {
    for (unsigned threads : {1u, 2u, 3u}) {
      INFO("threads " << threads << ", key tables " << tables);
      consensus::CpuVerifier v(CpuOptions(threads, tables));
      CHECK(v.threads() == threads);
      consensus_test::CheckRandomAgainstLibsodium(v, threads == 2 ? 12000 : 2000,
                                                  1000 + threads + (tables ? 10 : 0));
    }
  }
}

TEST_CASE("CpuVerifier edge cases match libsodium", "[consensus][verifier]") {
  for (bool tables : {true, false}) {
    for (unsigned threads : {1u, 2u}) {
      INFO("threads " << threads << ", key tables " << tables);
      consensus::CpuVerifier::Options o = CpuOptions(threads, tables);
      o.min_parallel_batch = 2;
      consensus::CpuVerifier v(o);
      consensus_test::CheckEdgeCases(v);
      consensus_test::CheckContract(v);
    }
  }
}

TEST_CASE("CpuVerifier::Prepare builds tables for listed keys, bad keys included",
          "[consensus][verifier]") {
  consensus::CpuVerifier::Options o = CpuOptions(2, true);
  o.max_key_tables = 8;  // fewer than the keys below: the rest use libsodium
  consensus::CpuVerifier v(o);
  std::vector<consensus::PublicKey> keys;
  for (int i = 0; i < 12; ++i) keys.push_back(consensus::GenerateKeyPair().public_key);
  consensus::PublicKey small_order{};
  small_order[0] = 1;
  keys.push_back(small_order);
  v.Prepare(keys);
  consensus_test::CheckEdgeCases(v);
  consensus_test::CheckRandomAgainstLibsodium(v, 2000, 5);
  v.Prepare({});  // drop everything
  consensus_test::CheckRandomAgainstLibsodium(v, 1000, 6);
}

TEST_CASE("CpuVerifier survives many back-to-back batches on its pool", "[consensus][verifier]") {
  consensus::CpuVerifier::Options o = CpuOptions(4, true);  // more threads than cores
  o.min_parallel_batch = 1;
  consensus::CpuVerifier v(o);
  consensus_test::CheckRandomAgainstLibsodium(v, 2000, 77);
}

TEST_CASE("CudaVerifier matches libsodium", "[consensus][verifier][cuda]") {
  // The CUDA Ed25519 kernel is not written yet (issue 8, later session); when it
  // is, this runs CheckRandomAgainstLibsodium / CheckEdgeCases / CheckContract on it.
  SKIP_TEST("CudaVerifier not built in this build (no CUDA toolchain / GPU on this machine)");
}
