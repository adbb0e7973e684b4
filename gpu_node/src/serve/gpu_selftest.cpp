#include "serve/gpu_selftest.h"

#include <sodium.h>

#include <array>
#include <string>
#include <vector>

#include "scheduler/scheduler.h"

namespace gpu_node {
namespace {

constexpr std::size_t kVotes = 256;
constexpr int kNodes = 300;
constexpr int kWorkloads = 200;

// Verdicts of `v` on kVotes signed messages, every third signature broken.
mesh::Result<std::vector<std::uint8_t>> VerifyFixedBatch(consensus::VoteVerifier& v) {
  std::vector<std::string> messages(kVotes);
  std::vector<consensus::Signature> signatures(kVotes);
  std::vector<consensus::PublicKey> keys(kVotes);
  std::vector<consensus::SignedMessage> items(kVotes);
  for (std::size_t i = 0; i < kVotes; ++i) {
    std::array<std::uint8_t, 32> seed{};
    seed[0] = static_cast<std::uint8_t>(i);
    seed[1] = 0x5e;
    const consensus::KeyPair kp = consensus::KeyPairFromSeed(seed);
    keys[i] = kp.public_key;
    messages[i] = "stratoswarm selftest vote " + std::to_string(i);
    crypto_sign_detached(signatures[i].data(), nullptr,
                         reinterpret_cast<const unsigned char*>(messages[i].data()),
                         messages[i].size(), kp.secret_key.data());
    if (i % 3 == 2) signatures[i][i % 64] ^= 0x10;
    items[i] = {reinterpret_cast<const std::uint8_t*>(messages[i].data()), messages[i].size(),
                &signatures[i], &keys[i]};
  }
  std::vector<std::uint8_t> verdicts(kVotes, 0xff);
  MESH_RETURN_IF_ERROR(v.Verify(items, verdicts));
  return verdicts;
}

// Placements of kWorkloads workloads (some with 3 replicas, some GPU) on kNodes nodes.
mesh::Result<std::vector<std::int32_t>> PlaceFixedCluster(scheduler::Scheduler& s) {
  std::vector<scheduler::NodeInfo> nodes(kNodes);
  for (int i = 0; i < kNodes; ++i) {
    scheduler::NodeInfo& n = nodes[static_cast<std::size_t>(i)];
    const bool gpu = i % 16 == 0;
    n.id = n.name = "node-" + std::to_string(i);
    n.type = gpu ? scheduler::NodeType::kGpu : scheduler::NodeType::kRpi;
    n.arch = gpu ? "x86_64" : "aarch64";
    n.capacity = {static_cast<std::uint64_t>(4000 + 1000 * (i % 5)),
                  static_cast<std::uint64_t>(4 + 4 * (i % 2)) << 30, gpu ? 2u : 0u};
    n.throttled = i % 23 == 0;
  }
  std::vector<scheduler::WorkloadSpec> workloads(kWorkloads);
  for (int i = 0; i < kWorkloads; ++i) {
    scheduler::WorkloadSpec& w = workloads[static_cast<std::size_t>(i)];
    w.name = "w" + std::to_string(i);
    w.requests = {static_cast<std::uint64_t>(250 * (1 + i % 7)),
                  static_cast<std::uint64_t>(128 * (1 + i % 5)) << 20, i % 13 == 0 ? 1u : 0u};
    w.replicas = i % 10 == 0 ? 3 : 1;
  }
  auto r = s.Schedule(nodes, workloads);
  if (!r.ok()) return r.status();
  std::vector<std::int32_t> out;
  for (const auto& p : r->placements) out.push_back(p.node);
  return out;
}

}  // namespace

swarmlet::SelfTestCheck GpuSelfTest(const GpuCrossovers& crossovers, const GpuDevices& devices) {
  swarmlet::SelfTestCheck check{"gpu", true, ""};
  auto device_verifier = devices.verifier();
  auto device_scheduler = devices.scheduler();
  if (!device_verifier.ok() && !device_scheduler.ok()) {
    check.detail = device_verifier.status().message() +
                   "; serve --gpu auto verifies and places on the CPU, --gpu on refuses to start";
    return check;
  }
  std::vector<std::string> found;
  if (device_verifier.ok()) {
    consensus::CpuVerifier cpu;
    auto want = VerifyFixedBatch(cpu);
    auto got = VerifyFixedBatch(**device_verifier);
    check.detail = (*device_verifier)->Name() + ": ";
    if (!want.ok() || !got.ok()) {
      check.ok = false;
      found.push_back("verify failed: " + (got.ok() ? want.status() : got.status()).ToString());
    } else if (*want != *got) {
      check.ok = false;
      found.push_back("verify DIFFERS from the CPU on " + std::to_string(kVotes) + " votes");
    } else {
      found.push_back("verify = CPU on " + std::to_string(kVotes) + " votes, auto from " +
                      std::to_string(crossovers.verify_batch));
    }
  } else {
    found.push_back("no CUDA verifier (" + device_verifier.status().ToString() + ")");
  }
  if (device_scheduler.ok()) {
    scheduler::CpuScheduler cpu;
    auto want = PlaceFixedCluster(cpu);
    auto got = PlaceFixedCluster(**device_scheduler);
    if (!want.ok() || !got.ok()) {
      check.ok = false;
      found.push_back("place failed: " + (got.ok() ? want.status() : got.status()).ToString());
    } else if (*want != *got) {
      check.ok = false;
      found.push_back("place DIFFERS from the CPU on " + std::to_string(kNodes) + " nodes");
    } else {
      found.push_back("place = CPU on " + std::to_string(kNodes) + " nodes, auto from " +
                      std::to_string(crossovers.place_pairs) + " pairs");
    }
  } else {
    found.push_back("no CUDA scheduler (" + device_scheduler.status().ToString() + ")");
  }
  for (std::size_t i = 0; i < found.size(); ++i) check.detail += (i ? "; " : "") + found[i];
  check.detail += crossovers.date.empty() ? " (crossovers not measured on a device)"
                                          : " (crossovers of " + std::string(crossovers.date) + ")";
  return check;
}

}  // namespace gpu_node
