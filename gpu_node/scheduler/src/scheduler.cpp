#include "scheduler/scheduler.h"

#include <bit>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "plan.h"

namespace scheduler {

Scheduler::Scheduler() : plan_(std::make_unique<internal::Plan>()) {}
Scheduler::~Scheduler() = default;

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

// The best key over 64 consecutive nodes that are all in the mask, without
// spread (single-replica workloads): the common unconstrained case.
using DenseFn = std::uint64_t (*)(const NodeArrays&, std::uint32_t, const WorkItem&);

std::uint64_t DenseScalar(const NodeArrays& a, std::uint32_t first, const WorkItem& item) {
  const std::uint64_t no_spread = internal::SpreadBits(0);
  std::uint64_t best = 0, best_odd = 0;  // two accumulators halve the max's dependency chain
  for (std::uint32_t j = first; j < first + 64; j += 2) {
    const std::uint64_t x = internal::ScoreKey(a, j, item, no_spread);
    const std::uint64_t y = internal::ScoreKey(a, j + 1, item, no_spread);
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
                                                                       std::uint32_t first,
                                                                       const WorkItem& item) {
  const __m512i cpu = _mm512_set1_epi64(static_cast<long long>(item.cpu));
  const __m512i mem = _mm512_set1_epi64(static_cast<long long>(item.mem));
  const __m512i gpu = _mm512_set1_epi64(static_cast<long long>(item.gpu));
  const __m512i fixed =
      _mm512_set1_epi64(static_cast<long long>(item.pref | internal::SpreadBits(0)));
  const __m512i one = _mm512_set1_epi64(1);
  __m512i best = _mm512_setzero_si512();
  for (std::uint32_t j = first; j < first + 64; j += 8) {
    const __m512i cpu_after = _mm512_sub_epi64(_mm512_loadu_si512(a.free_cpu + j), cpu);
    const __m512i mem_after = _mm512_sub_epi64(_mm512_loadu_si512(a.free_mem + j), mem);
    const __m512i gpu_after = _mm512_sub_epi64(_mm512_loadu_si512(a.free_gpu + j), gpu);
    const __m512i short_of = _mm512_srli_epi64(
        _mm512_or_si512(_mm512_or_si512(cpu_after, mem_after), gpu_after), 63);
    const __m512i frac_cpu = _mm512_srli_epi64(
        _mm512_mullo_epi64(cpu_after, _mm512_loadu_si512(a.recip_cpu + j)),
        internal::kFractionShift);
    const __m512i frac_mem = _mm512_srli_epi64(
        _mm512_mullo_epi64(mem_after, _mm512_loadu_si512(a.recip_mem + j)),
        internal::kFractionShift);
    const __m512i balance =
        _mm512_slli_epi64(_mm512_add_epi64(frac_cpu, frac_mem), internal::kBalanceShift);
    const __m512i key = _mm512_or_si512(
        _mm512_or_si512(_mm512_loadu_si512(a.base + j), fixed), balance);
    best = _mm512_max_epu64(best, _mm512_and_si512(key, _mm512_sub_epi64(short_of, one)));
  }
  return _mm512_reduce_max_epu64(best);
}
#pragma GCC diagnostic pop
#endif

DenseFn PickDense() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) {
    return DenseAvx512;
  }
#endif
  return DenseScalar;
}

DenseFn g_dense = PickDense();

// One replica: the best key over the set's nodes (0: nothing fits). kSpread
// is false for single-replica workloads, which skip the spread lookup and
// scan full mask words with the dense kernel.
template <bool kSpread>
std::uint64_t BestKey(const NodeArrays& a, const WorkItem& item, const std::uint64_t* mask,
                      std::uint32_t words, const std::uint32_t* stamp, const std::uint32_t* count,
                      std::uint32_t my_stamp) {
  const std::uint64_t no_spread = internal::SpreadBits(0);
  std::uint64_t best = 0;
  for (std::uint32_t k = 0; k < words; ++k) {
    std::uint64_t bits = mask[k];
    if (!kSpread && bits == ~std::uint64_t{0}) {
      const std::uint64_t key = g_dense(a, k * 64, item);
      best = key > best ? key : best;
      continue;
    }
    while (bits != 0) {
      const std::uint32_t n = k * 64 + static_cast<std::uint32_t>(std::countr_zero(bits));
      bits &= bits - 1;
      std::uint64_t spread = no_spread;
      if constexpr (kSpread) spread = internal::SpreadBits(stamp[n] == my_stamp ? count[n] : 0);
      const std::uint64_t key = internal::ScoreKey(a, n, item, spread);
      best = key > best ? key : best;
    }
  }
  return best;
}

}  // namespace

bool internal::UseScalarKernelForTesting(bool scalar) {
  g_dense = scalar ? DenseScalar : PickDense();
  return g_dense != DenseScalar;
}

mesh::Status CpuScheduler::Place(internal::Plan& plan, std::span<std::int32_t> out) {
  const NodeArrays a = plan.EngineArrays();
  plan.engine_stamp.assign(plan.num_nodes, 0);
  plan.engine_count.resize(plan.num_nodes);
  std::uint32_t* stamp = plan.engine_stamp.data();
  std::uint32_t* count = plan.engine_count.data();
  const std::uint32_t words = plan.words;

  for (std::size_t w = 0; w < plan.work.size(); ++w) {
    const WorkItem& item = plan.work[w];
    const std::uint64_t* mask = plan.masks.data() + static_cast<std::size_t>(item.set) * words;
    std::int32_t* o = out.data() + item.first_step;
    const auto my_stamp = static_cast<std::uint32_t>(w + 1);
    for (std::uint32_t r = 0; r < item.replicas; ++r) {
      const std::uint64_t best = item.replicas == 1
                                     ? BestKey<false>(a, item, mask, words, stamp, count, my_stamp)
                                     : BestKey<true>(a, item, mask, words, stamp, count, my_stamp);
      if (best == 0) break;  // nothing was freed: the rest stay kPending too
      const std::uint32_t n = internal::KeyIndex(best);
      internal::Commit(a, n, item);
      o[r] = static_cast<std::int32_t>(n);
      if (stamp[n] != my_stamp) {
        stamp[n] = my_stamp;
        count[n] = 0;
      }
      ++count[n];
    }
  }
  return mesh::Status::Ok();
}

}  // namespace scheduler
