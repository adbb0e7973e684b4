#include "scheduler/scheduler.h"

#include <bit>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "plan.h"

namespace scheduler {

Scheduler::Scheduler() : plan_(std::make_unique<internal::Plan>()) {}
Scheduler::~Scheduler() = default;

std::uint64_t Scheduler::PlanPairs(const internal::Plan& plan) {
  return std::uint64_t{plan.steps} * plan.num_nodes;
}

mesh::Result<ScheduleResult> Scheduler::Schedule(std::span<const NodeInfo> nodes,
                                                 std::span<const WorkloadSpec> workloads) {
  MESH_RETURN_IF_ERROR(internal::BuildPlan(nodes, workloads, plan_.get()));
  std::vector<std::int32_t> out(plan_->steps, kPending);
  MESH_RETURN_IF_ERROR(Place(*plan_, out));
  return internal::Finish(*plan_, nodes, workloads, out);
}

namespace {

using internal::NodeArrays;
using internal::WorkItem;

// Words with at least this many candidate nodes are scanned whole (masked)
// by the dense kernel rather than bit by bit.
constexpr int kDenseMinBits = 12;

// The best key over the 64 nodes from `first` whose bit is set in `bits`;
// spread[n] holds each node's spread bits for the workload being placed.
using DenseFn = std::uint64_t (*)(const NodeArrays&, const std::uint64_t* spread,
                                  std::uint32_t first, std::uint64_t bits, const WorkItem&);

std::uint64_t DenseScalar(const NodeArrays& a, const std::uint64_t* spread, std::uint32_t first,
                          std::uint64_t bits, const WorkItem& item) {
  std::uint64_t best = 0, best_odd = 0;  // two accumulators halve the max's dependency chain
  for (std::uint32_t j = 0; j < 64; j += 2) {
    const std::uint64_t in_x = 0 - ((bits >> j) & 1);
    const std::uint64_t in_y = 0 - ((bits >> (j + 1)) & 1);
    const std::uint64_t x = internal::ScoreKey(a, first + j, item, spread[first + j]) & in_x;
    const std::uint64_t y =
        internal::ScoreKey(a, first + j + 1, item, spread[first + j + 1]) & in_y;
    best = x > best ? x : best;
    best_odd = y > best_odd ? y : best_odd;
  }
  return best_odd > best ? best_odd : best;
}

#if defined(__x86_64__)
// GCC 12's AVX-512 headers build "undefined" vectors as `__Y = __Y`, which
// -Wuninitialized reports at every use; the values are never read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// internal::ScoreKey, 8 nodes per instruction (AVX-512F + DQ for the 64-bit
// multiply). Same integer operations, so the same keys.
__attribute__((target("avx512f,avx512dq"))) std::uint64_t DenseAvx512(const NodeArrays& a,
                                                                      const std::uint64_t* spread,
                                                                      std::uint32_t first,
                                                                      std::uint64_t bits,
                                                                      const WorkItem& item) {
  const __m512i cpu = _mm512_set1_epi64(static_cast<long long>(item.cpu));
  const __m512i mem = _mm512_set1_epi64(static_cast<long long>(item.mem));
  const __m512i gpu = _mm512_set1_epi64(static_cast<long long>(item.gpu));
  const __m512i pref = _mm512_set1_epi64(static_cast<long long>(item.pref));
  const __m512i one = _mm512_set1_epi64(1);
  __m512i best = _mm512_setzero_si512();
  for (std::uint32_t j = 0; j < 64; j += 8) {
    const auto in = static_cast<__mmask8>((bits >> j) & 0xff);
    if (in == 0) continue;
    const std::uint32_t n = first + j;
    const __m512i cpu_after = _mm512_sub_epi64(_mm512_loadu_si512(a.free_cpu + n), cpu);
    const __m512i mem_after = _mm512_sub_epi64(_mm512_loadu_si512(a.free_mem + n), mem);
    const __m512i gpu_after = _mm512_sub_epi64(_mm512_loadu_si512(a.free_gpu + n), gpu);
    const __m512i short_of =
        _mm512_srli_epi64(_mm512_or_si512(_mm512_or_si512(cpu_after, mem_after), gpu_after), 63);
    const __m512i frac_cpu =
        _mm512_srli_epi64(_mm512_mullo_epi64(cpu_after, _mm512_loadu_si512(a.recip_cpu + n)),
                          internal::kFractionShift);
    const __m512i frac_mem =
        _mm512_srli_epi64(_mm512_mullo_epi64(mem_after, _mm512_loadu_si512(a.recip_mem + n)),
                          internal::kFractionShift);
    const __m512i balance =
        _mm512_slli_epi64(_mm512_add_epi64(frac_cpu, frac_mem), internal::kBalanceShift);
    const __m512i key = _mm512_or_si512(
        _mm512_or_si512(_mm512_loadu_si512(a.base + n), _mm512_loadu_si512(spread + n)),
        _mm512_or_si512(pref, balance));
    best = _mm512_mask_max_epu64(best, in, best,
                                 _mm512_and_si512(key, _mm512_sub_epi64(short_of, one)));
  }
  return _mm512_reduce_max_epu64(best);
}

// The low 64 bits of a * b per lane: AVX2 has only 32 x 32 -> 64 multiplies.
__attribute__((target("avx2"))) inline __m256i MulLo64(__m256i a, __m256i b) {
  const __m256i lo = _mm256_mul_epu32(a, b);
  const __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), b),
                                         _mm256_mul_epu32(a, _mm256_srli_epi64(b, 32)));
  return _mm256_add_epi64(lo, _mm256_slli_epi64(cross, 32));
}

__attribute__((target("avx2"))) inline __m256i Load4(const std::uint64_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// internal::ScoreKey, 4 nodes per instruction with AVX2 (no AVX-512 on many
// desktop CPUs). Unsigned max through a sign flip and a signed compare.
__attribute__((target("avx2"))) std::uint64_t DenseAvx2(const NodeArrays& a,
                                                        const std::uint64_t* spread,
                                                        std::uint32_t first, std::uint64_t bits,
                                                        const WorkItem& item) {
  const __m256i cpu = _mm256_set1_epi64x(static_cast<long long>(item.cpu));
  const __m256i mem = _mm256_set1_epi64x(static_cast<long long>(item.mem));
  const __m256i gpu = _mm256_set1_epi64x(static_cast<long long>(item.gpu));
  const __m256i pref = _mm256_set1_epi64x(static_cast<long long>(item.pref));
  const __m256i one = _mm256_set1_epi64x(1);
  const __m256i sign = _mm256_set1_epi64x(static_cast<long long>(std::uint64_t{1} << 63));
  const __m256i lane_bits = _mm256_setr_epi64x(1, 2, 4, 8);
  __m256i best = _mm256_setzero_si256();  // kept sign-flipped: 0 is stored as `sign`
  best = _mm256_xor_si256(best, sign);
  for (std::uint32_t j = 0; j < 64; j += 4) {
    const auto nibble = static_cast<long long>((bits >> j) & 0xf);
    if (nibble == 0) continue;
    const __m256i in =
        _mm256_cmpeq_epi64(_mm256_and_si256(_mm256_set1_epi64x(nibble), lane_bits), lane_bits);
    const std::uint32_t n = first + j;
    const __m256i cpu_after = _mm256_sub_epi64(Load4(a.free_cpu + n), cpu);
    const __m256i mem_after = _mm256_sub_epi64(Load4(a.free_mem + n), mem);
    const __m256i gpu_after = _mm256_sub_epi64(Load4(a.free_gpu + n), gpu);
    const __m256i short_of =
        _mm256_srli_epi64(_mm256_or_si256(_mm256_or_si256(cpu_after, mem_after), gpu_after), 63);
    const __m256i frac_cpu =
        _mm256_srli_epi64(MulLo64(cpu_after, Load4(a.recip_cpu + n)), internal::kFractionShift);
    const __m256i frac_mem =
        _mm256_srli_epi64(MulLo64(mem_after, Load4(a.recip_mem + n)), internal::kFractionShift);
    const __m256i balance =
        _mm256_slli_epi64(_mm256_add_epi64(frac_cpu, frac_mem), internal::kBalanceShift);
    const __m256i key = _mm256_and_si256(
        _mm256_and_si256(_mm256_or_si256(_mm256_or_si256(Load4(a.base + n), Load4(spread + n)),
                                         _mm256_or_si256(pref, balance)),
                         _mm256_sub_epi64(short_of, one)),
        in);
    const __m256i flipped = _mm256_xor_si256(key, sign);
    best = _mm256_blendv_epi8(best, flipped, _mm256_cmpgt_epi64(flipped, best));
  }
  alignas(32) std::uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_xor_si256(best, sign));
  std::uint64_t result = 0;
  for (std::uint64_t lane : lanes) result = lane > result ? lane : result;
  return result;
}
#pragma GCC diagnostic pop
#endif

struct DenseKernel {
  DenseFn fn;
  int min_bits;  // words with fewer candidates are walked bit by bit
};

// The portable loop pays for every node of the word, so it takes full words
// only; the SIMD kernels pay per 8 or 4 nodes and skip empty groups.
constexpr DenseKernel kPortableKernel{DenseScalar, 64};

bool Supported(CpuScheduler::Kernel kernel) {
  __builtin_cpu_init();  // may run before the CPU-model constructor
  switch (kernel) {
    case CpuScheduler::Kernel::kBest:
    case CpuScheduler::Kernel::kPortable:
      return true;
#if defined(__x86_64__)
    case CpuScheduler::Kernel::kAvx2:
      return __builtin_cpu_supports("avx2");
    case CpuScheduler::Kernel::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
#else
    case CpuScheduler::Kernel::kAvx2:
    case CpuScheduler::Kernel::kAvx512:
      return false;
#endif
  }
  return false;
}

DenseKernel KernelFor(CpuScheduler::Kernel kernel) {
#if defined(__x86_64__)
  const bool best = kernel == CpuScheduler::Kernel::kBest;
  if ((best || kernel == CpuScheduler::Kernel::kAvx512) &&
      Supported(CpuScheduler::Kernel::kAvx512)) {
    return {DenseAvx512, kDenseMinBits};
  }
  if ((best || kernel == CpuScheduler::Kernel::kAvx2) && Supported(CpuScheduler::Kernel::kAvx2)) {
    return {DenseAvx2, kDenseMinBits};
  }
#endif
  return kPortableKernel;
}

// One replica: the best key over the set's nodes (0: nothing fits).
std::uint64_t BestKey(const DenseKernel& dense, const NodeArrays& a, const std::uint64_t* spread,
                      const WorkItem& item, const std::uint64_t* mask, std::uint32_t words) {
  std::uint64_t best = 0;
  for (std::uint32_t k = 0; k < words; ++k) {
    std::uint64_t bits = mask[k];
    if (std::popcount(bits) >= dense.min_bits) {
      const std::uint64_t key = dense.fn(a, spread, k * 64, bits, item);
      best = key > best ? key : best;
      continue;
    }
    while (bits != 0) {
      const std::uint32_t n = k * 64 + static_cast<std::uint32_t>(std::countr_zero(bits));
      bits &= bits - 1;
      const std::uint64_t key = internal::ScoreKey(a, n, item, spread[n]);
      best = key > best ? key : best;
    }
  }
  return best;
}

}  // namespace

CpuScheduler::CpuScheduler(Kernel kernel)
    : kernel_(Supported(kernel) ? kernel : Kernel::kPortable) {}

bool CpuScheduler::Available(Kernel kernel) { return Supported(kernel); }

std::string_view CpuScheduler::KernelName() const {
  const DenseFn fn = KernelFor(kernel_).fn;
#if defined(__x86_64__)
  if (fn == DenseAvx512) return "avx512";
  if (fn == DenseAvx2) return "avx2";
#endif
  return fn == DenseScalar ? "portable" : "unknown";
}

mesh::Status CpuScheduler::Place(internal::Plan& plan, std::span<std::int32_t> out) {
  const NodeArrays a = plan.EngineArrays();
  // spread[n]: node n's spread bits for the workload being placed. Only the
  // nodes a workload used differ from SpreadBits(0); they are reset after it.
  const std::uint64_t no_spread = internal::SpreadBits(0);
  const std::uint64_t one_more = std::uint64_t{1} << internal::kSpreadShift;
  plan.engine_spread.assign(plan.free_cpu.size(), no_spread);
  std::uint64_t* spread = plan.engine_spread.data();
  const std::uint32_t words = plan.words;
  const DenseKernel dense = KernelFor(kernel_);

  for (const WorkItem& item : plan.work) {
    const std::uint64_t* mask = plan.masks.data() + static_cast<std::size_t>(item.set) * words;
    std::int32_t* o = out.data() + item.first_step;
    std::uint32_t placed = 0;
    for (; placed < item.replicas; ++placed) {
      const std::uint64_t best = BestKey(dense, a, spread, item, mask, words);
      if (best == 0) break;  // nothing was freed: the rest stay kPending too
      const std::uint32_t n = internal::KeyIndex(best);
      internal::Commit(a, n, item);
      o[placed] = static_cast<std::int32_t>(n);
      if (spread[n] > one_more) spread[n] -= one_more;  // = SpreadBits(replicas here), clamped
    }
    for (std::uint32_t r = 0; r < placed; ++r) spread[o[r]] = no_spread;
  }
  return mesh::Status::Ok();
}

}  // namespace scheduler
