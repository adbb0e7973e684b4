// sched_bench: time per Schedule() call of CpuScheduler (and CudaScheduler
// where a GPU exists) over cluster sizes from 10 workloads x 8 nodes to
// 100k x 5k, on the same generated input, checking the two agree.
//
//   sched_bench [--output FILE] [--min-seconds S] [--max-iterations N] [--sizes WxN,...] [--kernel
//   best|avx512|avx2|portable]
//
// Prints a table; --output writes the same as JSON. The time covers the whole
// call: compiling constraints to node masks, the greedy filter/score, and
// building the result.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "scheduler/cuda_scheduler.h"
#include "scheduler/scheduler.h"

namespace {

using scheduler::NodeInfo;
using scheduler::NodeType;
using scheduler::WorkloadSpec;

constexpr std::uint64_t kGiB = 1024ull * 1024 * 1024;

struct Case {
  std::size_t workloads;
  std::size_t nodes;
};

struct Input {
  std::vector<NodeInfo> nodes;
  std::vector<WorkloadSpec> workloads;
  std::size_t replicas = 0;
};

// A seed-001-like cluster scaled up: 1 in 16 nodes a GPU workstation, the rest
// Pis (4 cores, 4 or 8 GiB) in two zones. Workloads: 70% unconstrained, 15%
// `node.type == rpi`, 5% `node.labels.zone == east`, 5% `node.type != gpu`
// with an arch, 5% GPU; 1 in 10 has 3 replicas. Requests are sized so the
// batch asks for about 40% of the cluster's CPU and memory.
Input Generate(const Case& c, std::uint32_t seed) {
  std::mt19937 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Input in;
  std::uint64_t cpu_total = 0, mem_total = 0;
  for (std::size_t i = 0; i < c.nodes; ++i) {
    NodeInfo n;
    const bool gpu = i % 16 == 0;
    n.name = (gpu ? "gpu-" : "rpi-") + std::to_string(i);
    n.id = "id-" + n.name;
    n.type = gpu ? NodeType::kGpu : NodeType::kRpi;
    n.arch = gpu ? "x86_64" : "aarch64";
    n.labels["zone"] = i % 2 ? "east" : "west";
    n.capacity = gpu ? scheduler::Resources{32000, 128 * kGiB, 2}
                     : scheduler::Resources{4000, (i % 3 ? 4 : 8) * kGiB, 0};
    cpu_total += n.capacity.cpu_millis;
    mem_total += n.capacity.memory_bytes;
    in.nodes.push_back(std::move(n));
  }
  const double steps_estimate = static_cast<double>(c.workloads) * 1.2;
  // At most a quarter of a Pi per replica, so small clusters are not all Pending.
  const double cpu_avg = std::min(0.4 * static_cast<double>(cpu_total) / steps_estimate, 1000.0);
  const double mem_avg =
      std::min(0.4 * static_cast<double>(mem_total) / steps_estimate, 1.0 * kGiB);
  const auto rpi = *scheduler::ParseConstraint("node.type == rpi");
  const auto east = *scheduler::ParseConstraint("node.labels.zone == east");
  const auto not_gpu = *scheduler::ParseConstraint("node.type != gpu");
  const auto arm = *scheduler::ParseConstraint("node.arch == aarch64");
  for (std::size_t i = 0; i < c.workloads; ++i) {
    WorkloadSpec w;
    w.name = "w" + std::to_string(i);
    const double scale = 0.5 + pick(0, 100) / 100.0;
    w.requests.cpu_millis = static_cast<std::uint64_t>(cpu_avg * scale);
    w.requests.memory_bytes = static_cast<std::uint64_t>(mem_avg * scale);
    w.replicas = pick(0, 9) == 0 ? 3 : 1;
    const int kind = pick(0, 99);
    if (kind < 15) {
      w.constraints = {rpi};
    } else if (kind < 20) {
      w.constraints = {east};
    } else if (kind < 25) {
      w.constraints = {not_gpu, arm};
    } else if (kind < 30) {
      w.requests.gpus = 1;
      w.replicas = 1;
    }
    in.replicas += w.replicas;
    in.workloads.push_back(std::move(w));
  }
  return in;
}

struct Timing {
  double p50_us = 0;
  double cpu_p50_us = 0;  // thread CPU time: what the call costs when not preempted
  double p95_us = 0;
  std::size_t iterations = 0;
  std::size_t placed = 0;
  std::vector<std::int32_t> nodes;  // placements of the last run
};

std::optional<Timing> Measure(scheduler::Scheduler& s, const Input& in, double min_seconds,
                              std::size_t max_iterations, std::string* error) {
  using Clock = std::chrono::steady_clock;
  std::vector<double> samples;
  std::vector<double> cpu_samples;
  Timing t;
  auto thread_us = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
  };
  auto run_once = [&]() -> bool {
    const double cpu_start = thread_us();
    const auto start = Clock::now();
    auto r = s.Schedule(in.nodes, in.workloads);
    const auto end = Clock::now();
    cpu_samples.push_back(thread_us() - cpu_start);
    if (!r.ok()) {
      *error = r.status().ToString();
      return false;
    }
    samples.push_back(std::chrono::duration<double, std::micro>(end - start).count());
    t.placed = r->placed;
    t.nodes.clear();
    for (const auto& p : r->placements) t.nodes.push_back(p.node);
    return true;
  };
  if (!run_once()) return std::nullopt;  // warm-up: buffers, caches, device memory
  samples.clear();
  cpu_samples.clear();
  const auto begin = Clock::now();
  while (samples.size() < 3 ||
         (samples.size() < max_iterations &&
          std::chrono::duration<double>(Clock::now() - begin).count() < min_seconds)) {
    if (!run_once()) return std::nullopt;
  }
  std::sort(samples.begin(), samples.end());
  t.iterations = samples.size();
  t.p50_us = samples[samples.size() / 2];
  t.p95_us = samples[std::min(samples.size() - 1, samples.size() * 95 / 100)];
  std::sort(cpu_samples.begin(), cpu_samples.end());
  t.cpu_p50_us = cpu_samples[cpu_samples.size() / 2];
  return t;
}

nlohmann::json TimingJson(const Timing& t, std::size_t replicas, std::size_t nodes) {
  const double seconds = t.p50_us / 1e6;
  return {{"p50_us", t.p50_us},
          {"thread_cpu_p50_us", t.cpu_p50_us},
          {"p95_us", t.p95_us},
          {"iterations", t.iterations},
          {"placed", t.placed},
          {"placements_per_s", static_cast<double>(replicas) / seconds},
          {"ns_per_pair", t.p50_us * 1000.0 / (static_cast<double>(replicas) * nodes)}};
}

}  // namespace

int main(int argc, char** argv) {
  std::string output;
  double min_seconds = 1.0;
  std::size_t max_iterations = 2000;
  auto kernel = scheduler::CpuScheduler::Kernel::kBest;
  std::vector<Case> cases = {{10, 8}, {100, 16}, {1000, 64}, {10000, 256}, {100000, 5000}};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "sched_bench: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--output") {
      output = next();
    } else if (arg == "--min-seconds") {
      min_seconds = std::atof(next());
    } else if (arg == "--max-iterations") {
      max_iterations = static_cast<std::size_t>(std::atol(next()));
    } else if (arg == "--kernel") {
      // Forces the CPU kernel (the baseline stays the portable one).
      const std::string v = next();
      using K = scheduler::CpuScheduler::Kernel;
      kernel = v == "avx512"     ? K::kAvx512
               : v == "avx2"     ? K::kAvx2
               : v == "portable" ? K::kPortable
                                 : K::kBest;
    } else if (arg == "--sizes") {
      // "1000x64,100000x2000": replaces the default list.
      cases.clear();
      std::string v = next();
      std::size_t pos = 0;
      while (pos < v.size()) {
        std::size_t end = v.find(',', pos);
        if (end == std::string::npos) end = v.size();
        const std::string item = v.substr(pos, end - pos);
        const auto x = item.find('x');
        if (x == std::string::npos) {
          std::fprintf(stderr, "sched_bench: --sizes WxN[,WxN...]\n");
          return 2;
        }
        cases.push_back({std::stoul(item.substr(0, x)), std::stoul(item.substr(x + 1))});
        pos = end + 1;
      }
    } else {
      std::fprintf(stderr,
                   "usage: sched_bench [--output FILE] [--min-seconds S] [--max-iterations N] "
                   "[--sizes WxN,...] [--kernel best|avx512|avx2|portable]\n");
      return 2;
    }
  }

  scheduler::CpuScheduler cpu(kernel);
  // Baseline: the portable kernel, what a CPU without AVX-512 runs.
  scheduler::CpuScheduler portable(scheduler::CpuScheduler::Kernel::kPortable);
  auto cuda = scheduler::CudaScheduler::Create();
  const std::string cuda_status = cuda.ok() ? "ok" : "no GPU (" + cuda.status().message() + ")";

  std::printf("scheduler bench: whole Schedule() call, p50 of >= %.1f s or %zu runs per size\n",
              min_seconds, max_iterations);
  std::printf("CPU kernel: %s; baseline: %s kernel\n", std::string(cpu.KernelName()).c_str(),
              std::string(portable.KernelName()).c_str());
  std::printf("CUDA: %s\n\n", cuda_status.c_str());
  std::printf("%9s %6s %9s %9s | %11s %11s %11s %12s %9s | %11s %11s | %11s %12s %9s\n",
              "workloads", "nodes", "replicas", "placed", "cpu p50 us", "cpu p95 us", "thread p50",
              "placements/s", "ns/pair", "portable us", "thread p50", "cuda p50 us", "placements/s",
              "same");
  nlohmann::json results = nlohmann::json::array();
  std::optional<std::size_t> crossover;
  for (const Case& c : cases) {
    const Input in = Generate(c, 42);
    std::string error;
    auto t = Measure(cpu, in, min_seconds, max_iterations, &error);
    if (!t) {
      std::fprintf(stderr, "sched_bench: cpu %zux%zu: %s\n", c.workloads, c.nodes, error.c_str());
      return 1;
    }
    nlohmann::json row = {{"workloads", c.workloads},
                          {"nodes", c.nodes},
                          {"replicas", in.replicas},
                          {"cpu", TimingJson(*t, in.replicas, c.nodes)}};
    auto base = Measure(portable, in, min_seconds, max_iterations, &error);
    if (!base) {
      std::fprintf(stderr, "sched_bench: portable %zux%zu: %s\n", c.workloads, c.nodes,
                   error.c_str());
      return 1;
    }
    row["cpu_portable"] = TimingJson(*base, in.replicas, c.nodes);
    row["cpu_portable_identical"] = base->nodes == t->nodes;
    const double cpu_rate = static_cast<double>(in.replicas) / (t->p50_us / 1e6);
    std::printf("%9zu %6zu %9zu %9zu | %11.1f %11.1f %11.1f %12.3g %9.2f | %11.1f %11.1f |",
                c.workloads, c.nodes, in.replicas, t->placed, t->p50_us, t->p95_us, t->cpu_p50_us,
                cpu_rate, t->p50_us * 1000.0 / (static_cast<double>(in.replicas) * c.nodes),
                base->p50_us, base->cpu_p50_us);
    if (cuda.ok()) {
      auto g = Measure(**cuda, in, min_seconds, max_iterations, &error);
      if (!g) {
        std::printf(" %11s\n", "error");
        std::fprintf(stderr, "sched_bench: cuda %zux%zu: %s\n", c.workloads, c.nodes,
                     error.c_str());
        row["cuda"] = nullptr;
        row["cuda_error"] = error;
      } else {
        const bool same = g->nodes == t->nodes;
        std::printf(" %11.1f %12.3g %9s\n", g->p50_us,
                    static_cast<double>(in.replicas) / (g->p50_us / 1e6), same ? "yes" : "NO");
        row["cuda"] = TimingJson(*g, in.replicas, c.nodes);
        row["identical_placements"] = same;
        if (!crossover && g->p50_us < t->p50_us) crossover = results.size();
      }
    } else {
      std::printf(" %11s %12s %9s\n", "no GPU", "-", "-");
      row["cuda"] = nullptr;
    }
    std::fflush(stdout);
    results.push_back(std::move(row));
  }
  if (cuda.ok()) {
    if (crossover) {
      std::printf("\nCUDA faster than CPU from %s x %s on\n",
                  results[*crossover]["workloads"].dump().c_str(),
                  results[*crossover]["nodes"].dump().c_str());
    } else {
      std::printf("\nCUDA never faster than CPU at these sizes\n");
    }
  }
  if (!output.empty()) {
    nlohmann::json doc = {{"bench", "sched_bench"},
                          {"cuda", cuda_status},
                          {"min_seconds", min_seconds},
                          {"cpu_kernel", std::string(cpu.KernelName())},
                          {"results", results}};
    doc["crossover"] = crossover ? nlohmann::json({{"workloads", results[*crossover]["workloads"]},
                                                   {"nodes", results[*crossover]["nodes"]}})
                                 : nlohmann::json(nullptr);
    std::ofstream out(output);
    out << doc.dump(2) << "\n";
    if (!out) {
      std::fprintf(stderr, "sched_bench: cannot write %s\n", output.c_str());
      return 1;
    }
  }
  return 0;
}
