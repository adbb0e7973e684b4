// Plan: a Schedule call compiled for an engine. Built once per call by the
// Scheduler base class from NodeInfo/WorkloadSpec (strings, maps) into flat
// integer arrays: node arrays, one node bitmask per distinct constraint set
// (Ready folded in), and one WorkItem per workload. Engines read it and never
// touch a string; Finish() turns their raw output into a ScheduleResult.
//
// Thread safety: owned by one Scheduler, used by one thread at a time.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mesh/status.h"
#include "scheduler/types.h"
#include "score.h"

namespace scheduler::internal {

struct Plan {
  std::uint32_t num_nodes = 0;
  std::uint32_t words = 0;  // 64-bit words per node bitmask
  std::uint32_t steps = 0;  // replicas in the batch
  std::uint32_t num_sets = 0;
  // Node arrays (see NodeArrays), words * 64 entries, initial state.
  std::vector<std::uint64_t> free_cpu, free_mem, free_gpu, recip_cpu, recip_mem, base;
  std::vector<WorkItem> work;
  std::vector<std::uint64_t> masks;  // num_sets * words; set 0 = every Ready node

  // Scratch an engine may use freely.
  std::vector<std::uint64_t> engine_cpu, engine_mem, engine_gpu;
  std::vector<std::uint64_t> engine_spread;

  // Copies the initial free state into engine_* and returns arrays over it.
  NodeArrays EngineArrays();

  // Interning scratch (kept to reuse its memory).
  std::unordered_map<std::string_view, std::uint32_t> term_ids;
  std::vector<std::uint64_t> term_masks;  // terms * words, status ignored
  std::vector<std::uint32_t> term_single_set;
  std::map<std::vector<std::uint32_t>, std::uint32_t> multi_sets;
  std::vector<std::uint32_t> set_key;
};

mesh::Status BuildPlan(std::span<const NodeInfo> nodes, std::span<const WorkloadSpec> workloads,
                       Plan* plan);

// Builds the result from the engine's per-step node choice, replaying the
// placements (in the engine scratch) to explain every Pending replica with
// the state it met.
ScheduleResult Finish(Plan& plan, std::span<const NodeInfo> nodes,
                      std::span<const WorkloadSpec> workloads, std::span<const std::int32_t> out);

// Why a replica of `spec` fits nowhere, given each node's free resources.
std::string ExplainPending(const WorkloadSpec& spec, std::span<const NodeInfo> nodes,
                           const NodeArrays& state);

}  // namespace scheduler::internal
