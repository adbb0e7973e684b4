#include "mesh/mesh_member.h"

#include <algorithm>
#include <optional>

namespace mesh {
namespace {

std::uint64_t SeedFrom(const std::string& id, std::int64_t wall_ns) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (char c : id) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  return h ^ static_cast<std::uint64_t>(wall_ns);
}

}  // namespace

MeshMember::MeshMember(std::unique_ptr<Transport> transport, CaPublicKeys ca,
                       FailureDetector detector, const Clock& clock)
    : transport_(std::move(transport)), ca_(ca), detector_(std::move(detector)), clock_(clock) {}

Result<std::unique_ptr<MeshMember>> MeshMember::Create(std::unique_ptr<Transport> transport,
                                                       CaPublicKeys ca,
                                                       FailureDetectorConfig config,
                                                       const Clock& clock) {
  if (!transport) return Status::InvalidArgument("mesh member", "no transport");
  config.greet_new_members = true;
  auto detector = FailureDetector::Create(transport->self_id(), config, clock.Now(),
                                          SeedFrom(transport->self_id(), clock.WallNs()));
  if (!detector.ok()) return detector.status();
  return std::unique_ptr<MeshMember>(
      new MeshMember(std::move(transport), ca, std::move(*detector), clock));
}

Status MeshMember::ApplyMemberList(const MemberList& list) {
  MESH_RETURN_IF_ERROR(VerifyMemberList(ca_, list));
  if (!members_.members.empty() && list.epoch <= members_.epoch) return Status::Ok();

  std::vector<AuthorizedKey> keys;
  std::vector<MemberInfo> ids;
  for (const Member& m : list.members) {
    // The primary is every member's anchor: pinged each interval whatever the
    // probing (it has to hear every member first-hand, failure_quorum.h).
    ids.push_back({m.node_id, m.role == NodeRole::kPrimary});
    if (m.node_id == self_id()) continue;
    keys.push_back({m.node_id, m.curve_key});
  }
  MESH_RETURN_IF_ERROR(transport_->SetAuthorizedKeys(keys));
  // Forget members that left, (re)connect the others (an endpoint may change on rejoin).
  for (const Member& old : members_.members) {
    if (old.node_id != self_id() && list.FindById(old.node_id) == nullptr) {
      (void)transport_->RemovePeer(old.node_id);
    }
  }
  for (const Member& m : list.members) {
    if (m.node_id == self_id()) continue;
    const Member* before = members_.FindById(m.node_id);
    if (before != nullptr && before->endpoint == m.endpoint && before->curve_key == m.curve_key) continue;
    MESH_RETURN_IF_ERROR(transport_->AddPeer({m.node_id, m.endpoint, m.curve_key}));
  }
  detector_.SetMembers(ids, clock_.Now());
  members_ = list;
  Flush();
  return Status::Ok();
}

void MeshMember::SendOrQueue(const std::string& to, MsgType type, std::string payload, MonoTime now,
                             bool more) {
  auto sent = more ? transport_->SendMore(to, type, payload) : transport_->Send(to, type, payload);
  if (sent.ok() && *sent == SendOutcome::kWouldBlock) {
    pending_.push_back({to, type, std::move(payload), now + kRetryFor});
  }
}

void MeshMember::RetryPending(MonoTime now) {
  std::vector<Pending> still;
  for (Pending& p : pending_) {
    if (now >= p.give_up) continue;  // a peer that stays unreachable is the detector's to notice
    auto sent = transport_->Send(p.to, p.type, p.payload);
    if (sent.ok() && *sent == SendOutcome::kWouldBlock) still.push_back(std::move(p));
  }
  pending_ = std::move(still);
}

void MeshMember::Flush() {
  const MonoTime now = clock_.Now();
  RetryPending(now);
  std::vector<OutgoingEnvelope> outgoing = detector_.TakeOutgoing();
  for (std::size_t i = 0; i < outgoing.size(); ++i) {
    OutgoingEnvelope& out = outgoing[i];
    // Rumors piggybacked on a probe go in the probe's packet.
    const bool more = i + 1 < outgoing.size() && outgoing[i + 1].piggyback;
    SendOrQueue(out.to, out.envelope.type, std::move(out.envelope.payload), now, more);
  }
}

Result<MeshPollResult> MeshMember::Poll(Nanos max_wait) {
  MeshPollResult result;
  const MonoTime deadline = clock_.Now() + max_wait;
  // Feeds `env` and everything already queued behind it to the detector.
  auto drain = [&](std::optional<Envelope> env) -> Status {
    while (env.has_value()) {
      (void)detector_.OnMessage(*env, clock_.Now());
      if (!IsMembershipType(env->type)) result.messages.push_back(std::move(*env));
      auto next = transport_->Receive(Nanos(0));
      if (!next.ok()) return next.status();
      env = std::move(*next);
    }
    return Status::Ok();
  };
  for (;;) {
    // What is queued goes in before the timers run: a member starved of CPU
    // must not time out peers whose answers wait in its socket (issue 20: at
    // load ~160 that turned into suspicions, and deaf members pinging all).
    // Poll(0) stays "send what is due" and receives nothing, as before.
    if (max_wait > Nanos(0)) {
      auto queued = transport_->Receive(Nanos(0));
      if (!queued.ok()) return queued.status();
      MESH_RETURN_IF_ERROR(drain(std::move(*queued)));
    }
    const MonoTime now = clock_.Now();
    detector_.Tick(now);
    Flush();
    for (FdEvent& e : detector_.TakeEvents()) result.events.push_back(std::move(e));
    if (!result.events.empty() || !result.messages.empty() || now >= deadline) break;

    MonoTime wake = std::min(deadline, detector_.NextWakeup());
    if (!pending_.empty()) wake = std::min(wake, now + kRetryInterval);
    auto received = transport_->Receive(std::max(Nanos(0), wake - now));
    if (!received.ok()) return received.status();
    MESH_RETURN_IF_ERROR(drain(std::move(*received)));
  }
  return result;
}

Status MeshMember::Send(const std::string& to, MsgType type, std::string_view payload) {
  auto sent = transport_->Send(to, type, payload);
  if (!sent.ok()) return sent.status();
  if (*sent == SendOutcome::kWouldBlock) {
    pending_.push_back({to, type, std::string(payload), clock_.Now() + kRetryFor});
  }
  return Status::Ok();
}

Status MeshMember::ProbeNow(const std::string& id) {
  MESH_RETURN_IF_ERROR(detector_.ProbeNow(id, clock_.Now()));
  Flush();
  return Status::Ok();
}

void MeshMember::Broadcast(MsgType type, std::string_view payload) {
  for (const Member& m : members_.members) {
    if (m.node_id != self_id()) (void)Send(m.node_id, type, payload);
  }
}

}  // namespace mesh
