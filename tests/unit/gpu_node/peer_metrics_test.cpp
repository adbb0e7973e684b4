// The GPU peer's /metrics pieces: cluster gauges with every label value
// present, and the metered process named as serve, not as a swarmlet.
#include "serve/peer_metrics.h"

#include <catch2/catch.hpp>

namespace {

double Gauge(const std::vector<swarmlet::ExtraGauge>& gauges, const std::string& name,
             const std::string& label_value) {
  for (const auto& g : gauges) {
    if (g.name == name && g.labels.size() == 1 && g.labels[0].second == label_value) return g.value;
  }
  FAIL("no " << name << " for " << label_value);
  return -1;
}

}  // namespace

TEST_CASE("peer metrics: cluster gauges count nodes and workloads", "[gpu_node][metrics]") {
  std::vector<state::NodeRecord> nodes(5);
  nodes[2].status = state::NodeStatus::kDown;
  nodes[3].status = state::NodeStatus::kRestarting;
  nodes[4].status = state::NodeStatus::kUnreachable;
  std::vector<state::WorkloadRecord> workloads(4);
  workloads[0].phase = state::WorkloadPhase::kRunning;
  workloads[1].phase = state::WorkloadPhase::kRunning;
  workloads[2].phase = state::WorkloadPhase::kFailed;
  const auto gauges = gpu_node::ClusterGauges(nodes, workloads);
  CHECK(Gauge(gauges, "stratoswarm_cluster_nodes", "Ready") == 2);
  CHECK(Gauge(gauges, "stratoswarm_cluster_nodes", "Down") == 1);
  CHECK(Gauge(gauges, "stratoswarm_cluster_nodes", "Restarting") == 1);
  CHECK(Gauge(gauges, "stratoswarm_cluster_nodes", "Unreachable") == 1);
  CHECK(Gauge(gauges, "stratoswarm_workloads", "Running") == 2);
  CHECK(Gauge(gauges, "stratoswarm_workloads", "Failed") == 1);
  CHECK(Gauge(gauges, "stratoswarm_workloads", "Pending") == 1);  // the default phase
  CHECK(Gauge(gauges, "stratoswarm_workloads", "Stopped") == 0);
  CHECK(gauges.size() == 4 + 6);

  const auto empty = gpu_node::ClusterGauges({}, {});
  CHECK(Gauge(empty, "stratoswarm_cluster_nodes", "Ready") == 0);
  auto text = swarmlet::FormatPrometheus(swarmlet::NodeMetricFamilies({}, empty));
  REQUIRE(text.ok());
  CHECK_THAT(*text, Catch::Contains("stratoswarm_cluster_nodes{status=\"Down\"} 0\n"));
}

TEST_CASE("peer metrics: the serve process is not called a swarmlet", "[gpu_node][metrics]") {
  swarmlet::NodeMetrics m;
  m.process.has_status = true;
  m.process.resident_bytes = 1 << 20;
  m.process.threads = 3;
  auto families = swarmlet::NodeMetricFamilies(m);
  gpu_node::RenameProcessFamiliesForServe(families);
  auto text = swarmlet::FormatPrometheus(families);
  REQUIRE(text.ok());
  CHECK_THAT(*text, !Catch::Contains("swarmlet"));
  CHECK_THAT(*text, Catch::Contains("stratoswarm_serve_build_info{"));
  CHECK_THAT(*text, Catch::Contains("stratoswarm_serve_resident_memory_bytes 1048576\n"));
  CHECK_THAT(*text, Catch::Contains("Threads of the stratoswarm serve process."));
}
