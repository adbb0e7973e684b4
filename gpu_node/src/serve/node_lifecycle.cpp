#include "serve/node_lifecycle.h"

#include <condition_variable>

#include "mesh/crypto.h"
#include "swarmlet/cert_renewal.h"

namespace gpu_node {

using mesh::Result;
using mesh::Status;

std::string RemovedMessage(const state::RevokedNodeRecord& revoked) {
  return "node " + revoked.name + " was removed from the cluster on " + mesh::FormatWallTime(revoked.revoked_ns) +
         "; join again with a new token and a new identity";
}

std::optional<std::string> RevokedRefusal(state::StateStore& store, const std::string& key_hex) {
  auto found = store.FindRevokedKey(key_hex);
  if (!found.ok() || !found->has_value()) return std::nullopt;
  return RemovedMessage(**found);
}

Result<bool> CheckRemoval(const state::NodeRecord& node, bool reachable, bool force) {
  if (node.role == "primary") {
    return Status::InvalidArgument("remove " + node.name, "it is the GPU peer; it cannot be removed");
  }
  if (!reachable && !force) {
    return Status::Unavailable(
        "remove " + node.name,
        "it does not answer (" + std::string(state::NodeStatusName(node.status)) +
            "), so it cannot be told to stop its copies of the workloads that move; "
            "use --force to remove it anyway (its key is refused from then on)");
  }
  return reachable;
}

state::RevokedNodeRecord RevocationOf(const state::NodeRecord& node, std::int64_t now_ns, bool reachable,
                                      bool force) {
  std::string reason = force ? "node rm --force" : "node rm";
  if (!reachable) reason += " (unreachable)";
  return {node.id, node.name, node.signing_key_hex, node.curve_key_hex, now_ns, std::move(reason)};
}

Result<mesh::NodeCertificate> RenewCertificate(const mesh::CertificateAuthority& ca, state::StateStore& store,
                                               const std::string& node_id, std::int64_t now_ns,
                                               std::chrono::seconds ttl) {
  constexpr std::string_view op = "renew certificate";
  auto node = store.GetNode(node_id);
  if (!node.ok()) {
    if (node.status().code() != mesh::StatusCode::kNotFound) return node.status();
    return Status::NotFound(op, "node " + node_id + " is not a member of this cluster");
  }
  if (auto refusal = RevokedRefusal(store, node->signing_key_hex)) return Status::PermissionDenied(op, *refusal);
  if (node->role == "primary") return Status::InvalidArgument(op, "the GPU peer's own identity is the CA");
  mesh::NodeCertificate cert;
  cert.node_id = node->id;
  cert.name = node->name;
  auto role = mesh::ParseNodeRole(node->role);
  if (!role.ok()) return role.status();
  cert.role = *role;
  cert.labels = node->labels;
  auto signing = mesh::FromHex(node->signing_key_hex);
  auto curve = mesh::FromHex(node->curve_key_hex);
  if (!signing.ok() || !curve.ok() || signing->size() != 32 || curve->size() != 32) {
    return Status::Corrupt(op, "the keys recorded for " + node->name + " are not 32-byte hex");
  }
  std::copy(signing->begin(), signing->end(), cert.signing_key.begin());
  std::copy(curve->begin(), curve->end(), cert.curve_key.begin());
  cert.not_before_ns = now_ns - std::chrono::duration_cast<std::chrono::nanoseconds>(swarmlet::kCertBackdate).count();
  cert.not_after_ns = now_ns + std::chrono::duration_cast<std::chrono::nanoseconds>(ttl).count();
  MESH_RETURN_IF_ERROR(ca.SignCertificate(cert));
  node->cert_not_after_ns = cert.not_after_ns;
  MESH_RETURN_IF_ERROR(store.PutNode(*node));
  return cert;
}

struct MeshThreadQueue::Posted {
  Task task;
  std::mutex mu;
  std::condition_variable done_cv;
  std::optional<Result<nlohmann::json>> result;
};

Result<nlohmann::json> MeshThreadQueue::Call(Task task, std::chrono::milliseconds timeout) {
  auto posted = std::make_shared<Posted>();
  posted->task = std::move(task);
  {
    std::lock_guard lock(mu_);
    if (closed_) return Status::Unavailable("the GPU peer's mesh thread", "it is stopping");
    pending_.push_back(posted);
  }
  std::unique_lock lock(posted->mu);
  if (!posted->done_cv.wait_for(lock, timeout, [&] { return posted->result.has_value(); })) {
    return Status::Timeout("the GPU peer's mesh thread", "did not answer within " +
                                                              std::to_string(timeout.count()) + " ms");
  }
  return std::move(*posted->result);
}

void MeshThreadQueue::RunPending() {
  std::deque<std::shared_ptr<Posted>> ready;
  {
    std::lock_guard lock(mu_);
    ready.swap(pending_);
  }
  for (const auto& posted : ready) {
    auto result = posted->task();
    std::lock_guard lock(posted->mu);
    posted->result = std::move(result);
    posted->done_cv.notify_all();
  }
}

void MeshThreadQueue::Close() {
  std::deque<std::shared_ptr<Posted>> dropped;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    dropped.swap(pending_);
  }
  for (const auto& posted : dropped) {
    std::lock_guard lock(posted->mu);
    posted->result = Status::Unavailable("the GPU peer's mesh thread", "it is stopping");
    posted->done_cv.notify_all();
  }
}

}  // namespace gpu_node
