// Clusters and workloads for the scheduler tests, plus the macro that runs
// one test body against both scheduler implementations.
#pragma once

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "scheduler/cuda_scheduler.h"
#include "scheduler/scheduler.h"
#include "test_support.h"

namespace scheduler_test {

inline constexpr std::uint64_t kGiB = 1024ull * 1024 * 1024;
inline constexpr std::uint64_t kMiB = 1024ull * 1024;

inline scheduler::NodeInfo Node(std::string name, scheduler::NodeType type, std::string arch,
                                std::uint64_t cpu_millis, std::uint64_t memory,
                                std::uint32_t gpus) {
  scheduler::NodeInfo n;
  n.id = "id-" + name;
  n.name = std::move(name);
  n.type = type;
  n.arch = std::move(arch);
  n.capacity = {cpu_millis, memory, gpus};
  return n;
}

// Seed 001: one x86_64 GPU workstation ("primary-gpu") and `pis` Raspberry
// Pi 4s (4 cores; 4 GiB, every other one 8 GiB).
inline std::vector<scheduler::NodeInfo> SeedCluster(int pis = 5) {
  std::vector<scheduler::NodeInfo> nodes;
  nodes.push_back(Node("primary-gpu", scheduler::NodeType::kGpu, "x86_64", 16000, 64 * kGiB, 1));
  for (int i = 1; i <= pis; ++i) {
    nodes.push_back(Node("rpi-" + std::to_string(i), scheduler::NodeType::kRpi, "aarch64", 4000,
                         (i % 2 == 0 ? 8 : 4) * kGiB, 0));
  }
  return nodes;
}

inline scheduler::WorkloadSpec Workload(std::string name, std::uint64_t cpu_millis,
                                        std::uint64_t memory, std::uint32_t gpus = 0,
                                        std::uint32_t replicas = 1) {
  scheduler::WorkloadSpec w;
  w.name = std::move(name);
  w.requests = {cpu_millis, memory, gpus};
  w.replicas = replicas;
  return w;
}

inline scheduler::Constraint C(const char* text) {
  auto c = scheduler::ParseConstraint(text);
  REQUIRE(c.ok());
  return *c;
}

}  // namespace scheduler_test

// Defines three test cases running `body(scheduler::Scheduler&)`: one on the
// CPU implementation, one on the CUDA kernel's host twin (every build), one
// on CUDA (skipped without a device).
#define SCHEDULER_TEST_CASE(title, body)                                      \
  TEST_CASE(title " (cpu)", "[scheduler][cpu]") {                             \
    scheduler::CpuScheduler impl;                                             \
    body(impl);                                                               \
  }                                                                           \
  TEST_CASE(title " (cuda host twin)", "[scheduler][cuda-twin]") {            \
    scheduler::CudaHostTwinScheduler impl;                                    \
    body(impl);                                                               \
  }                                                                           \
  TEST_CASE(title " (cuda)", "[scheduler][cuda]") {                           \
    auto impl = scheduler::CudaScheduler::Create();                           \
    if (!impl.ok()) SKIP_TEST("no CUDA device: " + impl.status().ToString()); \
    body(**impl);                                                             \
  }
