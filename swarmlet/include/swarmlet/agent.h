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
// Thread safety: RunAgent() owns the calling thread until `stop` is set.
#pragma once

#include <atomic>
#include <chrono>
#include <iosfwd>
#include <string>

namespace swarmlet {

struct AgentOptions {
  std::string token;      // required unless the state dir holds an identity
  std::string cluster;    // "IP[:PORT]" of the bootstrap endpoint; empty: mDNS
  std::string name;       // default: the host name
  std::string state_dir = "/var/lib/stratoswarm";
  std::string labels;     // "k=v,..."
  std::chrono::milliseconds discovery_timeout{10'000};
  int mesh_port = 7946;   // 0: any free port
  std::string advertise;  // IPv4 peers reach this node at; default: the route to the primary
  std::string hw_root = "/";  // where /proc and /sys are read (testbeds fake a Pi here)
};

// Returns the process exit code: 0 after a clean stop, 1 with a one-line
// error on stderr when joining fails (bad token, wrong cluster, unreachable
// primary, refused join, corrupt or expired identity).
int RunAgent(const AgentOptions& options, const std::atomic<bool>& stop, std::ostream& out);

}  // namespace swarmlet
