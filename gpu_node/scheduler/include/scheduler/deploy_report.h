// DeployReport: what `stratoswarm deploy --measure-scheduling-time` shows and
// writes with `--output`: per workload, where its replicas went, how long the
// scheduler took for it, and whether that matched the file's expectation.
//
// Expectations (`expected_node(s)` in the deploy file) are checked, never
// enforced. An entry matches a replica's node when it is the node's name,
// its type ("gpu", "rpi", "x86"), or "any" / "any-capable" (any placement).
// A workload matched when every replica is placed on a node some entry
// matches and, for a list of names, no listed node got more than
// ceil(replicas / entries) replicas (the list asks for a spread).
//
// Thread safety: values and functions of their arguments; ScheduleDeployment
// uses the given scheduler (one thread at a time, see scheduler.h).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mesh/clock.h"
#include "mesh/status.h"
#include "scheduler/scheduler.h"
#include "scheduler/types.h"

namespace scheduler {

struct WorkloadReport {
  std::string name;
  std::string type;
  std::uint32_t replicas = 0;
  std::uint32_t placed = 0;
  std::vector<std::string> nodes;            // per placed replica, in replica order
  std::vector<std::string> node_types;       // the same nodes' types
  std::vector<std::string> pending_reasons;  // distinct reasons, if any replica is Pending
  std::vector<std::string> expected;
  std::optional<bool> matched;  // nullopt: the file stated no expectation
  double scheduling_time_us = 0;
};

struct DeployReport {
  std::string scheduler;  // "cpu" / "cuda"
  std::size_t nodes = 0;
  std::vector<WorkloadReport> workloads;
  double total_scheduling_time_us = 0;
  std::size_t placed = 0;
  std::size_t pending = 0;
  bool all_matched = true;  // every stated expectation matched
};

// Schedules `workloads` one at a time in file order (so each gets its own
// time), applying each result to `nodes` before the next. Timing reads
// `clock` (monotonic). Errors: those of Scheduler::Schedule.
mesh::Result<DeployReport> ScheduleDeployment(Scheduler& scheduler, std::vector<NodeInfo>& nodes,
                                              std::span<const WorkloadSpec> workloads,
                                              const mesh::Clock& clock);

// Whether `placements` (node indices of one workload's replicas) meet `spec`'s
// expectation; nullopt when it states none.
std::optional<bool> MatchesExpectation(const WorkloadSpec& spec, std::span<const NodeInfo> nodes,
                                       std::span<const std::int32_t> placements);

// A fixed-width table, one row per workload, then a summary line.
std::string RenderTable(const DeployReport& report);
// The --output JSON document (pretty-printed, 2-space indent).
std::string RenderJson(const DeployReport& report);

}  // namespace scheduler
