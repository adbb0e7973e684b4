// The GPU peer's /metrics exposition (`stratoswarm serve --metrics-port`):
// the host's node metrics, the serve process's own figures (named
// stratoswarm_serve_*, not stratoswarm_swarmlet_*), cluster gauges from the
// state store, and the duration histograms the timing log feeds.
//
// Thread safety: PeerMetricsText may run on any thread (the store and the
// histograms are thread-safe); the other functions are pure.
#pragma once

#include <string>
#include <vector>

#include "mesh/status.h"
#include "state/store.h"
#include "swarmlet/metrics.h"

namespace gpu_node {

// stratoswarm_cluster_nodes{status="Ready"|"Down"} and
// stratoswarm_workloads{phase="Pending"|...}, every label value present
// (zero when none), so a series never disappears between scrapes.
std::vector<swarmlet::ExtraGauge> ClusterGauges(
    const std::vector<state::NodeRecord>& nodes,
    const std::vector<state::WorkloadRecord>& workloads);

// Renames the families NodeMetricFamilies gives for the metered process
// (stratoswarm_swarmlet_*) to stratoswarm_serve_*, in place.
void RenameProcessFamiliesForServe(std::vector<swarmlet::MetricFamily>& families);

// The whole exposition, `extra` (the GPU path families, serve/gpu_paths.h)
// appended. An error (the store unreadable) becomes a 500.
mesh::Result<std::string> PeerMetricsText(const std::string& state_dir, state::StateStore& store,
                                          const swarmlet::DurationHistograms& histograms,
                                          const std::vector<swarmlet::MetricFamily>& extra = {});

}  // namespace gpu_node
