// Issue 18: the vote-batch size from which the CUDA verifier beats the CPU
// verifier serve uses (CpuVerifier, 1 thread, key tables), i.e. the
// `verify_batch` crossover of gpu_node/src/serve/gpu_crossovers.h.
//   verify_crossover_bench [--output FILE] [--runs N]
// Batches of 1, 2, 4, ... 4096 signed votes (a third invalid; verdicts of
// both verifiers must agree), p50 wall time of N runs per size on each. The
// crossover is the smallest size from which CUDA is faster at every larger
// size too; without a device only the CPU column is measured and the
// crossover is null.
#include <sodium.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "consensus/verifier.h"

namespace {

struct Batch {
  std::vector<std::string> messages;
  std::vector<consensus::Signature> signatures;
  std::vector<consensus::PublicKey> keys;
  std::vector<consensus::SignedMessage> items;

  explicit Batch(std::size_t n) : messages(n), signatures(n), keys(n), items(n) {
    for (std::size_t i = 0; i < n; ++i) {
      std::array<std::uint8_t, 32> seed{};
      seed[0] = static_cast<std::uint8_t>(i % 100);  // 100 members, as consensus_bench
      const consensus::KeyPair kp = consensus::KeyPairFromSeed(seed);
      keys[i] = kp.public_key;
      messages[i] = std::string(100, 'v') + std::to_string(i);
      crypto_sign_detached(signatures[i].data(), nullptr,
                           reinterpret_cast<const unsigned char*>(messages[i].data()),
                           messages[i].size(), kp.secret_key.data());
      if (i % 3 == 2) signatures[i][7] ^= 1;
      items[i] = {reinterpret_cast<const std::uint8_t*>(messages[i].data()), messages[i].size(),
                  &signatures[i], &keys[i]};
    }
  }
};

// p50 microseconds of `runs` Verify calls; verdicts into `verdicts`.
std::optional<double> P50Us(consensus::VoteVerifier& v, const Batch& b, int runs,
                            std::vector<std::uint8_t>& verdicts) {
  verdicts.assign(b.items.size(), 0xff);
  std::vector<double> us;
  for (int r = 0; r < runs; ++r) {
    const auto start = std::chrono::steady_clock::now();
    if (!v.Verify(b.items, verdicts).ok()) return std::nullopt;
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::nth_element(us.begin(), us.begin() + static_cast<std::ptrdiff_t>(us.size() / 2), us.end());
  return us[us.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string output;
  int runs = 21;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--output" && i + 1 < argc) {
      output = argv[++i];
    } else if (arg == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: verify_crossover_bench [--output FILE] [--runs N]\n");
      return 2;
    }
  }
  if (sodium_init() < 0) return 1;
  consensus::CpuVerifier cpu(consensus::CpuVerifier::Options{1, 8, true, 128});
  auto cuda = consensus::MakeCudaVerifier();
  const std::string cuda_name =
      cuda.ok() ? (*cuda)->Name() : "no GPU (" + cuda.status().message() + ")";
  std::printf("verify crossover: %s vs %s, p50 of %d runs per batch size\n", cpu.Name().c_str(),
              cuda_name.c_str(), runs);
  std::printf("%6s %12s %12s %6s\n", "batch", "cpu p50 us", "cuda p50 us", "same");

  std::string rows;
  std::vector<std::pair<std::size_t, bool>> cuda_faster;  // size, faster
  bool all_same = true;
  for (std::size_t n = 1; n <= 4096; n *= 2) {
    const Batch b(n);
    std::vector<consensus::PublicKey> members(
        b.keys.begin(),
        b.keys.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(n, 100)));
    cpu.Prepare(members);
    std::vector<std::uint8_t> want, got;
    const auto c = P50Us(cpu, b, runs, want);
    if (!c) {
      std::fprintf(stderr, "verify_crossover_bench: the CPU verifier failed\n");
      return 1;
    }
    std::optional<double> g;
    if (cuda.ok()) {
      (*cuda)->Prepare(members);
      g = P50Us(**cuda, b, runs, got);
    }
    const bool same = !g || want == got;
    all_same = all_same && same;
    if (g) cuda_faster.emplace_back(n, *g < *c);
    char cuda_us[32] = "-";
    if (g) std::snprintf(cuda_us, sizeof(cuda_us), "%.1f", *g);
    std::printf("%6zu %12.1f %12s %6s\n", n, *c, cuda_us, g ? (same ? "yes" : "NO") : "-");
    rows += std::string(rows.empty() ? "" : ",\n") + "    {\"batch\": " + std::to_string(n) +
            ", \"cpu_p50_us\": " + std::to_string(*c) +
            ", \"cuda_p50_us\": " + (g ? std::to_string(*g) : "null") + "}";
  }
  std::optional<std::size_t> crossover;
  for (auto it = cuda_faster.rbegin(); it != cuda_faster.rend() && it->second; ++it) {
    crossover = it->first;
  }
  if (cuda.ok() && crossover) {
    std::printf("\nCUDA faster than the CPU from %zu votes per batch on\n", *crossover);
  } else if (cuda.ok()) {
    std::printf("\nCUDA never faster than the CPU at these sizes\n");
  }
  if (!output.empty()) {
    std::ofstream out(output);
    out << "{\n  \"bench\": \"verify_crossover\",\n  \"cpu\": \"" << cpu.Name()
        << "\",\n  \"cuda\": " << (cuda.ok() ? "\"" + cuda_name + "\"" : std::string("null"))
        << ",\n  \"runs\": " << runs
        << ",\n  \"verdicts_identical\": " << (all_same ? "true" : "false")
        << ",\n  \"crossover_batch\": " << (crossover ? std::to_string(*crossover) : "null")
        << ",\n  \"results\": [\n"
        << rows << "\n  ]\n}\n";
  }
  return all_same ? 0 : 1;
}
