// `stratoswarm serve`: the GPU peer.
//
// On first start it creates the cluster identity in the state dir (CA
// Ed25519 key + CURVE key, 0600) and the state store; every later start loads
// them. It then serves, all from one thread except the API and bootstrap
// endpoints:
//   - the join endpoint (ZeroMQ ROUTER, CURVE server with the cluster key):
//     checks token, signature, freshness and replay, issues certificates;
//   - the bootstrap endpoint (plain TCP, public keys only) for --cluster joins;
//   - the bandwidth endpoint for `stratoswarm-test bandwidth` (CURVE, only
//     the nodes in the state store; its own thread, serve/bandwidth_endpoint.h);
//   - its mesh member (MeshMember: transport + failure detector) and the
//     CA-signed member list, pushed to every member on each change;
//   - `_stratoswarm._tcp` over Avahi (a warning, not an error, without it);
//   - the CLI's API on <state-dir>/api.sock;
//   - with metrics_port, GET /metrics over HTTP on its own thread
//     (serve/peer_metrics.h, docs/metrics.md);
//   - with dashboard_port, the live dashboard over HTTP on its own threads
//     (dashboard/dashboard.h, docs/dashboard.md).
// Node failures the failure detector declares mark the node Down, with the
// detection timed into <state-dir>/timing.jsonl.
//
// Thread safety: RunServe() owns the calling thread until `stop` is set.
#pragma once

#include <atomic>
#include <chrono>
#include <iosfwd>
#include <string>

#include "serve/gpu_paths.h"

namespace gpu_node {

struct ServeOptions {
  std::string state_dir = "/var/lib/stratoswarm";
  std::string listen_ip = "0.0.0.0";
  std::string advertise_ip;  // default: listen_ip, or the first non-loopback IPv4 when 0.0.0.0
  int mesh_port = 7946;
  int join_port = 7947;
  int bootstrap_port = 7948;
  int bandwidth_port = 0;  // 0: mesh_port + 3 (swarmlet::kBandwidthPortOffset)
  std::string name = "primary-gpu";
  bool mdns = true;
  // Node certificates' lifetime; nodes renew at two thirds of it
  // (swarmlet/cert_renewal.h).
  std::chrono::seconds cert_ttl{30LL * 24 * 3600};
  std::string hw_root = "/";
  int metrics_port = 0;  // HTTP /metrics; 0: not served
  std::string metrics_address = "127.0.0.1";
  int dashboard_port = 0;  // the live dashboard (docs/dashboard.md); 0: not served
  std::string dashboard_address = "127.0.0.1";
  // The failure detector's heartbeat (detection bound 3 x this); slow links
  // or emulated nodes want more than the LAN default.
  std::chrono::milliseconds heartbeat{100};
  // How long a node that said it is restarting (SIGTERM to its swarmlet) may
  // stay away before it is decided Down and its workloads move.
  std::chrono::seconds restart_grace{60};
  // Vote verification and placement on the GPU (serve/gpu_paths.h): auto
  // above the crossovers when a device is usable, on (refuse to start
  // without one), off.
  GpuMode gpu = GpuMode::kAuto;
};

// Returns the exit code: 0 after a clean stop, 1 with a one-line error when
// the peer cannot start (state dir, ports in use, another serve running).
int RunServe(const ServeOptions& options, const std::atomic<bool>& stop, std::ostream& out);

}  // namespace gpu_node
