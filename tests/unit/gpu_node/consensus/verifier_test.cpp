#include <sodium.h>

#include <catch2/catch.hpp>
#include <string>
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
  auto cuda = consensus::MakeCudaVerifier();
  if (!cuda.ok()) SKIP_TEST("no CUDA device: " + cuda.status().ToString());
  consensus::VoteVerifier& v = **cuda;
  CHECK(v.Name().starts_with("cuda("));
  consensus_test::CheckContract(v);
  consensus_test::CheckEdgeCases(v);
  consensus_test::CheckRandomAgainstLibsodium(v, 12000, 31);
}

TEST_CASE("CudaVerifier sends messages over 1 KiB to libsodium", "[consensus][verifier][cuda]") {
  auto cuda = consensus::MakeCudaVerifier();
  if (!cuda.ok()) SKIP_TEST("no CUDA device: " + cuda.status().ToString());
  const auto kp = consensus::GenerateKeyPair();
  std::vector<std::string> messages;
  for (std::size_t len : {1023u, 1024u, 1025u, 5000u}) messages.push_back(std::string(len, 'v'));
  std::vector<consensus::Signature> sigs(messages.size() * 2);
  std::vector<consensus::SignedMessage> items;
  for (std::size_t i = 0; i < sigs.size(); ++i) {
    const std::string& m = messages[i / 2];
    crypto_sign_detached(sigs[i].data(), nullptr, reinterpret_cast<const unsigned char*>(m.data()),
                         m.size(), kp.secret_key.data());
    if (i % 2 == 1) sigs[i][5] ^= 1;  // every other one corrupted
    items.push_back({reinterpret_cast<const std::uint8_t*>(m.data()), m.size(), &sigs[i],
                     &kp.public_key});
  }
  std::vector<std::uint8_t> verdicts(items.size(), 7);
  REQUIRE((*cuda)->Verify(items, verdicts).ok());
  for (std::size_t i = 0; i < items.size(); ++i) {
    INFO("item " << i);
    CHECK(verdicts[i] == (i % 2 == 0 ? 1 : 0));
  }
}

TEST_CASE("MakeCudaVerifier reports Unavailable without a device", "[consensus][verifier][cuda]") {
  auto cuda = consensus::MakeCudaVerifier();
  if (cuda.ok()) SKIP_TEST("a CUDA device is present");
  CHECK(cuda.status().code() == mesh::StatusCode::kUnavailable);
  CHECK_FALSE(cuda.status().ToString().empty());
}
