// A node's life after its join, on the GPU peer (docs/architecture.md, "Node
// lifecycle"):
//   removal     `stratoswarm node rm NAME [--force]`: the node's workloads
//               move, its certificate is revoked (the state store keeps its
//               keys), it leaves the member list (the mesh's ZAP refuses its
//               key from then on), the join and bandwidth endpoints refuse its
//               keys, and a reachable node is told (node notice "removed") so
//               that it ends its copies and forgets its identity;
//   renewal     a member asks for its certificate to be signed again with a
//               new validity (swarmlet/cert_renewal.h); refused for removed or
//               unknown nodes.
// The GpuPeer calls these from its mesh thread; MeshThreadQueue carries the
// API thread's requests there.
//
// Thread safety: the free functions touch only the store (thread-safe);
// MeshThreadQueue::Call from any thread, RunPending from the mesh thread.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "mesh/certificate.h"
#include "mesh/certificate_authority.h"
#include "mesh/status.h"
#include "state/store.h"

namespace gpu_node {

// "node rpi-1 was removed from the cluster on 2026-12-05T09:40:00Z; join
// again with a new token and a new identity": what a removed node hears from
// the join endpoint and from a renewal.
std::string RemovedMessage(const state::RevokedNodeRecord& revoked);

// RemovedMessage for the node owning this key (hex), nullopt when it was not
// removed (or the store cannot tell: the caller's own checks decide then).
std::optional<std::string> RevokedRefusal(state::StateStore& store, const std::string& key_hex);

// What `node rm` may do with a node, before anything changes:
//   the GPU peer itself (role primary)             refused (InvalidArgument)
//   reachable (the failure detector hears it)      removed and told
//   unreachable, without --force                   refused (Unavailable): it
//       could not be told to stop its copies of the workloads that move
//   unreachable, with --force                      removed; its key is refused
//       if it comes back, and its swarmlet learns why from the join endpoint
// Returns whether the node will be told (reachable).
mesh::Result<bool> CheckRemoval(const state::NodeRecord& node, bool reachable, bool force);

// The revocation record for `node`, removed at `now_ns`.
state::RevokedNodeRecord RevocationOf(const state::NodeRecord& node, std::int64_t now_ns, bool reachable,
                                      bool force);

// A certificate for the node's keys as the store records them, valid from
// now (backdated by swarmlet::kCertBackdate for clock skew) for `ttl`, signed
// by `ca`; the node's cert_not_after_ns is updated. PermissionDenied with
// RemovedMessage for a removed node, NotFound for an unknown one.
mesh::Result<mesh::NodeCertificate> RenewCertificate(const mesh::CertificateAuthority& ca,
                                                     state::StateStore& store, const std::string& node_id,
                                                     std::int64_t now_ns, std::chrono::seconds ttl);

// Requests from other threads run on the mesh thread, which owns the mesh,
// the member list and the workload manager.
class MeshThreadQueue {
 public:
  using Task = std::function<mesh::Result<nlohmann::json>()>;
  // Runs `task` on the mesh thread and returns its result; Timeout when the
  // mesh thread does not get to it within `timeout` (it may still run later).
  mesh::Result<nlohmann::json> Call(Task task, std::chrono::milliseconds timeout);
  // Runs what was posted (mesh thread, once per loop).
  void RunPending();
  // The mesh thread is done: what waits, and every later Call, fails
  // (Unavailable) at once instead of timing out.
  void Close();

 private:
  struct Posted;
  std::mutex mu_;
  std::deque<std::shared_ptr<Posted>> pending_;
  bool closed_ = false;
};

}  // namespace gpu_node
