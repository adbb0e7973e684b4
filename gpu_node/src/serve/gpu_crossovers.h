// Where `serve --gpu auto` switches from the CPU to the CUDA path: the
// crossovers, kept as data with where they come from.
//
// NOT YET MEASURED ON A DEVICE. No GPU has been available to the project
// (docs/PERFORMANCE.md, docs/gpu.md); both figures below are conservative
// placeholders derived from the CPU figures of docs/PERFORMANCE.md, set high
// so that auto only takes the GPU where the CPU is certainly slower. Replace
// them with the `crossover` figures `make gpu-check` records on the
// deployment's card, and update `measured_on` / `date`.
#pragma once

#include <cstdint>
#include <string_view>

namespace gpu_node {

struct GpuCrossovers {
  // Votes in one Verify() call from which the CUDA verifier is used.
  std::uint64_t verify_batch = 0;
  // Replicas x nodes of one Schedule() call from which the CUDA scheduler is used.
  std::uint64_t place_pairs = 0;
  std::string_view measured_on;  // the card, or why there is none
  std::string_view date;         // of the measurement; empty: not measured
};

inline constexpr GpuCrossovers kGpuCrossovers{
    // CPU: ~22 us per vote on one thread with key tables (1.06 ms for a batch
    // of 100 on two threads). 64 votes are >= 0.7 ms of CPU work, several
    // times any plausible kernel launch + copy of a batch.
    .verify_batch = 64,
    // CPU: 1.3 ns per replica x node pair (AVX-512, 1,000 x 64 in 101 us);
    // the CUDA kernel walks replicas one after another with two block
    // barriers each, so it needs large node counts to win. 5e7 pairs is
    // ~65 ms of CPU (e.g. 10,000 replicas on 5,000 nodes).
    .place_pairs = 50'000'000,
    .measured_on = "not measured on a device (placeholders from CPU figures)",
    .date = "",
};

}  // namespace gpu_node
