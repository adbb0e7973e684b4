#include "mesh/failure_detector.h"

#include <algorithm>
#include <utility>

namespace mesh {
namespace {

constexpr std::string_view kOp = "failure detector";
// Pending indirect-probe requests we serve as a helper; each lives at most
// indirect_nack_timeout, so only a flood can reach this.
constexpr std::size_t kMaxRelays = 256;

}  // namespace

std::string_view MemberStateName(MemberState state) {
  switch (state) {
    case MemberState::kAlive:
      return "alive";
    case MemberState::kSuspect:
      return "suspect";
    case MemberState::kDeclared:
      return "declared";
  }
  return "unknown";
}

std::string_view FdEventKindName(FdEventKind kind) {
  switch (kind) {
    case FdEventKind::kSuspect:
      return "suspect";
    case FdEventKind::kAliveAgain:
      return "alive_again";
    case FdEventKind::kDeclared:
      return "declared";
    case FdEventKind::kRefuted:
      return "refuted";
    case FdEventKind::kFormed:
      return "formed";
  }
  return "unknown";
}

Result<FailureDetector> FailureDetector::Create(std::string self, FailureDetectorConfig config,
                                                MonoTime start, std::uint64_t seed) {
  if (self.empty() || self.size() > kMaxSenderBytes) {
    return Status::InvalidArgument(
        kOp, "self id must be 1.." + std::to_string(kMaxSenderBytes) + " bytes");
  }
  MESH_RETURN_IF_ERROR(config.Validate());
  return FailureDetector(std::move(self), config, start, seed);
}

FailureDetector::FailureDetector(std::string self, FailureDetectorConfig config, MonoTime start,
                                 std::uint64_t seed)
    : self_(std::move(self)),
      config_(config),
      start_(start),
      rng_(seed ^ 0x9e3779b97f4a7c15ULL),
      next_probe_at_(start),
      next_swim_probe_at_(start) {}

// splitmix64: tiny, portable and identical on every platform (std::
// distributions are not), so a seeded simulation replays bit for bit.
std::uint64_t FailureDetector::NextRandom() {
  std::uint64_t z = (rng_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

Nanos FailureDetector::Scaled(std::chrono::milliseconds d) const {
  return Nanos(d) * (awareness_ + 1);
}

void FailureDetector::AdjustAwareness(int delta) {
  awareness_ = std::clamp(awareness_ + delta, 0, config_.awareness_max_multiplier - 1);
}

std::size_t FailureDetector::Find(const std::string& id) const {
  auto it = std::lower_bound(peer_ids_.begin(), peer_ids_.end(), id);
  if (it == peer_ids_.end() || *it != id) return kNoPeer;
  return static_cast<std::size_t>(it - peer_ids_.begin());
}

const FailureDetector::PeerCold& FailureDetector::Cold(const Peer& peer) {
  static const PeerCold kNone;
  return peer.cold ? *peer.cold : kNone;
}

FailureDetector::PeerCold& FailureDetector::MutableCold(Peer& peer) {
  if (!peer.cold) peer.cold = std::make_unique<PeerCold>();
  return *peer.cold;
}

void FailureDetector::SetState(Peer& peer, MemberState state) {
  if (peer.state == state) return;
  const auto index = static_cast<std::uint32_t>(&peer - peers_.data());
  if (!peer.last_heard) {
    if (peer.state == MemberState::kDeclared) ++unheard_;
    if (state == MemberState::kDeclared) --unheard_;
  }
  if (peer.state == MemberState::kAlive) {
    not_alive_.insert(std::lower_bound(not_alive_.begin(), not_alive_.end(), index), index);
  } else if (state == MemberState::kAlive) {
    not_alive_.erase(std::lower_bound(not_alive_.begin(), not_alive_.end(), index));
  }
  peer.state = state;
}

void FailureDetector::RecountPeers() {
  not_alive_.clear();
  unheard_ = 0;
  last_heard_any_ = MonoTime::min();
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    const Peer& peer = peers_[i];
    if (peer.state != MemberState::kAlive) not_alive_.push_back(static_cast<std::uint32_t>(i));
    if (!peer.last_heard && peer.state != MemberState::kDeclared) ++unheard_;
    if (peer.last_heard) last_heard_any_ = std::max(last_heard_any_, *peer.last_heard);
  }
}

void FailureDetector::SetMembers(const std::vector<MemberInfo>& members, MonoTime now) {
  constexpr std::uint32_t kNew = static_cast<std::uint32_t>(-1);
  // The valid entries sorted by id, ties in list order. A repeated id keeps
  // the first entry's anchor flag when new and the last one's when known (as
  // a loop of std::map::emplace did); every repetition of a new id greets and
  // enters the probe order, as before.
  std::vector<std::uint32_t> sorted;
  sorted.reserve(members.size());
  for (std::size_t i = 0; i < members.size(); ++i) {
    const std::string& id = members[i].id;
    if (id == self_ || id.empty() || id.size() > kMaxSenderBytes) continue;
    sorted.push_back(static_cast<std::uint32_t>(i));
  }
  std::stable_sort(sorted.begin(), sorted.end(), [&](std::uint32_t a, std::uint32_t b) {
    return members[a].id < members[b].id;
  });
  std::vector<std::string> ids;
  std::vector<Peer> next;
  ids.reserve(sorted.size());
  next.reserve(sorted.size());
  std::vector<std::uint32_t> old_to_new(peers_.size(), kNew);
  std::vector<std::uint32_t> added(members.size(), kNew);  // list entry -> its new member's index
  for (std::size_t a = 0; a < sorted.size();) {
    const MemberInfo& first = members[sorted[a]];
    std::size_t b = a + 1;
    while (b < sorted.size() && members[sorted[b]].id == first.id) ++b;
    const auto index = static_cast<std::uint32_t>(ids.size());
    ids.push_back(first.id);
    if (const std::size_t old = Find(first.id); old != kNoPeer) {
      next.push_back(std::move(peers_[old]));
      next.back().anchor = members[sorted[b - 1]].anchor;
      old_to_new[old] = index;
    } else {
      Peer peer;
      peer.silent_since = now + Nanos(config_.join_grace);
      peer.anchor = first.anchor;
      next.push_back(std::move(peer));
      for (std::size_t c = a; c < b; ++c) added[sorted[c]] = index;
    }
    a = b;
  }
  // The probe order follows the members to their new indices; those that
  // left stay in it by id until the next reshuffle (and are found again if
  // they are back).
  std::vector<std::string> departed;
  auto relocate = [&](std::string id) {
    auto it = std::lower_bound(ids.begin(), ids.end(), id);
    if (it != ids.end() && *it == id) return static_cast<std::uint32_t>(it - ids.begin());
    departed.push_back(std::move(id));
    return kDeparted | static_cast<std::uint32_t>(departed.size() - 1);
  };
  for (std::uint32_t& entry : probe_order_) {
    if ((entry & kDeparted) != 0) {
      entry = relocate(std::move(departed_ids_[entry & ~kDeparted]));
    } else if (old_to_new[entry] != kNew) {
      entry = old_to_new[entry];
    } else {
      entry = relocate(peer_ids_[entry]);
    }
  }
  departed_ids_ = std::move(departed);
  if (Swim()) {  // room for the new members at once, not by doubling (10^8 entries at N = 10,000)
    std::size_t joining = 0;
    for (std::size_t i = 0; i < members.size(); ++i) joining += added[i] != kNew && !members[i].anchor;
    probe_order_.reserve(probe_order_.size() + joining);
  }
  peer_ids_ = std::move(ids);
  peers_ = std::move(next);
  RecountPeers();
  for (std::size_t i = 0; i < members.size(); ++i) {  // new members, in list order
    if (added[i] == kNew) continue;
    if (config_.greet_new_members) SendHeartbeat(peer_ids_[added[i]], peers_[added[i]], now);
    if (Swim() && !members[i].anchor) InsertInProbeOrder(added[i]);
    formed_ = false;  // a new member has to be heard before we are formed again
  }
  if (Swim()) {
    std::erase_if(watched_, [&](const std::string& id) { return Find(id) == kNoPeer; });
    for (std::size_t i = 0; i < peers_.size(); ++i) {
      if (peers_[i].anchor) watched_.insert(peer_ids_[i]);
    }
  }
  std::erase_if(relays_, [&](const Relay& r) {
    return Find(r.requester) == kNoPeer || Find(r.target) == kNoPeer;
  });
  std::erase_if(rumors_, [&](const QueuedRumor& q) {
    return q.rumor.member != self_ && Find(q.rumor.member) == kNoPeer;
  });
  CheckFormed(now);
}

void FailureDetector::Send(const std::string& to, MsgType type, std::string payload) {
  OutgoingEnvelope out;
  out.to = to;
  out.envelope.type = type;
  out.envelope.sender = self_;
  out.envelope.seq = ++seq_;
  out.envelope.payload = std::move(payload);
  outgoing_.push_back(std::move(out));
  if (config_.piggyback_rumors && type != MsgType::kMembershipGossip && !rumors_.empty()) {
    Piggyback(to);
  }
}

void FailureDetector::Piggyback(const std::string& to) {
  // The newest rumors first: those sent fewest times (memberlist's order).
  GossipBody body;
  std::size_t bytes = 0;
  for (auto it = rumors_.rbegin(); it != rumors_.rend(); ++it) {
    if (body.rumors.size() == kMaxRumorsPerMessage) break;
    const std::size_t size = RumorWireBytes(it->rumor);
    if (bytes + size > kMaxPiggybackRumorBytes) continue;
    bytes += size;
    body.rumors.push_back(it->rumor);
    --it->transmits_left;
  }
  if (body.rumors.empty()) return;
  stats_.rumors_piggybacked += body.rumors.size();
  std::erase_if(rumors_, [](const QueuedRumor& q) { return q.transmits_left <= 0; });
  if (rumors_.empty()) next_gossip_at_ = MonoTime::max();
  auto encoded = EncodeGossip(body);
  if (!encoded.ok()) return;  // rumor ids are members' or decoded ones: valid
  Send(to, MsgType::kMembershipGossip, std::move(*encoded));
  outgoing_.back().piggyback = true;
}

void FailureDetector::SendHeartbeat(const std::string& to, Peer& peer, MonoTime now) {
  peer.last_probe_id = ++probe_seq_;
  peer.last_probe_sent = now;
  auto body = EncodeHeartbeat(HeartbeatBody{peer.last_probe_id});
  Send(to, MsgType::kHeartbeat, std::move(*body));
  ++stats_.heartbeats_sent;
}

Status FailureDetector::OnMessage(const Envelope& env, MonoTime now) {
  ++stats_.messages;
  if (env.sender == self_) {
    ++stats_.rejected;
    return Status::InvalidArgument(kOp, "message from our own id");
  }
  const std::size_t index = Find(env.sender);
  if (index == kNoPeer) {
    ++stats_.rejected;
    return Status::NotFound(kOp, "sender " + env.sender + " is not a member");
  }
  const std::string& from = peer_ids_[index];
  Peer& peer = peers_[index];
  auto reject = [this](Status s) {
    ++stats_.rejected;
    return s;
  };

  // Decode before counting liveness: garbage is not a sign of a healthy peer.
  switch (env.type) {
    case MsgType::kHeartbeat: {
      auto body = DecodeHeartbeat(env.payload);
      if (!body.ok()) return reject(body.status());
      MarkHeard(from, peer, now);
      Send(from, MsgType::kHeartbeatAck, std::move(*EncodeHeartbeatAck({body->probe_id})));
      break;
    }
    case MsgType::kHeartbeatAck: {
      auto body = DecodeHeartbeatAck(env.payload);
      if (!body.ok()) return reject(body.status());
      if (body->probe_id == peer.last_probe_id && peer.last_probe_id != 0) {
        peer.rtt = now - peer.last_probe_sent;
      }
      acked_since_round_ = true;
      MarkHeard(from, peer, now);
      break;
    }
    case MsgType::kIndirectProbe: {
      auto body = DecodeIndirectProbe(env.payload);
      if (!body.ok()) return reject(body.status());
      MarkHeard(from, peer, now);
      const std::size_t target = Find(body->target);
      if (body->target == self_ || target == kNoPeer || relays_.size() >= kMaxRelays) {
        // We are the target (we are obviously alive), or we do not know it, or
        // too many requests are pending (a flood must not grow memory): nack.
        const bool alive = body->target == self_;
        Send(from, MsgType::kIndirectProbeAck,
             std::move(*EncodeIndirectProbeAck({body->probe_id, body->target, alive})));
        break;
      }
      relays_.push_back(
          Relay{from, body->probe_id, body->target, now + Nanos(config_.indirect_nack_timeout)});
      SendHeartbeat(peer_ids_[target], peers_[target], now);
      break;
    }
    case MsgType::kIndirectProbeAck: {
      auto body = DecodeIndirectProbeAck(env.payload);
      if (!body.ok()) return reject(body.status());
      MarkHeard(from, peer, now);
      const std::size_t target = Find(body->target);
      if (target == kNoPeer) break;
      Peer& t = peers_[target];
      const std::optional<IndirectRound>& round = Cold(t).round;
      if (!round || round->probe_id != body->probe_id) break;  // late or unknown
      if (body->alive) {
        t.silent_since = now;
        t.cold->round.reset();
        ++stats_.indirect_rescues;
      } else {
        ++t.cold->round->nacks;
      }
      break;
    }
    case MsgType::kMembershipGossip: {
      auto body = DecodeGossip(env.payload);
      if (!body.ok()) return reject(body.status());
      MarkHeard(from, peer, now);
      for (const Rumor& r : body->rumors) ApplyRumor(r, now);
      break;
    }
    default:
      // Not ours to interpret, but it proves the sender is alive.
      MarkHeard(from, peer, now);
      break;
  }
  return Status::Ok();
}

void FailureDetector::MarkHeard(const std::string& id, Peer& peer, MonoTime now) {
  if (!peer.last_heard && peer.state != MemberState::kDeclared) --unheard_;
  const bool was_latest = peer.last_heard && *peer.last_heard == last_heard_any_;
  peer.last_heard = now;
  if (now >= last_heard_any_) {
    last_heard_any_ = now;
  } else if (was_latest) {  // time went backwards for the latest one: look again
    last_heard_any_ = MonoTime::min();
    for (const Peer& p : peers_) {
      if (p.last_heard) last_heard_any_ = std::max(last_heard_any_, *p.last_heard);
    }
  }
  peer.silent_since = now;
  peer.probe_deadline.reset();
  ResetRound(peer);  // a direct message ends an indirect round: it succeeded
  // Helpers waiting on this member can answer their requesters now.
  std::erase_if(relays_, [&](const Relay& r) {
    if (r.target != id) return false;
    Send(r.requester, MsgType::kIndirectProbeAck,
         std::move(*EncodeIndirectProbeAck({r.probe_id, r.target, true})));
    return true;
  });
  if (peer.state != MemberState::kAlive) TellAboutItself(id, peer, now);
  if (!formed_) CheckFormed(now);
}

// A suspect or declared member that still talks to us may not know what we
// think of it: send it the rumor so it can refute (this is also how a healed
// partition rejoins). At most once per probe interval per member.
void FailureDetector::TellAboutItself(const std::string& id, Peer& peer, MonoTime now) {
  PeerCold& cold = MutableCold(peer);
  if (cold.told_about_itself && now - *cold.told_about_itself < Nanos(config_.probe_interval)) {
    return;
  }
  cold.told_about_itself = now;
  Rumor r;
  r.kind = peer.state == MemberState::kSuspect ? RumorKind::kSuspect : RumorKind::kConfirm;
  r.member = id;
  r.incarnation = peer.incarnation;
  r.from = cold.rumor_origin.empty() ? self_ : cold.rumor_origin;
  auto body = EncodeGossip(GossipBody{{r}});
  if (body.ok()) Send(id, MsgType::kMembershipGossip, std::move(*body));
}

// Members declared failed do not count: a node that joins a cluster with a
// dead member in its list is formed once it has heard from the living ones.
void FailureDetector::CheckFormed(MonoTime now) {
  // unheard_: the members never heard directly and not declared.
  if (formed_ || unheard_ > 0) return;
  formed_ = true;
  FdEvent e;
  e.kind = FdEventKind::kFormed;
  e.member = self_;
  e.incarnation = incarnation_;
  e.at = now;
  e.source = self_;
  e.since_start = now - start_;
  events_.push_back(std::move(e));
}

// Alive members are probed; so are suspects until our own probe has confirmed
// the suspicion (independent confirmations shorten the Lifeguard timeout; a
// rumor alone must not stop us from checking for ourselves).
bool FailureDetector::StillProbing(const Peer& peer) const {
  switch (peer.state) {
    case MemberState::kAlive:
      return true;
    case MemberState::kSuspect:
      return !Cold(peer).suspicion->HasHeardFrom(self_);
    case MemberState::kDeclared:
      return false;
  }
  return false;
}

void FailureDetector::StartIndirectRound(const std::string& id, Peer& peer, MonoTime now) {
  IndirectRound round;
  round.probe_id = ++probe_seq_;
  round.deadline = now + Scaled(config_.indirect_timeout);
  // Helpers: alive members other than the target, k of them chosen at random
  // by a partial Fisher-Yates shuffle of the candidates in id order. The
  // candidate list is not built: candidate m is the m-th member outside
  // `skip` (the members not alive, and the target); Sample() keeps only the
  // few positions the shuffle touched.
  std::vector<std::uint32_t> skip = not_alive_;
  const auto target = static_cast<std::uint32_t>(&peer - peers_.data());
  if (peer.state == MemberState::kAlive) {
    skip.insert(std::lower_bound(skip.begin(), skip.end(), target), target);
  }
  const std::size_t count = peers_.size() - skip.size();
  const std::size_t k =
      std::min<std::size_t>(count, static_cast<std::size_t>(config_.indirect_probes));
  for (std::size_t candidate : Sample(count, k)) {
    std::size_t helper = candidate;  // the m-th candidate: step over the skipped members
    for (std::uint32_t s : skip) {
      if (s > helper) break;
      ++helper;
    }
    Send(peer_ids_[helper], MsgType::kIndirectProbe,
         std::move(*EncodeIndirectProbe({round.probe_id, id})));
  }
  round.asked = static_cast<int>(k);
  MutableCold(peer).round = round;
  ++stats_.indirect_rounds;
}

void FailureDetector::FailIndirectRound(const std::string& id, Peer& peer, MonoTime now) {
  const IndirectRound round = *peer.cold->round;
  peer.cold->round.reset();
  // Lifeguard: helpers that did not even nack suggest our own links are bad.
  AdjustAwareness(round.asked == 0 ? 1 : round.asked - round.nacks);
  Suspect(id, peer, peer.incarnation, self_, now);
}

void FailureDetector::Suspect(const std::string& id, Peer& peer, std::uint64_t incarnation,
                              const std::string& origin, MonoTime now) {
  const std::size_t n = ClusterSize();
  if (peer.state == MemberState::kSuspect) {
    peer.incarnation = std::max(peer.incarnation, incarnation);
    if (peer.cold->suspicion->Confirm(origin)) {
      QueueRumor(Rumor{RumorKind::kSuspect, id, peer.incarnation, origin}, now);
    }
    return;
  }
  SetState(peer, MemberState::kSuspect);
  peer.incarnation = incarnation;
  PeerCold& cold = MutableCold(peer);
  cold.round.reset();
  cold.suspected_at = now;
  cold.rumor_origin = origin;
  cold.told_about_itself.reset();
  cold.suspicion.emplace(now, origin, config_.SuspicionConfirmationsWanted(n),
                         config_.SuspicionMin(n), config_.SuspicionMax(n));
  if (Swim()) watched_.insert(id);
  FdEvent e;
  e.kind = FdEventKind::kSuspect;
  e.member = id;
  e.incarnation = incarnation;
  e.at = now;
  e.last_heard = peer.last_heard.ToOptional();
  e.suspected_at = now;
  e.source = origin;
  events_.push_back(std::move(e));
  QueueRumor(Rumor{RumorKind::kSuspect, id, incarnation, origin}, now);
}

void FailureDetector::Declare(const std::string& id, Peer& peer, std::uint64_t incarnation,
                              const std::string& origin, MonoTime now) {
  SetState(peer, MemberState::kDeclared);
  peer.incarnation = std::max(peer.incarnation, incarnation);
  PeerCold& cold = MutableCold(peer);
  cold.round.reset();
  cold.suspicion.reset();
  cold.rumor_origin = origin;
  cold.told_about_itself.reset();
  FdEvent e;
  e.kind = FdEventKind::kDeclared;
  e.member = id;
  e.incarnation = peer.incarnation;
  e.at = now;
  e.last_heard = peer.last_heard.ToOptional();
  e.suspected_at = cold.suspected_at;
  e.source = origin;
  events_.push_back(std::move(e));
  QueueRumor(Rumor{RumorKind::kConfirm, id, peer.incarnation, origin}, now);
  if (!formed_) CheckFormed(now);
}

void FailureDetector::Refute(std::uint64_t accused_incarnation, MonoTime now) {
  incarnation_ = std::max(incarnation_, accused_incarnation) + 1;
  AdjustAwareness(1);  // being suspected hints that our own links are slow
  FdEvent e;
  e.kind = FdEventKind::kRefuted;
  e.member = self_;
  e.incarnation = incarnation_;
  e.at = now;
  e.source = self_;
  events_.push_back(std::move(e));
  QueueRumor(Rumor{RumorKind::kAlive, self_, incarnation_, self_}, now);
}

void FailureDetector::ApplyRumor(const Rumor& r, MonoTime now) {
  if (r.member == self_) {
    if (r.kind == RumorKind::kAlive) return;
    if (r.incarnation >= incarnation_) {
      Refute(r.incarnation, now);
    } else {
      // Someone still holds an accusation we refuted already: our refutation
      // did not reach it (it was down, or just started and learnt the old
      // rumor from a third member). Say again that we are alive, or it keeps
      // us declared while it hears us.
      QueueRumor(Rumor{RumorKind::kAlive, self_, incarnation_, self_}, now);
    }
    return;
  }
  const std::size_t index = Find(r.member);
  if (index == kNoPeer) return;
  Peer& peer = peers_[index];
  const bool stale = r.kind == RumorKind::kAlive ? r.incarnation <= peer.incarnation
                                                 : r.incarnation < peer.incarnation;
  if (stale) {
    ++stats_.stale_rumors;
    return;
  }
  switch (r.kind) {
    case RumorKind::kAlive: {
      const MemberState was = peer.state;
      peer.incarnation = r.incarnation;
      QueueRumor(r, now);
      if (was == MemberState::kAlive) return;
      SetState(peer, MemberState::kAlive);
      PeerCold& cold = MutableCold(peer);
      cold.suspicion.reset();
      cold.rumor_origin.clear();
      peer.silent_since = now;  // fresh silence window: it just proved itself
      FdEvent e;
      e.kind = FdEventKind::kAliveAgain;
      e.member = r.member;
      e.incarnation = r.incarnation;
      e.at = now;
      e.last_heard = peer.last_heard.ToOptional();
      e.suspected_at = cold.suspected_at;
      e.source = r.from;
      events_.push_back(std::move(e));
      cold.suspected_at.reset();
      return;
    }
    case RumorKind::kSuspect:
      if (peer.state == MemberState::kDeclared) return;
      Suspect(r.member, peer, r.incarnation, r.from, now);
      return;
    case RumorKind::kConfirm:
      if (peer.state == MemberState::kDeclared) return;
      Declare(r.member, peer, r.incarnation, r.from, now);
      return;
  }
}

void FailureDetector::QueueRumor(Rumor rumor, MonoTime now) {
  // A newer statement about a member replaces older queued ones; suspicions
  // from different origins travel side by side (each is a confirmation).
  std::erase_if(rumors_, [&](const QueuedRumor& q) {
    if (q.rumor.member != rumor.member) return false;
    if (rumor.kind != RumorKind::kSuspect) return true;
    return q.rumor.incarnation < rumor.incarnation ||
           (q.rumor.kind == RumorKind::kSuspect && q.rumor.from == rumor.from);
  });
  rumors_.push_back(QueuedRumor{std::move(rumor), config_.RumorTransmits(ClusterSize())});
  next_gossip_at_ = std::min(next_gossip_at_, now);
}

std::vector<std::size_t> FailureDetector::Sample(std::size_t n, std::size_t k) {
  std::vector<std::pair<std::size_t, std::size_t>> swapped;  // position -> value, where moved
  auto at = [&](std::size_t pos) {
    for (const auto& [p, v] : swapped) {
      if (p == pos) return v;
    }
    return pos;
  };
  auto put = [&](std::size_t pos, std::size_t value) {
    for (auto& [p, v] : swapped) {
      if (p == pos) {
        v = value;
        return;
      }
    }
    swapped.emplace_back(pos, value);
  };
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < k; ++i) {
    const std::size_t j = i + NextRandom() % (n - i);
    const std::size_t vi = at(i);
    const std::size_t vj = at(j);
    put(i, vj);
    put(j, vi);
    out.push_back(vj);
  }
  return out;
}

void FailureDetector::GossipRound(MonoTime now) {
  // Every member, or with a fanout k of them chosen by Sample() from the
  // members in id order. With piggyback_rumors a rumor goes out in one round,
  // its first, and its other transmits ride on probe messages.
  const bool once = config_.piggyback_rumors;
  std::vector<QueuedRumor*> due;
  for (QueuedRumor& q : rumors_) {
    if (!once || !q.gossiped) due.push_back(&q);
  }
  const std::size_t n = peers_.size();
  std::vector<std::size_t> targets;
  if (due.empty()) {
    // nothing new: the queued rumors wait for probes
  } else if (config_.gossip_fanout > 0 && n > static_cast<std::size_t>(config_.gossip_fanout)) {
    targets = Sample(n, static_cast<std::size_t>(config_.gossip_fanout));
  } else {
    for (std::size_t i = 0; i < n; ++i) targets.push_back(i);
  }
  for (std::size_t first = 0; first < due.size(); first += kMaxRumorsPerMessage) {
    GossipBody body;
    const std::size_t last = std::min(due.size(), first + kMaxRumorsPerMessage);
    for (std::size_t i = first; i < last; ++i) body.rumors.push_back(due[i]->rumor);
    auto bytes = EncodeGossip(body);
    if (!bytes.ok()) continue;
    for (std::size_t to : targets) Send(peer_ids_[to], MsgType::kMembershipGossip, *bytes);
  }
  // Every member at once counts as one transmit; with a fanout each message
  // counts (failure_detector_config.h).
  const int spent = config_.gossip_fanout > 0 ? std::max<int>(1, static_cast<int>(targets.size())) : 1;
  for (QueuedRumor* q : due) {
    q->transmits_left -= spent;
    q->gossiped = true;
  }
  std::erase_if(rumors_, [](const QueuedRumor& q) { return q.transmits_left <= 0; });
  next_gossip_at_ = rumors_.empty() || once ? MonoTime::max() : now + Nanos(config_.gossip_interval);
}

void FailureDetector::InsertInProbeOrder(std::uint32_t index) {
  const std::size_t left = probe_order_.size() - std::min(probe_next_, probe_order_.size());
  const std::size_t at = probe_order_.size() - left + NextRandom() % (left + 1);
  probe_order_.insert(probe_order_.begin() + static_cast<std::ptrdiff_t>(at), index);
}

void FailureDetector::ProbeNext(MonoTime now) {
  // At most one pass over the order (plus its reshuffle) per call.
  for (std::size_t tries = 0; tries <= probe_order_.size(); ++tries) {
    if (probe_next_ >= probe_order_.size()) {
      std::erase_if(probe_order_, [&](std::uint32_t entry) {
        return (entry & kDeparted) != 0 || peers_[entry].anchor;
      });
      departed_ids_.clear();
      for (std::size_t i = probe_order_.size(); i > 1; --i) {
        std::swap(probe_order_[i - 1], probe_order_[NextRandom() % i]);
      }
      probe_next_ = 0;
      if (probe_order_.empty()) return;
    }
    const std::uint32_t entry = probe_order_[probe_next_++];
    if ((entry & kDeparted) != 0) continue;  // left the list
    const std::string& id = peer_ids_[entry];
    Peer& peer = peers_[entry];
    if (peer.anchor || !StillProbing(peer) || Cold(peer).round || peer.probe_deadline) continue;
    if (!peer.last_heard && now < peer.silent_since) continue;  // still in its join grace
    SendHeartbeat(id, peer, now);
    peer.probe_deadline = now + Scaled(config_.probe_timeout);
    watched_.insert(id);
    return;
  }
}

Status FailureDetector::ProbeNow(const std::string& id, MonoTime now) {
  const std::size_t index = Find(id);
  if (index == kNoPeer) return Status::NotFound(kOp, "probe " + id + ": not a member");
  Peer& peer = peers_[index];
  SendHeartbeat(id, peer, now);
  if (Swim() && !peer.anchor && StillProbing(peer) && !Cold(peer).round && !peer.probe_deadline) {
    peer.probe_deadline = now + Scaled(config_.probe_timeout);
    watched_.insert(id);
  }
  return Status::Ok();
}

void FailureDetector::TickPeer(const std::string& id, Peer& peer, MonoTime now) {
  if (peer.state == MemberState::kSuspect && now >= peer.cold->suspicion->Deadline()) {
    Declare(id, peer, peer.incarnation, self_, now);
  }
  if (!StillProbing(peer)) {
    peer.probe_deadline.reset();
    return;
  }
  if (const std::optional<IndirectRound>& round = Cold(peer).round) {
    if (now >= round->deadline) FailIndirectRound(id, peer, now);
  } else if (Heartbeated(peer)) {
    if (now - peer.silent_since >= Scaled(config_.probe_timeout)) StartIndirectRound(id, peer, now);
  } else if (peer.probe_deadline && now >= *peer.probe_deadline) {
    peer.probe_deadline.reset();
    StartIndirectRound(id, peer, now);
  }
}

MonoTime FailureDetector::PeerWakeup(const Peer& peer) const {
  MonoTime next = MonoTime::max();
  if (peer.state == MemberState::kSuspect) next = peer.cold->suspicion->Deadline();
  if (!StillProbing(peer)) return next;
  if (const std::optional<IndirectRound>& round = Cold(peer).round) {
    return std::min(next, round->deadline);
  }
  if (Heartbeated(peer)) return std::min(next, peer.silent_since + Scaled(config_.probe_timeout));
  return peer.probe_deadline ? std::min(next, *peer.probe_deadline) : next;
}

// kSwim: nothing heard from any member for probe_timeout plus the time its
// own probes leave between them (a member hears the GPU peer's ping every
// interval, and at least the answer to its own probe every swim period, so
// this is a local problem, not a quiet cluster). Not stretched by awareness:
// a deaf member's awareness climbs at once, and the voters asked about it
// must hear it within probe_timeout of the question. O(1): the latest
// last_heard is kept by MarkHeard() and SetMembers().
bool FailureDetector::Deaf(MonoTime now) const {
  if (peers_.empty()) return false;
  const MonoTime last = std::max(start_, last_heard_any_);
  const Nanos gap = config_.SwimProbePeriod() - Nanos(config_.probe_interval);
  return now - last >= Nanos(config_.probe_timeout) + gap;
}

void FailureDetector::Tick(MonoTime now) {
  if (now >= next_probe_at_) {
    if (acked_since_round_) AdjustAwareness(-1);
    acked_since_round_ = false;
    if (Swim() && Deaf(now)) {
      // We hear no one at all (our inbound traffic is cut, or we were
      // stalled): ping every member, as kAllToAll does, until someone
      // answers. Voters answer first-hand, and a member that can still send
      // must still be heard by all of them (a false accusation must not
      // decide it failed); only this member pays, and only while deaf.
      for (std::size_t i = 0; i < peers_.size(); ++i) SendHeartbeat(peer_ids_[i], peers_[i], now);
    } else if (Swim()) {
      for (const std::string& id : watched_) {
        Peer& peer = peers_[Find(id)];
        // An anchor heard within 1.5 intervals needs no ping once a round
        // trip was measured (the owner waits for one: the swarmlet's join):
        // the GPU peer pings us every interval and our ack tells it we live.
        const bool heard = peer.rtt && peer.last_heard &&
                           now - *peer.last_heard < Nanos(config_.probe_interval) * 3 / 2;
        if (peer.anchor && !heard) SendHeartbeat(id, peer, now);
      }
      if (!formed_ && config_.greet_new_members) {
        // Until every member was heard once, those never heard get a ping
        // each interval (no probe deadline: their join grace still holds).
        // A greeting sent while the connection was still handshaking is
        // lost, and waiting for the round robin made a joiner of a 26-node
        // cluster take 13 s to form; this costs O(N) only until formed.
        for (std::size_t i = 0; i < peers_.size(); ++i) {
          Peer& peer = peers_[i];
          if (!peer.anchor && !peer.last_heard && peer.state != MemberState::kDeclared) {
            SendHeartbeat(peer_ids_[i], peer, now);
          }
        }
      }
      if (now >= next_swim_probe_at_) {
        ProbeNext(now);
        next_swim_probe_at_ += config_.SwimProbePeriod();
        if (next_swim_probe_at_ <= now) next_swim_probe_at_ = now + config_.SwimProbePeriod();
      }
    } else {
      for (std::size_t i = 0; i < peers_.size(); ++i) SendHeartbeat(peer_ids_[i], peers_[i], now);
    }
    next_probe_at_ += Nanos(config_.probe_interval);
    if (next_probe_at_ <= now) next_probe_at_ = now + Nanos(config_.probe_interval);
  }

  std::erase_if(relays_, [&](const Relay& r) {
    if (r.nack_at > now) return false;
    Send(r.requester, MsgType::kIndirectProbeAck,
         std::move(*EncodeIndirectProbeAck({r.probe_id, r.target, false})));
    return true;
  });

  if (Swim()) {
    for (auto it = watched_.begin(); it != watched_.end();) {
      Peer& peer = peers_[Find(*it)];
      TickPeer(*it, peer, now);
      const bool pending = peer.anchor || peer.probe_deadline || Cold(peer).round ||
                           peer.state == MemberState::kSuspect;
      it = pending ? std::next(it) : watched_.erase(it);
    }
  } else {
    for (std::size_t i = 0; i < peers_.size(); ++i) TickPeer(peer_ids_[i], peers_[i], now);
  }

  if (now >= next_gossip_at_) GossipRound(now);
}

MonoTime FailureDetector::NextWakeup() const {
  MonoTime next = std::min(next_probe_at_, next_gossip_at_);
  for (const Relay& r : relays_) next = std::min(next, r.nack_at);
  if (Swim()) {
    for (const std::string& id : watched_) next = std::min(next, PeerWakeup(peers_[Find(id)]));
  } else {
    for (const Peer& peer : peers_) next = std::min(next, PeerWakeup(peer));
  }
  return next;
}

std::vector<OutgoingEnvelope> FailureDetector::TakeOutgoing() {
  return std::exchange(outgoing_, {});
}

std::vector<FdEvent> FailureDetector::TakeEvents() { return std::exchange(events_, {}); }

std::optional<MemberView> FailureDetector::Member(const std::string& id) const {
  const std::size_t index = Find(id);
  if (index == kNoPeer) return std::nullopt;
  const Peer& peer = peers_[index];
  return MemberView{peer_ids_[index], peer.state, peer.incarnation, peer.last_heard.ToOptional(),
                    peer.rtt.ToOptional()};
}

std::vector<MemberView> FailureDetector::Members() const {
  std::vector<MemberView> out;
  out.reserve(peers_.size());
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    const Peer& peer = peers_[i];
    out.push_back(MemberView{peer_ids_[i], peer.state, peer.incarnation,
                             peer.last_heard.ToOptional(), peer.rtt.ToOptional()});
  }
  return out;
}

}  // namespace mesh
