// `swarmlet join`: joins a cluster (or rejoins with a saved identity) and
// then runs as the node agent until stopped.
//
// Join phases, each timed into <state-dir>/timing.jsonl (event "join"):
//   hw_profile     read the hardware profile
//   discovery      mDNS browse+resolve for the token's fingerprint, or the
//                  bootstrap endpoint with --cluster; keys checked against the
//                  token's fingerprint before anything secret is sent
//   cert_exchange  JoinRequest / JoinResponse over CURVE to the pinned primary
//   mesh_join      until the primary answers the first heartbeat on the mesh
//   total
// and the seed's log lines on stdout: "Hardware profile: ...",
// "Successfully joined cluster <id> as <name>", "Network latency: <ms> ms to
// primary". Nothing is written to the state dir before the primary accepted
// the join; the identity and member list are then saved atomically (0600).
//
// With metrics_port set, GET /metrics on metrics_address:metrics_port serves
// the node and process metrics, workload counts by state, and histograms of
// the timed phases (stratoswarm_join_duration_seconds{phase},
// stratoswarm_mesh_duration_seconds{phase="formation"}) from a thread of its
// own, so scrapes never slow the mesh loop (docs/metrics.md).
//
// Thread safety: RunAgent() owns the calling thread until `stop` is set.
#pragma once

#include <atomic>
#include <chrono>
#include <iosfwd>
#include <string>
#include <string_view>

#include "mesh/certificate.h"
#include "mesh/member_list.h"
#include "mesh/status.h"

namespace swarmlet {

struct AgentOptions {
  std::string token;      // required unless the state dir holds an identity (swarmlet/token_source.h)
  std::string token_file;         // where the token came from, if a file (for messages)
  bool remove_token_file = false;  // delete token_file once a fresh join succeeded
  std::string cluster;    // "IP[:PORT]" of the bootstrap endpoint; empty: mDNS
  // How this node watches its peers: "all" heartbeats every member each
  // interval (the default), "swim" probes one member per interval plus the
  // GPU peer (issue 20; docs/architecture.md, not yet the default).
  std::string membership = "swim";
  std::string name;       // default: the host name
  std::string state_dir = "/var/lib/stratoswarm";
  std::string labels;     // "k=v,..."
  std::chrono::milliseconds discovery_timeout{10'000};
  int mesh_port = 7946;   // 0: any free port
  std::string advertise;  // IPv4 peers reach this node at; default: the route to the primary
  std::string hw_root = "/";  // where /proc and /sys are read (testbeds fake a Pi here)
  int metrics_port = 0;       // HTTP /metrics; 0: not served
  std::string metrics_address = "127.0.0.1";  // IPv4 to serve /metrics on
  std::uint64_t image_cache_mb = 2048;  // images cached from the GPU peer; LRU above this
  // Set with `stop` by `swarmlet leave` (SIGUSR1): leave the cluster for good
  // instead of announcing a restart. May be null.
  const std::atomic<bool>* leave = nullptr;
};

// Returns the process exit code: 0 after a clean stop, 1 with a one-line
// error on stderr when joining fails (bad token, wrong cluster, unreachable
// primary, refused join, corrupt or expired identity, metrics port in use).
//
// A node that has joined before (an identity in the state dir) does not need
// the GPU peer to start: it re-adopts its workloads, restarts those whose
// policy says so, and keeps retrying the GPU peer (one log line per growing
// interval); when the GPU peer answers it sends its full report, and the GPU
// peer reconciles. Stopped by `stop` (SIGTERM), it tells the GPU peer it is
// restarting, so that nothing moves unless it stays away.
int RunAgent(const AgentOptions& options, const std::atomic<bool>& stop, std::ostream& out);

// The member list a joined node keeps in <state_dir>/members.list, verified
// against the pinned CA (e.g. for `stratoswarm-test` to find the GPU peer).
// NotFound/IoError when unreadable, Corrupt when it does not decode,
// the verification error when the CA did not sign it.
mesh::Result<mesh::MemberList> LoadSavedMembers(const std::string& state_dir,
                                                const mesh::CaPublicKeys& ca);

// "IP[:PORT]" as --cluster takes it (IPv4 only); `default_port` when there is
// no port. InvalidArgument naming --cluster otherwise.
struct HostPort {
  std::string ip;
  int port = 0;
};
mesh::Result<HostPort> ParseHostPort(std::string_view text, int default_port);

}  // namespace swarmlet
