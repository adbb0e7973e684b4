// StateStore: everything the GPU peer has acknowledged — nodes, join tokens,
// workloads with their placements, events — kept across restarts and crashes
// of `serve`.
//
// The interface speaks in records, never in SQL, so a store for more than one
// workstation (etcd, as k3s does) can replace the embedded one. The embedded
// store (OpenSqliteStore) is one SQLite file in the state dir, WAL journal,
// synchronous=FULL: a call that returned OK survives `kill -9` and power loss.
//
// Thread safety: every method may be called from any thread; calls are
// serialized inside the store.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/status.h"

namespace state {

// Restarting: the node said it is restarting (swarmlet/node_notice.h); its
// workloads stay where they are for the GPU peer's restart grace period.
// kUnreachable: silent to the GPU peer, but no quorum can decide it failed
// (the two-member case, docs/architecture.md): its workloads stay.
enum class NodeStatus { kReady, kDown, kRestarting, kUnreachable };
std::string_view NodeStatusName(NodeStatus status);  // "Ready", "Down", "Restarting", "Unreachable"

// What a node reports about its own condition (docs/node_health.md).
struct NodeHealth {
  // Cgroup memory limits work there: from the join request's hardware
  // profile, then from each health message. true for nodes recorded before
  // nodes reported it.
  bool memory_controller = true;
  // From the node's last kNodeHealth message; all empty/0 until one came.
  std::optional<std::int64_t> temperature_mc;  // SoC, millidegrees Celsius
  std::optional<std::uint32_t> throttled;      // Pi firmware get_throttled bits
  // The node's wall clock minus the GPU peer's (at send time, half the mesh
  // RTT taken off the receipt time): positive when the node is ahead.
  std::int64_t clock_skew_ns = 0;
  std::int64_t updated_ns = 0;  // GPU peer's wall clock at the last message; 0: none yet

  bool operator==(const NodeHealth&) const = default;
};

struct NodeRecord {
  std::string id;
  std::string name;
  std::string role;         // "worker", "primary"
  std::string type;         // "gpu", "rpi", "x86"
  std::string arch;         // "aarch64", "x86_64"
  std::string model;
  int cores = 0;
  std::int64_t memory_mb = 0;
  bool gpu = false;
  std::map<std::string, std::string> labels;
  std::string endpoint;     // mesh endpoint, "tcp://IP:PORT"
  std::string curve_key_hex;
  std::string signing_key_hex;
  std::int64_t joined_ns = 0;
  double join_ms = 0;       // the swarmlet's own total join time
  std::int64_t cert_not_after_ns = 0;
  NodeStatus status = NodeStatus::kReady;
  std::int64_t status_since_ns = 0;
  NodeHealth health;

  bool operator==(const NodeRecord&) const = default;
};

struct TokenRecord {
  std::string id;           // public handle (first secret chars)
  std::string secret_hash;  // hex hash of the secret; the secret itself is never stored
  std::string role;
  std::int64_t created_ns = 0;
  std::int64_t expires_ns = 0;
  bool revoked = false;
  int uses = 0;

  bool operator==(const TokenRecord&) const = default;
};

// A node removed with `stratoswarm node rm`: its certificate is revoked, its
// keys are refused by the mesh, the join endpoint and the bandwidth endpoint.
struct RevokedNodeRecord {
  std::string node_id;
  std::string name;
  std::string signing_key_hex;
  std::string curve_key_hex;
  std::int64_t revoked_ns = 0;
  std::string reason;       // "removed with node rm", "removed with node rm --force (unreachable)"

  bool operator==(const RevokedNodeRecord&) const = default;
};

// What the user asked for a workload, and where it stands. One record per
// replica: a deployment of 3 replicas is 3 records sharing `group`.
enum class WorkloadPhase {
  kPending,   // not placed (no node fits: `detail` says why) or waiting to be re-placed
  kStarting,  // placed; the start command is on its way to node_id
  kRunning,   // node_id reported it running
  kExited,    // ended by itself (exit code 0, or a failure with restart=never)
  kFailed,    // could not start, or ended with an error and will not restart
  kStopped,   // stopped by the user (`stratoswarm stop`)
};
std::string_view WorkloadPhaseName(WorkloadPhase phase);  // "Pending", "Starting", ...
std::optional<WorkloadPhase> ParseWorkloadPhase(std::string_view name);

struct WorkloadRecord {
  std::string id;           // 12 hex digits, cluster-wide; also the id on the node
  std::string name;         // for people; replicas: "<group>.<replica>"
  std::string group;        // the deploy/run name the replicas share
  int replica = 0;
  std::string image;        // local image name on the node; empty: host command
  std::vector<std::string> command;
  std::int64_t cpu_millis = 0;    // 0: no limit
  std::int64_t memory_bytes = 0;  // 0: no limit
  int gpus = 0;
  std::vector<std::string> constraints;  // "node.type==rpi", as given
  std::string restart = "never";         // executor restart policy text
  bool desired_running = true;           // false once the user stopped it
  std::string node_id;      // placement; empty while Pending
  WorkloadPhase phase = WorkloadPhase::kPending;
  std::string detail;       // pending reason, exit description, error
  int exit_code = -1;       // -1: none (yet)
  int signal = 0;
  bool oom_killed = false;
  int restarts = 0;
  std::int64_t created_ns = 0;
  std::int64_t updated_ns = 0;
  std::int64_t started_ns = 0;     // when node_id reported it running
  double cpu_percent = 0;          // last report
  std::int64_t memory_usage_bytes = 0;
  std::string user;         // image workloads: --user UID[:GID]; empty: the image's User
  bool privileged = false;  // image workloads: no confinement (swarmlet executor/security.h)

  bool operator==(const WorkloadRecord&) const = default;
};

struct EventRecord {
  std::int64_t seq = 0;     // assigned by the store, increasing
  std::int64_t ts_ns = 0;
  std::string kind;         // "node_joined", "token_created", ...
  std::string subject;      // node id, token id, ...
  std::string detail;       // free text or JSON
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  // Inserts or replaces the node with this id (a rejoin updates it).
  virtual mesh::Status PutNode(const NodeRecord& node) = 0;
  virtual mesh::Result<NodeRecord> GetNode(const std::string& id) = 0;  // NotFound
  virtual mesh::Result<std::optional<NodeRecord>> FindNodeByName(const std::string& name) = 0;
  virtual mesh::Result<std::vector<NodeRecord>> ListNodes() = 0;  // by join time
  virtual mesh::Status DeleteNode(const std::string& id) = 0;      // NotFound
  virtual mesh::Status SetNodeStatus(const std::string& id, NodeStatus status,
                                     std::int64_t since_ns) = 0;  // NotFound
  // Replaces only the node's health, so it races no other update. NotFound.
  virtual mesh::Status SetNodeHealth(const std::string& id, const NodeHealth& health) = 0;

  // Removes the node and records its revocation, in one transaction (NotFound
  // when there is no such node; nothing changes then).
  virtual mesh::Status RevokeNode(const RevokedNodeRecord& revoked) = 0;
  virtual mesh::Result<std::vector<RevokedNodeRecord>> ListRevokedNodes() = 0;  // by revocation time
  // The revocation of the node owning this Ed25519 or CURVE key (hex), if any.
  virtual mesh::Result<std::optional<RevokedNodeRecord>> FindRevokedKey(const std::string& key_hex) = 0;

  virtual mesh::Status PutToken(const TokenRecord& token) = 0;  // AlreadyExists for a duplicate id
  virtual mesh::Result<std::optional<TokenRecord>> FindTokenByHash(const std::string& hash) = 0;
  virtual mesh::Result<std::vector<TokenRecord>> ListTokens() = 0;
  virtual mesh::Status RevokeToken(const std::string& id) = 0;  // NotFound
  virtual mesh::Status CountTokenUse(const std::string& id) = 0;

  // Inserts or replaces the workload with this id; atomic per call.
  virtual mesh::Status PutWorkload(const WorkloadRecord& workload) = 0;
  // Several at once in one transaction: all or none (a deploy of N replicas).
  virtual mesh::Status PutWorkloads(const std::vector<WorkloadRecord>& workloads) = 0;
  virtual mesh::Result<WorkloadRecord> GetWorkload(const std::string& id) = 0;  // NotFound
  // By created_ns, then id. `node_id` empty: all.
  virtual mesh::Result<std::vector<WorkloadRecord>> ListWorkloads(const std::string& node_id = "") = 0;
  virtual mesh::Status DeleteWorkload(const std::string& id) = 0;  // NotFound

  // Appends an event; returns its seq.
  virtual mesh::Result<std::int64_t> AppendEvent(const EventRecord& event) = 0;
  virtual mesh::Result<std::vector<EventRecord>> EventsSince(std::int64_t seq) = 0;
};

// Opens (creating if needed, mode 0600) the SQLite store at `path`.
// Corrupt when the file is not a StratoSwarm state database.
mesh::Result<std::unique_ptr<StateStore>> OpenSqliteStore(const std::string& path);

}  // namespace state
