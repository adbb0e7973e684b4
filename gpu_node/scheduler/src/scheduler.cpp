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

// One replica: the best key over the set's nodes (0: nothing fits).
std::uint64_t BestKey(const NodeArrays& a, const std::uint64_t* spread, const WorkItem& item,
                      const std::uint64_t* mask, std::uint32_t words) {
  std::uint64_t best = 0;
  for (std::uint32_t k = 0; k < words; ++k) {
    std::uint64_t bits = mask[k];
    if (std::popcount(bits) >= kDenseMinBits) {
      const std::uint64_t key = g_dense(a, spread, k * 64, bits, item);
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

bool internal::UseScalarKernelForTesting(bool scalar) {
  g_dense = scalar ? DenseScalar : PickDense();
  return g_dense != DenseScalar;
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

  for (const WorkItem& item : plan.work) {
    const std::uint64_t* mask = plan.masks.data() + static_cast<std::size_t>(item.set) * words;
    std::int32_t* o = out.data() + item.first_step;
    std::uint32_t placed = 0;
    for (; placed < item.replicas; ++placed) {
      const std::uint64_t best = BestKey(a, spread, item, mask, words);
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
