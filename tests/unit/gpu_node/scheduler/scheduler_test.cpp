// Scheduler behaviour, run against both implementations (SCHEDULER_TEST_CASE),
// and checked against a naive reference written from scheduler.h's rules.
#include "scheduler/scheduler.h"

#include <algorithm>
#include <random>
#include <set>
#include <tuple>

#include "cluster_fixture.h"

using scheduler::kPending;
using scheduler::NodeInfo;
using scheduler::NodeStatus;
using scheduler::NodeType;
using scheduler::Scheduler;
using scheduler::WorkloadSpec;
using namespace scheduler_test;

namespace {

std::vector<std::int32_t> NodesOf(const scheduler::ScheduleResult& r) {
  std::vector<std::int32_t> out;
  for (const auto& p : r.placements) out.push_back(p.node);
  return out;
}

// The rules of scheduler.h, written the slow and obvious way.
std::vector<std::int32_t> Reference(std::vector<NodeInfo> nodes,
                                    const std::vector<WorkloadSpec>& workloads) {
  auto fraction = [](std::uint64_t free_after, std::uint64_t cap) -> std::uint64_t {
    if (cap == 0) return 0;
    return (free_after * ((std::uint64_t{1} << 62) / cap)) >> 52;
  };
  auto free_of = [](std::uint64_t cap, std::uint64_t used) { return used >= cap ? 0 : cap - used; };
  std::vector<std::int32_t> out;
  for (const WorkloadSpec& w : workloads) {
    std::vector<std::uint32_t> here(nodes.size(), 0);
    bool stuck = false;
    for (std::uint32_t r = 0; r < w.replicas; ++r) {
      if (stuck) {
        out.push_back(kPending);
        continue;
      }
      std::tuple<std::int64_t, int, int, std::uint64_t, std::int64_t> best{};
      std::int32_t chosen = kPending;
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        const NodeInfo& n = nodes[i];
        if (n.status != NodeStatus::kReady) continue;
        bool ok = true;
        for (const auto& c : w.constraints) ok = ok && scheduler::Matches(c, n);
        const auto fc = free_of(n.capacity.cpu_millis, n.allocated.cpu_millis);
        const auto fm = free_of(n.capacity.memory_bytes, n.allocated.memory_bytes);
        const auto fg = free_of(n.capacity.gpus, n.allocated.gpus);
        if (w.requests.memory_bytes > 0 && !n.memory_limits) continue;  // cannot enforce it
        if (!ok || fc < w.requests.cpu_millis || fm < w.requests.memory_bytes ||
            fg < w.requests.gpus) {
          continue;
        }
        const int cool = n.throttled ? 0 : 1;
        const int gpu_pref = (w.requests.gpus == 0 && n.capacity.gpus > 0) ? 0 : 1;
        const std::uint64_t balance =
            fraction(fc - w.requests.cpu_millis, n.capacity.cpu_millis) +
            fraction(fm - w.requests.memory_bytes, n.capacity.memory_bytes);
        const auto key = std::make_tuple(-static_cast<std::int64_t>(here[i]), cool, gpu_pref, balance,
                                         -static_cast<std::int64_t>(i));
        if (chosen == kPending || key > best) {
          best = key;
          chosen = static_cast<std::int32_t>(i);
        }
      }
      out.push_back(chosen);
      if (chosen == kPending) {
        stuck = true;
        continue;
      }
      NodeInfo& n = nodes[static_cast<std::size_t>(chosen)];
      n.allocated.cpu_millis += w.requests.cpu_millis;
      n.allocated.memory_bytes += w.requests.memory_bytes;
      n.allocated.gpus += w.requests.gpus;
      ++here[static_cast<std::size_t>(chosen)];
    }
  }
  return out;
}

struct Random {
  std::vector<NodeInfo> nodes;
  std::vector<WorkloadSpec> workloads;
};

Random RandomCase(std::uint32_t seed, int max_nodes, int max_workloads) {
  std::mt19937 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Random c;
  const int n = pick(1, max_nodes);
  for (int i = 0; i < n; ++i) {
    const int kind = pick(0, 5);
    const NodeType type =
        kind == 0 ? NodeType::kGpu : (kind == 1 ? NodeType::kX86 : NodeType::kRpi);
    NodeInfo node =
        Node("node-" + std::to_string(i), type, type == NodeType::kRpi ? "aarch64" : "x86_64",
             static_cast<std::uint64_t>(pick(1, 16)) * 1000,
             static_cast<std::uint64_t>(pick(1, 32)) * kGiB / 2,
             type == NodeType::kGpu ? static_cast<std::uint32_t>(pick(1, 4)) : 0);
    node.labels["zone"] = pick(0, 1) ? "east" : "west";
    if (pick(0, 9) == 0) node.status = NodeStatus::kDown;
    if (pick(0, 5) == 0) node.memory_limits = false;
    if (pick(0, 5) == 0) node.throttled = true;
    if (pick(0, 3) == 0)
      node.allocated = {node.capacity.cpu_millis / 2, node.capacity.memory_bytes / 3, 0};
    c.nodes.push_back(std::move(node));
  }
  static const char* kConstraints[] = {"node.type == rpi",         "node.type != gpu",
                                       "node.arch == x86_64",      "node.labels.zone == east",
                                       "node.labels.zone != east", "node.type == gpu",
                                       "node.name == node-3",      "node.name != node-0"};
  const int w = pick(0, max_workloads);
  for (int i = 0; i < w; ++i) {
    WorkloadSpec spec =
        Workload("w" + std::to_string(i), static_cast<std::uint64_t>(pick(0, 40)) * 100,
                 static_cast<std::uint64_t>(pick(0, 64)) * 64 * kMiB,
                 pick(0, 7) == 0 ? static_cast<std::uint32_t>(pick(1, 2)) : 0,
                 static_cast<std::uint32_t>(pick(0, 3) == 0 ? pick(0, 6) : 1));
    const int k = pick(0, 4) == 0 ? 2 : (pick(0, 1) ? 1 : 0);
    for (int j = 0; j < k; ++j) spec.constraints.push_back(C(kConstraints[pick(0, 7)]));
    c.workloads.push_back(std::move(spec));
  }
  return c;
}

void SpreadsReplicasOverPis(Scheduler& s) {
  auto nodes = SeedCluster(4);
  WorkloadSpec w = Workload("critical-service", 100, 64 * kMiB, 0, 3);
  w.constraints = {C("node.type == rpi")};
  auto r = s.Schedule(nodes, std::vector<WorkloadSpec>{w});
  REQUIRE(r.ok());
  REQUIRE(r->placed == 3);
  std::set<std::int32_t> distinct;
  for (const auto& p : r->placements) {
    REQUIRE(p.node != kPending);
    CHECK(nodes[static_cast<std::size_t>(p.node)].type == NodeType::kRpi);
    distinct.insert(p.node);
  }
  CHECK(distinct.size() == 3);
}
SCHEDULER_TEST_CASE("scheduler: replicas spread across the nodes that match",
                    SpreadsReplicasOverPis)

void UnsatisfiableStaysPending(Scheduler& s) {
  std::vector<NodeInfo> nodes;
  nodes.push_back(Node("primary-gpu", NodeType::kGpu, "x86_64", 8000, 16 * kGiB, 1));
  for (int i = 0; i < 3; ++i) {
    nodes.push_back(Node("x86-" + std::to_string(i), NodeType::kX86, "x86_64", 8000, 16 * kGiB, 0));
  }
  WorkloadSpec w = Workload("needs-pi", 100, kMiB, 0, 2);
  w.constraints = {C("node.type == rpi")};
  auto r = s.Schedule(nodes, std::vector<WorkloadSpec>{w});
  REQUIRE(r.ok());  // Pending is a result, not an error
  CHECK(r->placed == 0);
  CHECK(r->pending == 2);
  for (const auto& p : r->placements) {
    CHECK(p.node == kPending);
    CHECK(p.reason == "no node matches node.type == rpi: 0 of 4 nodes are rpi");
  }
  CHECK(r->allocated[0] == nodes[0].allocated);
}
SCHEDULER_TEST_CASE("scheduler: unsatisfiable constraint leaves the workload Pending with a reason",
                    UnsatisfiableStaysPending)

void CapacityRunsOut(Scheduler& s) {
  std::vector<NodeInfo> nodes = {Node("rpi-1", NodeType::kRpi, "aarch64", 4000, 4 * kGiB, 0),
                                 Node("rpi-2", NodeType::kRpi, "aarch64", 4000, 4 * kGiB, 0)};
  const std::vector<WorkloadSpec> w = {Workload("big", 1500, kGiB, 0, 6)};
  auto r = s.Schedule(nodes, w);
  REQUIRE(r.ok());
  CHECK(r->placed == 4);  // two per node: 3000m of 4000m each
  CHECK(r->pending == 2);
  CHECK(r->allocated[0] == scheduler::Resources{3000, 2 * kGiB, 0});
  CHECK(r->allocated[1] == scheduler::Resources{3000, 2 * kGiB, 0});
  CHECK(r->placements[4].reason ==
        "insufficient resources on the 2 Ready nodes: cpu 1.5 requested, 2 have less free "
        "(most free 1)");
  // The inputs are untouched.
  CHECK(nodes[0].allocated == scheduler::Resources{});
}
SCHEDULER_TEST_CASE("scheduler: requests consume free capacity and the rest is Pending",
                    CapacityRunsOut)

void DownNodesAreSkipped(Scheduler& s) {
  auto nodes = SeedCluster(2);
  nodes[1].status = NodeStatus::kDown;
  nodes[2].status = NodeStatus::kDown;
  WorkloadSpec w = Workload("edge", 100, kMiB);
  w.constraints = {C("node.type == rpi")};
  auto r = s.Schedule(nodes, std::vector<WorkloadSpec>{w, Workload("free", 100, kMiB)});
  REQUIRE(r.ok());
  CHECK(r->placements[0].node == kPending);
  CHECK(r->placements[0].reason ==
        "no Ready node matches node.type == rpi: all 2 matching nodes are Down");
  CHECK(r->placements[1].node == 0);
}
SCHEDULER_TEST_CASE("scheduler: Down nodes receive nothing", DownNodesAreSkipped)

void ConstraintsFilter(Scheduler& s) {
  auto nodes = SeedCluster(5);
  nodes[3].labels["zone"] = "east";
  nodes[5].labels["zone"] = "east";
  std::vector<WorkloadSpec> ws(5, Workload("w", 100, kMiB));
  ws[0].constraints = {C("node.name==rpi-4")};
  ws[1].constraints = {C("node.labels.zone == east"), C("node.name != rpi-3")};
  ws[2].constraints = {C("node.arch == x86_64")};
  ws[3].constraints = {C("node.type != rpi")};
  ws[4].constraints = {C("node.labels.zone == east"), C("node.type == gpu")};
  auto r = s.Schedule(nodes, ws);
  REQUIRE(r.ok());
  CHECK(r->placements[0].node == 4);
  CHECK(r->placements[1].node == 5);
  CHECK(r->placements[2].node == 0);
  CHECK(r->placements[3].node == 0);
  CHECK(r->placements[4].node == kPending);
  CHECK(r->placements[4].reason ==
        "no node matches all of node.labels.zone == east, node.type == gpu: each matches some "
        "of the 6 nodes, none all");
}
SCHEDULER_TEST_CASE("scheduler: name, type, arch and label constraints with == and !=",
                    ConstraintsFilter)

void TieBreakIsLowestIndex(Scheduler& s) {
  std::vector<NodeInfo> nodes;
  for (int i = 0; i < 4; ++i) {
    nodes.push_back(
        Node("same-" + std::to_string(i), NodeType::kRpi, "aarch64", 4000, 4 * kGiB, 0));
  }
  auto r = s.Schedule(
      nodes, std::vector<WorkloadSpec>{Workload("a", 100, kMiB), Workload("b", 100, kMiB)});
  REQUIRE(r.ok());
  CHECK(r->placements[0].node == 0);  // all equal: lowest index
  CHECK(r->placements[1].node == 1);  // node 0 has less free now
}
SCHEDULER_TEST_CASE("scheduler: equal scores go to the lowest node index", TieBreakIsLowestIndex)

void GpuWorkloadsOnGpuNodes(Scheduler& s) {
  auto nodes = SeedCluster(3);
  nodes[0].capacity.gpus = 2;
  std::vector<WorkloadSpec> ws = {Workload("cpu", 1000, kGiB), Workload("g1", 1000, kGiB, 1),
                                  Workload("g2", 1000, kGiB, 1), Workload("g3", 1000, kGiB, 1)};
  auto r = s.Schedule(nodes, ws);
  REQUIRE(r.ok());
  CHECK(nodes[static_cast<std::size_t>(r->placements[0].node)].type == NodeType::kRpi);
  CHECK(r->placements[1].node == 0);
  CHECK(r->placements[2].node == 0);
  CHECK(r->placements[3].node == kPending);
  CHECK(r->placements[3].reason.find("gpu 1 requested, 4 have less free") != std::string::npos);
  CHECK(r->allocated[0].gpus == 2);
}
SCHEDULER_TEST_CASE("scheduler: GPU requests go to GPU nodes and consume GPUs",
                    GpuWorkloadsOnGpuNodes)

void MoreReplicasThanNodes(Scheduler& s) {
  std::vector<NodeInfo> nodes = {Node("a", NodeType::kRpi, "aarch64", 4000, 4 * kGiB, 0),
                                 Node("b", NodeType::kRpi, "aarch64", 4000, 4 * kGiB, 0)};
  auto r = s.Schedule(nodes, std::vector<WorkloadSpec>{Workload("w", 100, kMiB, 0, 5)});
  REQUIRE(r.ok());
  CHECK(NodesOf(*r) == std::vector<std::int32_t>{0, 1, 0, 1, 0});
}
SCHEDULER_TEST_CASE("scheduler: replicas beyond the node count keep alternating",
                    MoreReplicasThanNodes)

void EmptyInputs(Scheduler& s) {
  auto none = s.Schedule({}, std::vector<WorkloadSpec>{Workload("w", 1, 1, 0, 2)});
  REQUIRE(none.ok());
  CHECK(none->pending == 2);
  CHECK(none->placements[0].reason == "no nodes in the cluster");
  auto nothing = s.Schedule(SeedCluster(), {});
  REQUIRE(nothing.ok());
  CHECK(nothing->placements.empty());
  CHECK(nothing->allocated.size() == 6);
  auto zero = s.Schedule(SeedCluster(), std::vector<WorkloadSpec>{Workload("w", 1, 1, 0, 0)});
  REQUIRE(zero.ok());
  CHECK(zero->placements.empty());
}
SCHEDULER_TEST_CASE("scheduler: no nodes, no workloads, zero replicas", EmptyInputs)

void ManyNodesCrossWordBoundaries(Scheduler& s) {
  std::vector<NodeInfo> nodes;
  for (int i = 0; i < 200; ++i) {
    nodes.push_back(Node("n" + std::to_string(i), NodeType::kRpi, "aarch64", 4000, 4 * kGiB, 0));
  }
  std::vector<WorkloadSpec> ws = {Workload("a", 100, kMiB), Workload("b", 100, kMiB)};
  ws[0].constraints = {C("node.name == n129")};
  ws[1].constraints = {C("node.name == n199")};
  auto r = s.Schedule(nodes, ws);
  REQUIRE(r.ok());
  CHECK(NodesOf(*r) == std::vector<std::int32_t>{129, 199});
}
SCHEDULER_TEST_CASE("scheduler: node masks beyond 64 and 128 nodes", ManyNodesCrossWordBoundaries)

void MatchesReference(Scheduler& s) {
  for (std::uint32_t seed = 1; seed <= 300; ++seed) {
    const Random c = RandomCase(seed, seed % 10 == 0 ? 300 : 20, 40);
    auto r = s.Schedule(c.nodes, c.workloads);
    REQUIRE(r.ok());
    INFO("seed " << seed);
    REQUIRE(NodesOf(*r) == Reference(c.nodes, c.workloads));
    for (const auto& p : r->placements) CHECK((p.node == kPending) == !p.reason.empty());
  }
}
SCHEDULER_TEST_CASE("scheduler: random clusters match the reference rules", MatchesReference)

}  // namespace

TEST_CASE("scheduler: CUDA and CPU produce identical placements", "[scheduler][cuda]") {
  auto cuda = scheduler::CudaScheduler::Create();
  if (!cuda.ok()) SKIP_TEST("no CUDA device: " + cuda.status().ToString());
  scheduler::CpuScheduler cpu;
  for (std::uint32_t seed = 1; seed <= 100; ++seed) {
    const Random c = RandomCase(seed, 2000, 3000);
    auto a = cpu.Schedule(c.nodes, c.workloads);
    auto b = (*cuda)->Schedule(c.nodes, c.workloads);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    INFO("seed " << seed);
    REQUIRE(NodesOf(*a) == NodesOf(*b));
  }
}

// The kernel's block walk on the host (greedy_block.h): clusters past 1024
// nodes make threads own several nodes, as on the device.
TEST_CASE("scheduler: the CUDA kernel's host twin and the CPU produce identical results",
          "[scheduler][cuda-twin]") {
  scheduler::CpuScheduler cpu;
  scheduler::CudaHostTwinScheduler twin;
  int past_one_block = 0;  // cases where a thread owns several nodes
  for (std::uint32_t seed = 1; seed <= 40; ++seed) {
    const Random c = RandomCase(seed, seed % 4 == 0 ? 2500 : 700, 300);
    if (c.nodes.size() > 1024) ++past_one_block;
    auto a = cpu.Schedule(c.nodes, c.workloads);
    auto b = twin.Schedule(c.nodes, c.workloads);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    INFO("seed " << seed << ", " << c.nodes.size() << " nodes, " << c.workloads.size()
                 << " workloads");
    REQUIRE(NodesOf(*a) == NodesOf(*b));
    REQUIRE(a->placed == b->placed);
    REQUIRE(a->pending == b->pending);
    for (std::size_t i = 0; i < a->placements.size(); ++i) {
      CHECK(a->placements[i].reason == b->placements[i].reason);
    }
  }
  CHECK(past_one_block >= 3);
}

TEST_CASE("scheduler: every CPU kernel this machine has agrees with the reference",
          "[scheduler][cpu]") {
  using Kernel = scheduler::CpuScheduler::Kernel;
  for (Kernel kernel : {Kernel::kPortable, Kernel::kAvx2, Kernel::kAvx512}) {
    scheduler::CpuScheduler s(kernel);
    if (!scheduler::CpuScheduler::Available(kernel)) {
      CHECK(s.KernelName() == "portable");  // falls back, never crashes
      continue;
    }
    INFO("kernel " << s.KernelName());
    for (std::uint32_t seed = 1; seed <= 60; ++seed) {
      // Many unconstrained single-replica workloads on > 64 nodes: dense mask words.
      const Random c = RandomCase(seed, 400, 200);
      auto r = s.Schedule(c.nodes, c.workloads);
      REQUIRE(r.ok());
      INFO("seed " << seed);
      REQUIRE(NodesOf(*r) == Reference(c.nodes, c.workloads));
    }
  }
}

TEST_CASE("scheduler: CudaScheduler reports Unavailable without a device", "[scheduler][cuda]") {
  auto cuda = scheduler::CudaScheduler::Create();
  if (cuda.ok()) SKIP_TEST("a CUDA device is present");
  CHECK(cuda.status().code() == mesh::StatusCode::kUnavailable);
}

// Issue 15: an image workload goes only where the image has the node's
// architecture; with no such node it is Pending with the image's name.
void ImagePlatformsFilterNodes(Scheduler& s) {
  auto nodes = SeedCluster(3);  // primary-gpu (x86_64) + 3 Pis (aarch64)
  WorkloadSpec arm = Workload("arm-only", 100, kMiB, 0, 3);
  arm.constraints = {scheduler::ImagePlatformConstraint("alpine:latest", {"arm64"})};
  WorkloadSpec both = Workload("multi", 100, kMiB, 0, 4);
  both.constraints = {scheduler::ImagePlatformConstraint("alpine:latest", {"amd64", "arm64"})};
  WorkloadSpec amd = Workload("amd-only", 100, kMiB, 0, 2);
  amd.constraints = {scheduler::ImagePlatformConstraint("tool:1", {"amd64"}), C("node.type == rpi")};
  auto r = s.Schedule(nodes, std::vector<WorkloadSpec>{arm, both, amd});
  REQUIRE(r.ok());
  for (int i = 0; i < 3; ++i) {
    REQUIRE(r->placements[i].node != kPending);
    CHECK(nodes[r->placements[i].node].arch == "aarch64");
  }
  for (int i = 3; i < 7; ++i) CHECK(r->placements[i].node != kPending);
  CHECK(r->placements[7].node == kPending);
  // primary-gpu has amd64 but is no Pi: both terms are named.
  CHECK(r->placements[7].reason ==
        "no node matches all of image tool:1 (linux/amd64), node.type == rpi: each matches some of "
        "the 4 nodes, none all");

  // Only Pis are Ready: an amd64-only image names the missing platform.
  nodes[0].status = NodeStatus::kDown;
  WorkloadSpec x86 = Workload("x86", 100, kMiB);
  x86.constraints = {scheduler::ImagePlatformConstraint("alpine:3.19", {"amd64"})};
  auto down = s.Schedule(nodes, std::vector<WorkloadSpec>{x86});
  REQUIRE(down.ok());
  CHECK(down->placements[0].node == kPending);
  CHECK(down->placements[0].reason == "alpine:3.19 has no linux/arm64 image");
  CHECK(NodesOf(*down) == Reference(nodes, {x86}));
}
SCHEDULER_TEST_CASE("scheduler: image platforms decide where a workload may run",
                    ImagePlatformsFilterNodes)

// Node health (docs/node_health.md): a node without the cgroup memory
// controller takes no workload with a memory limit; a throttling one is
// the last choice but still used.
void MemoryLimitsNeedTheController(Scheduler& s) {
  auto nodes = SeedCluster(2);
  nodes[2].memory_limits = false;  // rpi-2
  WorkloadSpec limited = Workload("limited", 100, 128 * kMiB);
  limited.constraints = {C("node.name == rpi-2")};
  WorkloadSpec unlimited = Workload("unlimited", 100, 0);
  unlimited.constraints = {C("node.name == rpi-2")};
  WorkloadSpec pis = Workload("on-pis", 100, 64 * kMiB, 0, 2);
  pis.constraints = {C("node.type == rpi")};
  const std::vector<WorkloadSpec> work{limited, unlimited, pis};
  auto r = s.Schedule(nodes, work);
  REQUIRE(r.ok());
  REQUIRE(r->placements.size() == 4);
  CHECK(r->placements[0].node == kPending);
  CHECK(r->placements[0].reason == "memory limits unavailable on rpi-2 (cgroup memory controller off)");
  CHECK(r->placements[1].node == 2);  // no memory limit: rpi-2 is fine
  CHECK(r->placements[2].node == 1);  // both replicas on rpi-1, never rpi-2
  CHECK(r->placements[3].node == 1);
  CHECK(NodesOf(*r) == Reference(nodes, work));

  // Pending for resources elsewhere: the reason still names the node left out.
  WorkloadSpec big = Workload("big", 100, 6 * kGiB);
  big.constraints = {C("node.type == rpi")};
  auto r2 = s.Schedule(nodes, std::vector<WorkloadSpec>{big});
  REQUIRE(r2.ok());
  CHECK(r2->placements[0].node == kPending);
  CHECK_THAT(r2->placements[0].reason, Catch::StartsWith("insufficient resources on the 1 Ready node"));
  CHECK_THAT(r2->placements[0].reason,
             Catch::EndsWith("; memory limits unavailable on rpi-2 (cgroup memory controller off)"));
}
SCHEDULER_TEST_CASE("scheduler: memory limits only where the memory controller is on",
                    MemoryLimitsNeedTheController)

void ThrottledNodesScoreLower(Scheduler& s) {
  auto nodes = SeedCluster(3);
  nodes[2].capacity = nodes[1].capacity;  // rpi-1 and rpi-2 alike
  nodes[1].throttled = true;              // rpi-1 would win the tie otherwise
  WorkloadSpec one = Workload("one", 100, 64 * kMiB);
  one.constraints = {C("node.type == rpi")};
  auto r = s.Schedule(nodes, std::vector<WorkloadSpec>{one});
  REQUIRE(r.ok());
  CHECK(r->placements[0].node == 2);
  nodes[1].throttled = false;
  CHECK(s.Schedule(nodes, std::vector<WorkloadSpec>{one})->placements[0].node == 1);
  nodes[1].throttled = true;

  // Still usable: pinned there, or spread onto it.
  WorkloadSpec pinned = Workload("pinned", 100, 64 * kMiB);
  pinned.constraints = {C("node.name == rpi-1")};
  WorkloadSpec spread = Workload("spread", 100, 64 * kMiB, 0, 3);
  spread.constraints = {C("node.type == rpi")};
  const std::vector<WorkloadSpec> work{pinned, spread};
  auto r2 = s.Schedule(nodes, work);
  REQUIRE(r2.ok());
  CHECK(r2->placements[0].node == 1);
  std::set<std::int32_t> distinct;
  for (std::size_t i = 1; i < 4; ++i) distinct.insert(r2->placements[i].node);
  CHECK(distinct == std::set<std::int32_t>{1, 2, 3});
  CHECK(NodesOf(*r2) == Reference(nodes, work));
}
SCHEDULER_TEST_CASE("scheduler: a throttling node is scored lower but still used",
                    ThrottledNodesScoreLower)
