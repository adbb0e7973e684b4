#include "serve/peer_metrics.h"

#include <array>
#include <map>
#include <string_view>

namespace gpu_node {

std::vector<swarmlet::ExtraGauge> ClusterGauges(
    const std::vector<state::NodeRecord>& nodes,
    const std::vector<state::WorkloadRecord>& workloads) {
  std::map<state::NodeStatus, int> by_status;
  for (const auto& n : nodes) ++by_status[n.status];
  std::map<state::WorkloadPhase, int> by_phase;
  for (const auto& w : workloads) ++by_phase[w.phase];

  std::vector<swarmlet::ExtraGauge> gauges;
  for (const auto status : {state::NodeStatus::kReady, state::NodeStatus::kDown, state::NodeStatus::kRestarting,
                            state::NodeStatus::kUnreachable}) {
    gauges.push_back({"stratoswarm_cluster_nodes",
                      "Nodes of the cluster (this GPU peer included) by status",
                      {{"status", std::string(state::NodeStatusName(status))}},
                      static_cast<double>(by_status[status])});
  }
  constexpr std::array kPhases = {state::WorkloadPhase::kPending, state::WorkloadPhase::kStarting,
                                  state::WorkloadPhase::kRunning, state::WorkloadPhase::kExited,
                                  state::WorkloadPhase::kFailed,  state::WorkloadPhase::kStopped};
  for (const auto phase : kPhases) {
    gauges.push_back({"stratoswarm_workloads",
                      "Workload replicas recorded by the GPU peer, by phase",
                      {{"phase", std::string(state::WorkloadPhaseName(phase))}},
                      static_cast<double>(by_phase[phase])});
  }
  return gauges;
}

void RenameProcessFamiliesForServe(std::vector<swarmlet::MetricFamily>& families) {
  constexpr std::string_view kFrom = "stratoswarm_swarmlet_";
  for (auto& f : families) {
    if (!f.name.starts_with(kFrom)) continue;
    f.name = "stratoswarm_serve_" + f.name.substr(kFrom.size());
    for (std::string_view word : {"swarmlet binary", "swarmlet process"}) {
      if (const auto at = f.help.find(word); at != std::string::npos) {
        f.help.replace(
            at, word.size(),
            word == "swarmlet binary" ? "stratoswarm binary" : "stratoswarm serve process");
      }
    }
  }
}

mesh::Result<std::string> PeerMetricsText(const std::string& state_dir, state::StateStore& store,
                                          const swarmlet::DurationHistograms& histograms,
                                          const std::vector<swarmlet::MetricFamily>& extra) {
  auto nodes = store.ListNodes();
  if (!nodes.ok()) return nodes.status();
  auto workloads = store.ListWorkloads();
  if (!workloads.ok()) return workloads.status();
  auto families = swarmlet::NodeMetricFamilies(swarmlet::ReadNodeMetrics("/", state_dir),
                                               ClusterGauges(*nodes, *workloads));
  RenameProcessFamiliesForServe(families);
  auto timed = histograms.Families();
  families.insert(families.end(), timed.begin(), timed.end());
  families.insert(families.end(), extra.begin(), extra.end());
  return swarmlet::FormatPrometheus(families);
}

}  // namespace gpu_node
